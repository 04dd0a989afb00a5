"""Gradient accumulation, mixed-precision training, kill-and-resume, TPU configuration."""

import json
import os
import shutil

import numpy as np
import pytest

from electra_tf.training.settings import DistributionSettings

from tests.conftest import ROOT, copy_tiny_model
from tests.kill_resume import assert_killed_run_resumes_to_the_same_weights

import electra_tf as et
from electra_tf.checkpoints.state import model_state

MODEL = "electra-tiny"
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0}


def _workspace(path):
    copy_tiny_model(path)
    shutil.copytree(os.path.join(ROOT, "examples", "data", "finetuning_data", "sst"), path / "finetuning_data" / "sst")
    return path


def _run(data_dir, **hparams):
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    base = {"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 32, "eval_batch_size": 32,
            "max_seq_length": 24, "num_train_epochs": 1, "seed": 5, "progress": False}
    base.update(hparams)
    trials = FinetuningRunner(FinetuningConfig(MODEL, str(data_dir), **base)).run()
    path = data_dir / "models" / MODEL / "finetuning_models" / "sst_model_1" / "model"
    return model_state(et.TFElectraForSequenceClassification.from_pretrained(str(path))), trials[0]["results"]["sst"]


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory):
    """The plain run (float32, no dropout, no XLA) the accumulation, mixed-precision and XLA tests
    compare against, and the evaluation-only test evaluates again: trained once for the module, its
    (weights, dev results, data dir)."""
    data = _workspace(tmp_path_factory.mktemp("float32"))
    weights, results = _run(data, model_hparam_overrides=NO_DROPOUT, jit_compile=False)
    return weights, results, data


def test_accumulation_equals_one_larger_batch(tmp_path, float32_run):
    whole, _, _ = float32_run
    accumulated, _ = _run(_workspace(tmp_path / "b"), model_hparam_overrides=NO_DROPOUT, gradient_accumulation_steps=4,
                          jit_compile=False)
    for name, value in whole.items():
        np.testing.assert_allclose(accumulated[name], value, atol=2e-5, rtol=1e-4, err_msg=name)


def test_accumulation_must_divide_the_batch(tmp_path, capsys):
    import run_finetuning

    _workspace(tmp_path)
    code = run_finetuning.main(["--data-dir", str(tmp_path), "--model-name", MODEL, "--hparams",
                                json.dumps({"task_names": ["sst"], "train_batch_size": 30, "gradient_accumulation_steps": 4})])
    assert code == 2 and "must be divisible by gradient_accumulation_steps=4" in capsys.readouterr().err


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_training_is_finite_and_close_to_float32(tmp_path, policy, float32_run):
    import keras

    _, ref_results, _ = float32_run
    try:
        mixed, results = _run(_workspace(tmp_path / policy), model_hparam_overrides=NO_DROPOUT, mixed_precision=policy)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert all(np.all(np.isfinite(v)) for v in mixed.values())
    assert np.isfinite(results["loss"])
    # Same recipe, lower-precision arithmetic: the dev loss stays within 0.05 of float32's.
    assert abs(results["loss"] - ref_results["loss"]) < 0.05, (results, ref_results)
    # And the model is as good: dev accuracy within 8 points. The model is weak (dev loss 0.57) and
    # many dev examples sit near the decision boundary, so accuracy moves by several points for a
    # near-equal loss: on an AVX2-only EPYC float16 (emulated there) gave 69.00 against 74.33 with
    # dev losses 0.5757 against 0.5741. (Weights are not compared: Adam's
    # normalised updates amplify rounding differences, and float16 skips its first overflowing
    # steps while the loss scale adapts, so trajectories differ while the outcome does not.)
    print(f"{policy}: dev accuracy {results['accuracy']:.2f} vs {ref_results['accuracy']:.2f}, "
          f"dev loss {results['loss']:.4f} vs {ref_results['loss']:.4f}")
    assert abs(results["accuracy"] - ref_results["accuracy"]) <= 8.0


def test_loss_scale_skips_non_finite_steps_and_halves():
    import tensorflow as tf

    from electra_tf.training.optimization import AdamWeightDecay, DynamicLossScale

    var = tf.Variable([1.0, 2.0])
    scale = DynamicLossScale(initial_scale=8.0, growth_interval=2)
    opt = AdamWeightDecay([var], ["w"], base_lr=0.1, num_train_steps=10, warmup_proportion=0.0, loss_scale=scale)
    opt.apply_gradients([tf.constant([np.inf, 1.0])])
    assert var.numpy().tolist() == [1.0, 2.0] and float(scale.scale) == 4.0 and int(opt.iterations) == 0
    opt.apply_gradients([tf.constant([4.0, 4.0])])
    opt.apply_gradients([tf.constant([4.0, 4.0])])
    assert int(opt.iterations) == 2 and float(scale.scale) == 8.0 and not np.allclose(var.numpy(), [1.0, 2.0])


