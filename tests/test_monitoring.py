"""Progress, log file and TensorBoard summaries of a run; SavedModel export at the end of a run."""

import glob
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from tests.conftest import ROOT, copy_tiny_model

import run_finetuning

MODEL = "electra-tiny"


def _tags(folder):
    tags = set()
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.add(value.tag)
    return tags


def _scalars(folder):
    found = {}
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return found


def test_run_writes_log_tensorboard_and_saved_model(tmp_path, capsys):
    copy_tiny_model(tmp_path)
    shutil.copytree(os.path.join(ROOT, "examples", "data", "finetuning_data", "sst"), tmp_path / "finetuning_data" / "sst")
    hparams = {"task_names": ["sst"], "train_batch_size": 32, "max_seq_length": 24, "num_train_epochs": 1, "seed": 1,
               "progress": True, "log_every_steps": 8, "export_saved_model": True}
    assert run_finetuning.main(["--data-dir", str(tmp_path), "--model-name", MODEL, "--hparams", json.dumps(hparams)]) == 0
    err = capsys.readouterr().err
    assert "train:" in err or "step/s" in err or "it/s" in err  # the progress bar was drawn
    model_dir = tmp_path / "models" / MODEL / "finetuning_models" / "sst_model_1"
    log = (tmp_path / "models" / MODEL / "finetuning_models" / "sst_model.log").read_text()
    assert "step 8/32 = 25.0%" in log and "seq/s" in log and "ETA" in log  # progress lines go to the log file
    assert {"loss", "loss_batch_sum", "learning_rate", "gradient_norm"} <= _tags(model_dir / "tensorboard" / "train")
    # train/loss is the per-example mean (the dev loss's scale); loss_batch_sum the original's sum
    # over the batch of 32, padding records of the training file not counted
    train = _scalars(model_dir / "tensorboard" / "train")
    for step, total in train["loss_batch_sum"].items():
        assert 1 <= total / train["loss"][step] <= 32 + 1e-3
    assert any(abs(total / train["loss"][step] - 32) < 1e-3 for step, total in train["loss_batch_sum"].items())
    assert {"sst/accuracy", "sst/loss"} <= _tags(model_dir / "tensorboard" / "dev")
    loaded = tf.saved_model.load(str(model_dir / "saved_model"))
    out = loaded.signatures["serve_text"](text=tf.constant(["the movie was great"]))["logits"].numpy()
    assert out.shape == (1, 2) and np.all(np.isfinite(out))
