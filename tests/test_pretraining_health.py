"""Pre-training health checks, the downstream probe and the quieter output (#27): each warning fires
on a run built to trigger it and stays quiet otherwise; the thresholds on metric histories; the
checks change no weight; the config goes to a file, not the screen; one log line per 100 steps."""

import json
import os

import numpy as np
import pytest

from tests.test_pretraining import E2E, _tf1_arrays, data_dir  # noqa: F401

from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.health import CHANCE_FACTOR, HEALTH_FILE, assess, start_warnings

BASE = {k: v for k, v in E2E.items() if k != "log_every_steps"}  # the default log interval


def _pretrain(data_dir, name, capsys, **hparams):  # noqa: F811
    import run_pretraining

    capsys.readouterr()
    code = run_pretraining.main(["--data-dir", str(data_dir), "--model-name", name, "--hparams",
                                 json.dumps(dict(BASE, **hparams))])
    out, err = capsys.readouterr()
    assert code == 0, err
    model_dir = data_dir / "models" / name
    if not (model_dir / HEALTH_FILE).exists():
        return None, err, model_dir
    with open(model_dir / HEALTH_FILE, encoding="utf-8") as f:
        return json.load(f), err, model_dir


# ---------------------------------------------------------------------------- thresholds
def test_thresholds_on_metric_histories(tmp_path):
    config = PretrainingConfig("m", str(tmp_path), num_warmup_steps=100, vocab_size=21128)
    healthy = {"masked_lm_accuracy": 0.18, "disc_recall": 0.30}
    assert assess(config, 21128, 500, healthy) == {}
    # the run that did not transfer: masked_lm_accuracy 0.18, disc_recall 0.004
    assert set(assess(config, 21128, 2000, {"masked_lm_accuracy": 0.18, "disc_recall": 0.004})) == {
        "discriminator_predicts_nothing"}
    chance = {"masked_lm_accuracy": 1.0 / 21128, "disc_recall": 0.2}
    assert set(assess(config, 21128, 500, chance)) == {"generator_near_chance"}
    assert assess(config, 21128, 500, dict(chance, masked_lm_accuracy=1.01 * CHANCE_FACTOR / 21128)) == {}
    assert assess(config, 21128, 99, {"masked_lm_accuracy": 0.0, "disc_recall": 0.0}) == {}  # still warming up
    # before the first step: the original recipe is quiet, a short run with its warm-up and a small batch are not
    assert start_warnings(PretrainingConfig("m", str(tmp_path))) == {}
    assert set(start_warnings(PretrainingConfig("m", str(tmp_path), num_train_steps=5000, train_batch_size=32))) == {
        "warmup_longer_than_training", "batch_too_small"}
    assert set(start_warnings(PretrainingConfig("m", str(tmp_path), model_size="base"))) == {"batch_too_small"}


# ---------------------------------------------------------------------------- real runs
@pytest.fixture(scope="module")
def collapsed(data_dir):  # noqa: F811
    """A tiny run whose discriminator stops predicting 'replaced' (recall 0 by step 40, the issue's
    symptom), with the probe at the last check; and the same run without any health check."""
    import shutil

    import tensorflow as tf

    probe = data_dir / "probe"
    probe.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    for split, n in (("train", 64), ("dev", 32)):
        rows = []
        for i in range(n):
            label = "a" if i % 2 else "b"
            rows.append(" ".join(rng.choice(words[:25] if label == "a" else words[25:], 6)) + f"\t{label}")
        (probe / f"{split}.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return {"probe": {"steps": 4, "every_steps": 40, "max_seq_length": 16, "batch_size": 16}, "tf": tf,
            "shutil": shutil}


