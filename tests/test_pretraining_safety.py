"""Pre-training runs and data that never lose work and never mislabel it (#24 items 3, 6, 7, 8),
tried as a user would: real commands, real files, real signals, a file-size limit in the child.

* item 3: a failed, interrupted or killed rebuild of the records leaves the earlier records
  byte-identical and no temporary files; the message names the output folder;
* item 6: a second run_pretraining.py on the same model is refused with one line;
* item 7: a finished run stays finished; a changed training setting is refused, naming it; an
  interrupted run resumes to the uninterrupted run's weights;
* item 8: damaged record files are named before the first step (manifest or not), and damage
  found while training is one error line.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.test_write_failures import temporary_files, tree

CORPUS = os.path.join(ROOT, "examples", "pretraining_corpus")
VOCAB = os.path.join(ROOT, "examples", "data", "vocab.txt")
RECORDS = "pretrain_tfrecords"
TINY = {"model_size": "small", "model_hparam_overrides": {"hidden_size": 32, "num_hidden_layers": 1},
        "embedding_size": 16, "vocab_size": 2000, "max_seq_length": 32, "train_batch_size": 8, "eval_batch_size": 8,
        "learning_rate": 1e-3, "num_warmup_steps": 2, "num_train_steps": 12, "save_checkpoints_steps": 4, "seed": 5,
        "progress": False, "log_every_steps": 50}


def build_args(output_dir, corpus=CORPUS, *extra):
    return [os.path.join(ROOT, "build_pretraining_dataset.py"), "--corpus-dir", str(corpus), "--vocab-file", VOCAB,
            "--output-dir", str(output_dir), "--max-seq-length", "32", "--num-out-files", "3",
            "--no-blanks-separate-docs", *extra]


def command(args, limit=None, **popen):
    """Run a command as a user does; ``limit``: a file-size limit (RLIMIT_FSIZE) in the child only."""
    def limit_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          preexec_fn=limit_size if limit else None, **popen)


def pretrain_args(data_dir, name, **changes):
    return [os.path.join(ROOT, "run_pretraining.py"), "--data-dir", str(data_dir), "--model-name", name,
            "--hparams", json.dumps({**TINY, **changes})]


def pretrain(capsys, data_dir, name, **changes):
    """run_pretraining.py in this process (a rerun that is refused or finds nothing to do builds
    no model): (exit code, stdout, stderr)."""
    import logging

    import run_pretraining

    console = logging.getLogger("electra_tf")
    for handler in [h for h in console.handlers if not isinstance(h, logging.FileHandler)]:
        console.removeHandler(handler)  # bound to an earlier test's captured stderr: the run makes a new one
    code = run_pretraining.main(pretrain_args(data_dir, name, **changes)[1:])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(stderr):
    """The one ``error:`` line of a refused command (and no traceback)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """<data-dir> with the quick-start vocabulary and 32-token records built by the command."""
    root = tmp_path_factory.mktemp("pretraining_safety")
    shutil.copyfile(VOCAB, root / "vocab.txt")
    done = command(build_args(root / RECORDS))
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def copy_data(data_dir, target):
    """A private copy of the data folder (vocabulary and records, no models)."""
    target.mkdir()
    shutil.copyfile(data_dir / "vocab.txt", target / "vocab.txt")
    shutil.copytree(data_dir / RECORDS, target / RECORDS)
    return target


def tf1_arrays(model_dir):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


# ------------------------------------------------------------------ item 3: the dataset builder
@pytest.mark.parametrize("processes", ["1", "2"])
def test_rebuild_over_the_size_limit_keeps_the_earlier_records(data_dir, tmp_path, processes):
    out = tmp_path / "records"
    shutil.copytree(data_dir / RECORDS, out)
    before = tree(out)
    assert "pretrain_data.manifest.json" in before and len(before) >= 4
    done = command(build_args(out, CORPUS, "--seed", "3", "--num-processes", processes), limit=20_000)
    assert done.returncode == 1, done.stderr[-3000:]
    line = error_line(done.stderr)
    # the output folder, not a staged file or TensorFlow's "<file>;" (the stray ';' of #24)
    assert line.startswith(f"error: could not write {out}: the file is larger than allowed (file-size limit). "
                           f"Files written before are unchanged"), line
    assert temporary_files(out) == []
    assert tree(out) == before


