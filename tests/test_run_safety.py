"""Runs that never lose work and never mislabel it, tried as a user would: real processes, real
signals, real files (reruns with changed settings, interrupts, two processes, broken inputs)."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from electra_tf.training.engine import FINISHED_FILE
from tests.conftest import ROOT, copy_tiny_model

MODEL = "electra-tiny"
BASE = {"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 16, "eval_batch_size": 32,
        "max_seq_length": 24, "num_train_epochs": 1, "progress": False, "log_every_steps": 1}


def workspace(path, n_train=160, n_dev=48):
    """The tiny checkpoint and a cut of the embedded SST set (train: 10 steps of 16)."""
    copy_tiny_model(path)
    source = os.path.join(ROOT, "examples", "data", "finetuning_data", "sst")
    target = path / "finetuning_data" / "sst"
    target.mkdir(parents=True)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
        with open(os.path.join(source, name), encoding="utf-8") as f:
            lines = f.readlines()[: n + 1]
        (target / name).write_text("".join(lines), encoding="utf-8")
    return path


def trial_dir(data_dir, tasks="sst", trial=1):
    return data_dir / "models" / MODEL / "finetuning_models" / f"{tasks}_model_{trial}"


def results_dir(data_dir):
    return data_dir / "models" / MODEL / "results"


def command(data_dir, **hparams):
    return [sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--data-dir", str(data_dir), "--model-name", MODEL,
            "--hparams", json.dumps({**BASE, **hparams})]


def run(data_dir, timeout=600, **hparams):
    return subprocess.run(command(data_dir, **hparams), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def final_weights(data_dir):
    """Every value of the run's final training checkpoint (weights, optimizer slots, step, RNG
    states), by key; only the count of saves differs between an interrupted run and another."""
    import tensorflow as tf

    from electra_tf.training.checkpointing import latest_checkpoint

    reader = tf.train.load_checkpoint(latest_checkpoint(str(trial_dir(data_dir))))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if not k.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def start_until(data_dir, marker, **hparams):
    """Start a run in the background and return once its log shows ``marker``."""
    proc = subprocess.Popen(command(data_dir, **hparams), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    for line in proc.stderr:
        if marker in line:
            return proc
    raise AssertionError(f"the run ended before logging {marker!r} (exit {proc.wait()})")


# ------------------------------------------------------------------------------------ reruns
def test_rerun_matrix_refuses_training_changes_and_reuses_for_evaluation_changes(tmp_path):
    from electra_tf.errors import ElectraError
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    data = workspace(tmp_path)
    trained = {**BASE, "seed": 3}
    FinetuningRunner(FinetuningConfig(MODEL, str(data), **trained)).run()
    before = {p: p.read_bytes() for p in sorted(trial_dir(data).iterdir()) if p.is_file()}
    changes = {"learning_rate": 0.1, "num_train_epochs": 2, "max_seq_length": 32, "seed": 4, "train_batch_size": 32,
               "layerwise_lr_decay": 0.9, "warmup_proportion": 0.2, "weight_decay_rate": 0.0, "head": "hf",
               "mixed_precision": "mixed_bfloat16", "gradient_accumulation_steps": 2,
               "model_hparam_overrides": {"hidden_dropout_prob": 0.0}, "do_lower_case": False}
    for name, value in changes.items():
        with pytest.raises(ElectraError) as info:
            FinetuningRunner(FinetuningConfig(MODEL, str(data), **{**trained, name: value})).run()
        assert f"{name} " in str(info.value) and "Nothing was changed" in str(info.value), (name, str(info.value))
    # a changed training file is a different run too
    train = data / "finetuning_data" / "sst" / "train.tsv"
    original = train.read_bytes()
    train.write_bytes(original.replace(b"\t1\n", b"\t0\n", 1))
    with pytest.raises(ElectraError, match="train_data_and_vocabulary"):
        FinetuningRunner(FinetuningConfig(MODEL, str(data), **trained)).run()
    train.write_bytes(original)
    assert {p: p.read_bytes() for p in sorted(trial_dir(data).iterdir()) if p.is_file()} == before
    # evaluation-only changes reuse the trained model, and the files say what was trained
    for name, value in {"eval_batch_size": 16, "write_test_outputs": True, "save_checkpoints_steps": 3,
                        "log_every_steps": 5, "keep_checkpoint_max": 2}.items():
        trials = FinetuningRunner(FinetuningConfig(MODEL, str(data), **{**trained, name: value})).run()
        assert trials[0]["seed"] == 3 and trials[0]["global_step"] == 10
    assert {p: p.read_bytes() for p in sorted(trial_dir(data).iterdir()) if p.is_file() and p.name != "checkpoint"
            } == {p: b for p, b in before.items() if p.name != "checkpoint"}
    config = json.loads((results_dir(data) / "sst_config.json").read_text())
    assert config["learning_rate"] == 3e-3 and config["trials"] == [{"trial": 1, "seed": 3, "global_step": 10}]
    results = json.loads((results_dir(data) / "sst_results.json").read_text())
    assert results["trials"][0]["seed"] == 3


# ------------------------------------------------------------------------------------ interrupts
def _interrupt_at_random_step(data_dir, sig, **hparams):
    """Start a run, send ``sig`` once a random step between 2 and 8 is logged; return the process."""
    step = random.Random(sig).randint(2, 8)
    proc = subprocess.Popen(command(data_dir, **hparams), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if f"step {step}/10 " in line:
            # Hold the run where it is (it may be saving step `step`): on a fast machine the few
            # remaining steps of this tiny run take less time than a signal takes to arrive, and a
            # finished run has nothing to resume. The previous step's checkpoint is on disk: saves are
            # synchronous and come before the next step.
            proc.send_signal(signal.SIGSTOP)
            assert os.path.exists(trial_dir(data_dir) / "checkpoint") or sig != signal.SIGKILL
            assert not os.path.exists(trial_dir(data_dir) / FINISHED_FILE)
            proc.send_signal(sig)
            proc.send_signal(signal.SIGCONT)
            break
    out, err = proc.communicate(timeout=300)
    return proc.returncode, "".join(lines) + err, step


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One uninterrupted run (seed 11) that the interrupted ones are compared with."""
    reference = workspace(tmp_path_factory.mktemp("uninterrupted"))
    done = run(reference, seed=11)
    assert done.returncode == 0, done.stderr[-3000:]
    return reference


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)])
def test_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, uninterrupted, sig, code):
    hparams = {"seed": 11}
    if sig == signal.SIGKILL:
        # SIGKILL cannot be handled: only saved work survives (the time-based checkpoints; a
        # setting that does not change training, so the uninterrupted run is the same run)
        hparams["save_checkpoints_secs"] = 0.001
    reference = uninterrupted
    data = workspace(tmp_path / "interrupted")
    returncode, stderr, step = _interrupt_at_random_step(data, sig, **hparams)
    assert returncode == code, stderr[-3000:]
    if sig != signal.SIGKILL:
        # the signal arrives during step `step` or a later one: training stops after finishing it
        import re

        stopped = re.search(rf"Stopped by {sig.name} at step (\d+) of 10", stderr)
        assert stopped and step <= int(stopped.group(1)) < 10 and "Run the same command again" in stderr, stderr[-2000:]
        assert "Traceback" not in stderr
    resumed = run(data, **hparams)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stderr
    assert_same_weights(final_weights(data), final_weights(reference))
    assert (results_dir(data) / "sst_results.txt").read_text() == (results_dir(reference) / "sst_results.txt").read_text()