def test_tpu_configuration_without_a_tpu(monkeypatch):
    import tensorflow as tf

    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.training import distribute

    config = FinetuningConfig(MODEL, "/data", task_names=["sst"], use_tpu=True, tpu_name="grpc://10.0.0.2:8470",
                              tpu_zone="us-central1-b", gcp_project="my-project")
    config = DistributionSettings.from_hparams(config)
    assert distribute.resolve_strategy_name(config) == "tpu"
    seen = {}

    class FakeResolver:
        def __init__(self, tpu, zone, project):
            seen.update(tpu=tpu, zone=zone, project=project)

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", FakeResolver)
    distribute.tpu_resolver(config)
    assert seen == {"tpu": "grpc://10.0.0.2:8470", "zone": "us-central1-b", "project": "my-project"}
    assert distribute.resolve_strategy_name(DistributionSettings.from_hparams(FinetuningConfig(MODEL, "/data", task_names=["sst"]))) == "one_device"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}))
    auto = FinetuningConfig(MODEL, "/data", task_names=["sst"], distribution_strategy="auto")
    assert distribute.resolve_strategy_name(DistributionSettings.from_hparams(auto)) == "multi_worker_mirrored"


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGKILL mid-training, rerun the same command: the weights equal an uninterrupted run's
    (dropout on, so the dropout RNG state must resume too)."""
    hparams = json.dumps({"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 32, "max_seq_length": 24,
                          "num_train_epochs": 2, "seed": 9, "save_checkpoints_steps": 10, "progress": False})
    assert_killed_run_resumes_to_the_same_weights(_workspace(tmp_path / "straight"), _workspace(tmp_path / "killed"),
                                                  hparams, checkpoint=30)


def test_evaluation_without_training_restores_every_weight(float32_run):
    """do_train false evaluates the fine-tuned checkpoint: the same numbers as right after training."""
    _, trained, data = float32_run
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    config = FinetuningConfig(MODEL, str(data), task_names=["sst"], max_seq_length=24, eval_batch_size=32,
                              do_train=False, seed=5, progress=False, model_hparam_overrides=NO_DROPOUT,
                              jit_compile=False)  # the training run's command, do_train false
    (again,) = FinetuningRunner(config).run()
    assert again["results"]["sst"] == trained


def test_best_model_selection_and_early_stopping(tmp_path):
    import glob

    import tensorflow as tf

    data = _workspace(tmp_path / "best")
    _, final = _run(data, eval_every_steps=8, best_metric="accuracy")
    model_dir = data / "models" / MODEL / "finetuning_models" / "sst_model_1"
    best = json.loads((model_dir / "best" / "best.json").read_text())
    assert best["metric"] == "accuracy" and best["step"] in (8, 16, 24, 32)
    assert final["accuracy"] == best["results"]["sst"]["accuracy"]  # the kept model is the dev-best one
    steps = set()
    for path in glob.glob(str(model_dir / "tensorboard" / "dev" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            if any(v.tag == "sst/accuracy" for v in event.summary.value):
                steps.add(event.step)
    assert {8, 16, 24, 32} <= steps

    # A learning rate of 0 never improves: patience 2 stops after the third evaluation.
    stopped = _workspace(tmp_path / "stop")
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    config = FinetuningConfig(MODEL, str(stopped), task_names=["sst"], learning_rate=0.0, train_batch_size=32,
                              max_seq_length=24, num_train_epochs=1, seed=5, progress=False, eval_every_steps=4,
                              best_metric="accuracy", early_stopping_patience=2)
    (trial,) = FinetuningRunner(config).run()
    assert trial["global_step"] == 12


def test_best_metric_needs_evaluations_during_training():
    from electra_tf.errors import ConfigError
    from electra_tf.finetuning.hparams import FinetuningConfig

    with pytest.raises(ConfigError, match="need evaluations during training"):
        FinetuningConfig(MODEL, "/d", task_names=["sst"], best_metric="accuracy")


def test_dynamic_padding_gives_the_same_model_with_shorter_batches(tmp_path):
    full, full_results = _run(_workspace(tmp_path / "full"), model_hparam_overrides=NO_DROPOUT, max_seq_length=64)
    data = _workspace(tmp_path / "dyn")
    trimmed, trimmed_results = _run(data, model_hparam_overrides=NO_DROPOUT, max_seq_length=64, dynamic_padding=True,
                                    bucket_size=8)
    for name, value in full.items():
        np.testing.assert_allclose(trimmed[name], value, atol=2e-5, rtol=1e-4, err_msg=name)
    assert trimmed_results["accuracy"] == full_results["accuracy"]
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    runner = FinetuningRunner(FinetuningConfig(MODEL, str(data), task_names=["sst"], max_seq_length=64,
                                               dynamic_padding=True, bucket_size=8, progress=False))
    dataset, _ = runner.dataset("dev", False)
    widths = {int(batch["input_ids"].shape[1]) for batch in dataset}
    assert widths and max(widths) < 64 and all(w % 8 == 0 for w in widths)  # the embedded reviews are short


def test_xla_training_equals_eager_graph_training(tmp_path, float32_run):
    plain, plain_results, _ = float32_run  # jit_compile false
    xla, xla_results = _run(_workspace(tmp_path / "xla"), model_hparam_overrides=NO_DROPOUT, jit_compile=True)
    for name, value in plain.items():
        np.testing.assert_allclose(xla[name], value, atol=1e-4, rtol=1e-3, err_msg=name)
    assert abs(xla_results["loss"] - plain_results["loss"]) < 1e-3


def test_jit_compile_auto_is_off_on_cpu():
    import tensorflow as tf

    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.training.distribute import resolve_jit_compile

    config = FinetuningConfig(MODEL, "/d", task_names=["sst"])
    assert config.jit_compile == "auto"
    assert resolve_jit_compile(config.jit_compile, tf.distribute.get_strategy()) is (len(tf.config.list_logical_devices("GPU")) == 1)


def test_featurizers_pause_the_garbage_collector_and_restore_it():
    import gc

    from electra_tf.finetuning.features import gc_paused

    seen = []

    @gc_paused
    def featurize(fail):
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("bad line")
        return "features"

    assert gc.isenabled()
    assert featurize(False) == "features"
    with pytest.raises(ValueError, match="bad line"):
        featurize(True)
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        featurize(False)
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()