def _children(pid):
    """Process ids whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.isdigit() and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _alive(pid):
    """Whether process ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_build_until_staged(out, corpus, *extra):
    """A build in the background, returned once its staging folder holds a record file."""
    proc = subprocess.Popen([sys.executable, *build_args(out, corpus, *extra)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    staging = out / f".tmp-{proc.pid}-pretrain_data"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if staging.is_dir() and any(p.stat().st_size for p in staging.iterdir()):
            return proc, staging
        time.sleep(0.01)
    raise AssertionError(f"the build ended before staging anything: {proc.communicate()[1][-2000:]}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_interrupted_or_killed_build_keeps_the_earlier_records(data_dir, tmp_path):
    corpus = tmp_path / "corpus"  # large enough to be stopped mid-way (about 4 s of building)
    corpus.mkdir()
    with open(os.path.join(CORPUS, "shakespeare.txt"), encoding="utf-8") as f:
        text = f.read()
    for i in range(4):
        (corpus / f"part{i}.txt").write_text(text * 4, encoding="utf-8")
    out = tmp_path / "records"
    shutil.copytree(data_dir / RECORDS, out)
    before = tree(out)

    proc, staging = _start_build_until_staged(out, corpus, "--seed", "3")
    proc.send_signal(signal.SIGSTOP)  # held mid-build: a second build of the folder is refused
    try:
        second = command(build_args(out, CORPUS, "--seed", "4"))
    finally:
        proc.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    assert f"The dataset build in {out} is in use by process {proc.pid}" in error_line(second.stderr)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-3000:]
    assert temporary_files(out) == [] and tree(out) == before

    proc, staging = _start_build_until_staged(out, corpus, "--seed", "3", "--num-processes", "2")
    jobs = _children(proc.pid)
    assert len(jobs) == 2
    proc.kill()
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(map(_alive, jobs)):
        time.sleep(0.1)
    assert not any(map(_alive, jobs))  # the jobs died with the build (they would keep writing otherwise)
    # the earlier records are intact; only the killed build's staging folder (and its name in
    # the lock file, which a killed process cannot empty) is left ...
    left = {k: v for k, v in tree(out).items() if not k.startswith(staging.name)}
    assert json.loads(left.pop(".pretrain_data.lock"))["pid"] == proc.pid
    assert left == {k: v for k, v in before.items() if k != ".pretrain_data.lock"}
    # ... and the next build of the folder removes it
    done = command(build_args(out, CORPUS, "--seed", "3"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert temporary_files(out) == [] and not staging.exists()
    after = tree(out)
    assert set(after) == set(before) and after != before  # the new records (another seed)
    manifest = json.loads(after["pretrain_data.manifest.json"])
    assert manifest["settings"]["seed"] == 3
    assert {name: len(after[name]) for name in manifest["files"]} == {
        name: entry["bytes"] for name, entry in manifest["files"].items()}


def test_outputs_that_would_replace_inputs_are_refused(data_dir, tmp_path, capsys):
    import build_pretraining_dataset

    out = tmp_path / "records"
    shutil.copytree(data_dir / RECORDS, out)
    before = tree(out)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").symlink_to(out / "pretrain_data.tfrecord-1-of-3")  # a corpus file that is an output
    link = tmp_path / "corpus_link"
    link.symlink_to(CORPUS, target_is_directory=True)  # the corpus folder under another name
    for corpus_dir, output_dir, expected in [
            (corpus, out, f"{corpus / 'a.txt'} is an input of this build and would be replaced or deleted"),
            (CORPUS, link, "--output-dir must not be the corpus folder")]:
        code = build_pretraining_dataset.main(build_args(output_dir, corpus_dir)[1:])
        line = error_line(capsys.readouterr().err)
        assert code == 2 and expected in line, line
    assert tree(out) == before
    assert sorted(os.listdir(CORPUS)) == ["shakespeare.txt"]


# ------------------------------------------------------------------ item 6: two processes on one model
@pytest.fixture(scope="module")
def contested(data_dir):
    """A run (learning rate 1e-3) held still after it started training while a second one on the
    same model (learning rate 5e-2) starts; then the first finishes."""
    first = subprocess.Popen([sys.executable, *pretrain_args(data_dir, "one_model")], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    for line in first.stderr:
        if "Training for" in line:
            break
    else:
        raise AssertionError(f"the first run ended before training (exit {first.wait()})")
    first.send_signal(signal.SIGSTOP)  # lock held, training not finished
    try:
        second = command(pretrain_args(data_dir, "one_model", learning_rate=5e-2))
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=600)
    return {"first": first, "first_out": out, "first_err": err, "second": second,
            "model_dir": data_dir / "models" / "one_model"}


def test_second_run_on_the_same_model_is_refused(contested):
    first, second = contested["first"], contested["second"]
    assert second.returncode == 2, second.stderr[-3000:]
    line = error_line(second.stderr)
    assert f"The pre-training run in {contested['model_dir']} is in use by process {first.pid}" in line, line
    assert "Training for" not in second.stderr
    assert first.returncode == 0, contested["first_err"][-3000:]
    assert "Pre-trained to step 12" in contested["first_out"]
    identity = json.loads((contested["model_dir"] / "training_checkpoints" / "run_identity.json").read_text())
    assert identity["settings"]["learning_rate"] == 1e-3 and identity["seed"] == 5  # the first run's model


# ------------------------------------------------------------------ item 7: run identity
def _outputs(model_dir):
    """Every file of a model folder except the appended log."""
    return {k: v for k, v in tree(model_dir).items() if not k.endswith(".log")}


def test_finished_run_stays_finished_and_changed_settings_are_refused(data_dir, contested, capsys):
    model_dir = contested["model_dir"]
    before = _outputs(model_dir)
    code, out, err = pretrain(capsys, data_dir, "one_model")
    assert code == 0 and "Already pre-trained to step 12 (nothing to do)" in out, err[-3000:]
    assert "Training for" not in err
    # settings that do not change training reuse the finished run
    code, out, err = pretrain(capsys, data_dir, "one_model", log_every_steps=1, keep_checkpoint_max=2, eval_batch_size=4)
    assert code == 0 and "Already pre-trained to step 12" in out, err[-3000:]
    for changes, named in [({"learning_rate": 5e-2}, "learning_rate 0.001 -> 0.05"),
                           ({"num_train_steps": 16}, "num_train_steps 12 -> 16"),
                           ({"train_batch_size": 16}, "train_batch_size 8 -> 16"),
                           ({"mask_prob": 0.25}, "mask_prob 0.15 -> 0.25"),
                           ({"model_hparam_overrides": {"hidden_size": 32, "num_hidden_layers": 2}},
                            "discriminator_config")]:
        code, out, err = pretrain(capsys, data_dir, "one_model", **changes)
        line = error_line(err)
        assert code == 2 and named in line and "holds a run trained with other settings" in line, (changes, line)
        assert "another --model-name" in line and "Training for" not in err
    assert _outputs(model_dir) == before


def test_interrupted_run_resumes_to_the_uninterrupted_weights(data_dir, contested, capsys):
    """SIGTERM after the first checkpoint (the run saves and exits 143), then the same command:
    it resumes and ends with the weights of the uninterrupted run ("one_model", same settings)."""
    proc = subprocess.Popen([sys.executable, *pretrain_args(data_dir, "resumed")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoints = data_dir / "models" / "resumed" / "training_checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (checkpoints / "ckpt-4.index").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)  # a fast machine cannot finish before the signal arrives
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143 and "Run the same command again" in err, err[-3000:]
    assert not (data_dir / "models" / "resumed" / "model.ckpt-12.index").exists()
    code, out, err = pretrain(capsys, data_dir, "resumed")
    assert code == 0 and "Pre-trained to step 12" in out and "Resuming from" in err, err[-3000:]
    resumed, straight = tf1_arrays(data_dir / "models" / "resumed"), tf1_arrays(contested["model_dir"])
    assert set(resumed) == set(straight)
    for name, value in straight.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


# ------------------------------------------------------------------ item 8: damaged records
def _flip_byte(path, offset, keep_mtime=False):
    stat = os.stat(path)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_damaged_records_are_named_before_the_first_step(data_dir, tmp_path, capsys):
    data = copy_data(data_dir, tmp_path / "data")
    records = data / RECORDS
    shard = records / "pretrain_data.tfrecord-1-of-3"
    good = shard.read_bytes()

    _flip_byte(shard, len(good) // 2)  # damaged at its recorded size
    code, _, err = pretrain(capsys, data, "m")
    line = error_line(err)
    assert code == 2 and f"{shard} is corrupted: its contents differ from the checksum in" in line, line
    assert "Training for" not in err

    shard.write_bytes(good[:len(good) // 2])
    code, _, err = pretrain(capsys, data, "m")
    line = error_line(err)
    assert code == 2 and f"{shard} has {len(good) // 2} bytes but" in line and f"records {len(good)}" in line, line

    shard.unlink()
    code, _, err = pretrain(capsys, data, "m")
    assert code == 2 and f"{shard} is missing (1 of the 3 files listed in" in error_line(err)

    # records of an older build or the original's builder (no manifest): every record is read once
    (records / "pretrain_data.manifest.json").unlink()
    shard.write_bytes(good[:len(good) // 2])
    code, _, err = pretrain(capsys, data, "m")
    line = error_line(err)
    assert code == 2 and f"{shard} is truncated or corrupted (truncated record at byte" in line, line
    shard.write_bytes(good)
    _flip_byte(shard, 5000)
    code, _, err = pretrain(capsys, data, "m")
    line = error_line(err)
    assert code == 2 and f"{shard} is truncated or corrupted (corrupted record at byte" in line, line
    assert "Training for" not in err and not (data / "models" / "m" / "training_checkpoints" / "ckpt-4.index").exists()


def test_records_damaged_after_the_check_are_one_error_while_training(data_dir, tmp_path, capsys):
    """Damage that keeps the file's modification time is not checked again on resume (the check
    is remembered); TensorFlow's record CRC finds it and the run stops with one line, and the next
    start checks every file again and names the damaged one."""
    from electra_tf.pretraining.manifest import STAMP_FILE

    data = copy_data(data_dir, tmp_path / "data")
    training_dir = data / "models" / "m" / "training_checkpoints"
    proc = subprocess.Popen([sys.executable, *pretrain_args(data, "m")], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (training_dir / "ckpt-4.index").exists():
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert (training_dir / STAMP_FILE).exists() and not (data / "models" / "m" / "model.ckpt-12.index").exists()
    for shard in sorted((data / RECORDS).glob("pretrain_data.tfrecord-*")):
        for offset in range(1000, shard.stat().st_size, 2000):
            _flip_byte(shard, offset, keep_mtime=True)
    code, _, err = pretrain(capsys, data, "m")
    line = error_line(err)
    assert code == 2 and "are damaged: corrupted record at byte" in line and "checkpoints written so far are kept" in line
    assert (training_dir / "ckpt-4.index").exists() and not (training_dir / STAMP_FILE).exists()
    code, _, err = pretrain(capsys, data, "m")
    assert code == 2 and "is corrupted: its contents differ from the checksum" in error_line(err)