def test_without_seed_the_drawn_seed_is_kept_across_an_interrupt(tmp_path):
    data = workspace(tmp_path / "run")
    returncode, stderr, _ = _interrupt_at_random_step(data, signal.SIGTERM)
    assert returncode == 143, stderr[-3000:]
    # a copy of the folder without its checkpoints: the same run trained from scratch in one go
    fresh = workspace(tmp_path / "fresh")
    (trial_dir(fresh)).mkdir(parents=True)
    shutil.copy(trial_dir(data) / "run_identity.json", trial_dir(fresh) / "run_identity.json")
    assert run(data).returncode == 0
    assert run(fresh).returncode == 0
    assert_same_weights(final_weights(data), final_weights(fresh))
    seed = json.loads((trial_dir(data) / "run_identity.json").read_text())["seed"]
    assert json.loads((results_dir(data) / "sst_results.json").read_text())["trials"][0]["seed"] == seed


def test_interrupt_before_any_checkpoint_says_there_is_nothing_to_resume(tmp_path):
    data = workspace(tmp_path)
    proc = start_until(data, "Trial 1", seed=1)  # the trial starts; no step is done yet
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143
    assert "Traceback" not in err
    assert "Interrupted (SIGTERM). Nothing to resume" in err


# ------------------------------------------------------------------------------------ two processes
def test_second_process_on_the_same_folder_is_refused(tmp_path):
    data = workspace(tmp_path)
    first = start_until(data, "Training for", seed=2)
    # hold the first run still (lock taken, training not finished) while the second one starts: a
    # tiny run can otherwise finish before the second process is up, and the second then (rightly)
    # reuses the finished run instead of being refused
    first.send_signal(signal.SIGSTOP)
    try:
        second = run(data, seed=2)
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert second.returncode == 2, second.stderr[-2000:]
    assert f"in use by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, err[-2000:]
    # the results and the kept checkpoint belong to the first run
    assert json.loads((trial_dir(data) / "run_identity.json").read_text())["seed"] == 2
    assert "sst: accuracy" in (results_dir(data) / "sst_results.txt").read_text()