def test_small_batch_and_collapsed_discriminator_fire_and_change_no_weight(data_dir, collapsed, capsys):  # noqa: F811
    health, err, model_dir = _pretrain(data_dir, "collapsed", capsys, num_train_steps=40, health_check_steps=20,
                                       probe_task=collapsed["probe"])
    warnings = health["warnings"]
    assert set(warnings) == {"batch_too_small", "discriminator_predicts_nothing"}, warnings
    assert warnings["discriminator_predicts_nothing"]["last_step"] == 40
    assert [c["step"] for c in health["checks"]] == [20, 40]
    assert health["checks"][-1]["disc_recall"] < 0.01 and health["checks"][-1]["masked_lm_accuracy"] > 0.0025
    probe = health["checks"][-1]["probe"]
    assert set(probe) == {"accuracy", "random_init_accuracy"} and 0 <= probe["accuracy"] <= 100
    assert "probe" not in health["checks"][0]
    # reported in the log (stderr and the log file) and in TensorBoard
    assert "Pre-training health: after warm-up the discriminator predicts almost no token" in err
    log = (model_dir / "pretraining.log").read_text(encoding="utf-8")
    assert "Pre-training probe at step 40" in log and "2 warning(s)" in log
    tf = collapsed["tf"]
    tags = set()
    for name in os.listdir(model_dir / "training_checkpoints" / "tensorboard" / "health"):
        for event in tf.compat.v1.train.summary_iterator(str(model_dir / "training_checkpoints" / "tensorboard" / "health" / name)):
            tags.update(v.tag for v in event.summary.value)
    assert {"health/disc_recall", "health/masked_lm_accuracy", "health/probe/accuracy",
            "health/warning/discriminator_predicts_nothing"} <= tags, tags
    # quieter output: one training log line (the last step of 40, the default interval being 100), the
    # config in a file rather than on the screen
    assert sum(" step " in f" {line}" and "/40 = " in line for line in err.splitlines()) == 1, err
    assert "learning_rate: " not in err and f"Config: {model_dir / 'pretraining_config.txt'}" in err
    assert "learning_rate: 0.001\n" in (model_dir / "pretraining_config.txt").read_text(encoding="utf-8")

    # the same run without health checks or probe trains the same weights
    unchecked, _, plain_dir = _pretrain(data_dir, "collapsed_plain", capsys, num_train_steps=40, health_check_steps=0)
    assert unchecked is None
    checked, plain = _tf1_arrays(model_dir), _tf1_arrays(plain_dir)
    assert set(checked) == set(plain)
    for name, value in plain.items():
        np.testing.assert_array_equal(checked[name], value, err_msg=name)


def test_generator_at_chance_fires_and_the_recipe_batch_is_quiet(data_dir, capsys):  # noqa: F811
    """A learning rate too small to move anything: the generator stays at chance after warm-up."""
    health, _, _ = _pretrain(data_dir, "frozen", capsys, num_train_steps=2, num_warmup_steps=0, learning_rate=1e-9,
                             train_batch_size=128, health_check_steps=1)
    assert "generator_near_chance" in health["warnings"], health
    assert health["warnings"]["generator_near_chance"]["times"] == 2
    assert "batch_too_small" not in health["warnings"] and "warmup_longer_than_training" not in health["warnings"]


def test_warmup_longer_than_training_fires_at_the_start_and_per_step_log_is_an_explicit_option(data_dir, capsys):  # noqa: F811
    """One short run checks both: the warm-up warning at step 0, and the explicit options
    log_every_steps 1 (a line per step) and print_config true (the config on the screen, as the
    original). (No health file without checks is asserted on the collapsed run's plain twin.)"""
    health, err, _ = _pretrain(data_dir, "long_warmup", capsys, num_train_steps=2, num_warmup_steps=5,
                               train_batch_size=128, log_every_steps=1, print_config=True)
    assert set(health["warnings"]) == {"warmup_longer_than_training"}, health  # metric checks wait for warm-up
    assert health["warnings"]["warmup_longer_than_training"]["first_step"] == 0
    assert "num_warmup_steps (5) exceeds num_train_steps (2)" in err
    assert [line.split(" = ")[0].split()[-1] for line in err.splitlines() if "/2 = " in line] == ["1/2", "2/2"]
    assert "learning_rate: 0.001" in err  # print_config true: printed as the original