def test_a_killed_holder_does_not_block_the_next_run(tmp_path):
    data = workspace(tmp_path)
    first = start_until(data, "Training for", seed=2)
    first.kill()
    first.wait()
    again = run(data, seed=2)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"left by process {first.pid}" in again.stderr


# ------------------------------------------------------------------------------------ inputs
def test_broken_dev_split_is_reported_before_training(tmp_path):
    data = workspace(tmp_path)
    dev = data / "finetuning_data" / "sst" / "dev.tsv"
    dev.write_text(dev.read_text(encoding="utf-8") + "a sentence\tpositive\n", encoding="utf-8")
    done = run(data, seed=1)
    assert done.returncode == 2
    assert "dev.tsv" in done.stderr and "Traceback" not in done.stderr
    assert "Training for" not in done.stderr
    assert not (trial_dir(data) / "checkpoint").exists()


def test_truncated_feature_cache_is_rebuilt(tmp_path):
    data = workspace(tmp_path)
    assert run(data, seed=1).returncode == 0
    cache = data / "models" / MODEL / "finetuning_tfrecords" / "sst_tfrecords" / "sst_train.tfrecord"
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    done = run(data, seed=1, overwrite_model_dir=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "truncated or changed" in done.stderr and "rebuilding" in done.stderr


def test_corrupt_training_checkpoint_is_one_clear_error(tmp_path):
    data = workspace(tmp_path)
    returncode, stderr, _ = _interrupt_at_random_step(data, signal.SIGINT, seed=1)
    assert returncode == 130, stderr[-2000:]
    (data_file,) = [p for p in trial_dir(data).iterdir() if ".data-" in p.name]
    data_file.write_bytes(data_file.read_bytes()[:100])
    done = run(data, seed=1)
    assert done.returncode == 2
    assert "cannot be restored" in done.stderr and data_file.name.split(".data-")[0] in done.stderr
    assert "Traceback" not in done.stderr


def test_batch_larger_than_the_data_is_refused_before_allocating(tmp_path):
    data = workspace(tmp_path)
    done = run(data, seed=1, train_batch_size=100000)
    assert done.returncode == 2
    assert "train_batch_size=100000 is more than twice the 160 training features" in done.stderr


def test_diverging_loss_stops_with_the_step(tmp_path):
    data = workspace(tmp_path)
    done = run(data, seed=1, learning_rate=1e30)
    assert done.returncode == 2
    assert "The training loss became" in done.stderr and "at step" in done.stderr
    assert not (results_dir(data) / "sst_results.txt").exists()
