"""run_name (#24 item 12): variants of one task side by side, each with its own folders, lock,
identity and results; and the HF export of a model fine-tuned with the original classification
head, checked against transformers' PyTorch ElectraForSequenceClassification."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import run_finetuning
from tests.conftest import ROOT, copy_tiny_model

MODEL = "electra-tiny"
BASE = {"task_names": ["sst"], "train_batch_size": 16, "eval_batch_size": 16, "max_seq_length": 24,
        "num_train_epochs": 1, "seed": 6, "log_every_steps": 1000, "progress": False}


def _main(data_dir, **hparams):
    return run_finetuning.main(["--data-dir", str(data_dir), "--model-name", MODEL, "--hparams",
                                json.dumps({**BASE, **hparams})])


@pytest.fixture(scope="module")
def two_variants(tmp_path_factory):
    """sst fine-tuned twice in one data dir: the default run (original head) and run_name "hf" (head hf)."""
    data = tmp_path_factory.mktemp("names")
    copy_tiny_model(data)
    source = os.path.join(ROOT, "examples", "data", "finetuning_data", "sst")
    target = data / "finetuning_data" / "sst"
    target.mkdir(parents=True)
    for name, n in (("train.tsv", 48), ("dev.tsv", 16)):
        with open(os.path.join(source, name), encoding="utf-8") as f:
            (target / name).write_text("".join(f.readlines()[: n + 1]), encoding="utf-8")
    assert _main(data) == 0
    assert _main(data, head="hf", run_name="hf") == 0  # the identity check of the default run is not involved
    return data, data / "models" / MODEL


def test_run_name_gives_the_variant_its_own_outputs(two_variants):
    _, root = two_variants
    default = root / "finetuning_models" / "sst_model_1"
    named = root / "finetuning_models" / "sst_hf_model_1"
    for trial in (default, named):
        assert (trial / "run_identity.json").is_file() and (trial / "model" / "task.json").is_file()
    assert json.loads((default / "model" / "config.json").read_text())["electra_tf"]["head"] == "electra"
    assert json.loads((named / "model" / "config.json").read_text())["electra_tf"]["head"] == "hf"
    results = root / "results"
    for name in ("sst_results.txt", "sst_results.json", "sst_config.json", "sst_hf_results.txt", "sst_hf_results.json",
                 "sst_hf_config.json", "sst_hf_results.pkl"):
        assert (results / name).is_file(), name
    assert json.loads((results / "sst_hf_config.json").read_text())["run_name"] == "hf"
    assert json.loads((results / "sst_config.json").read_text())["run_name"] is None
    assert (root / "finetuning_models" / "sst_hf_model.lock").exists() and (root / "finetuning_models" / "sst_model.lock").exists()


def test_run_name_paths_and_refused_names():
    from electra_tf.errors import ConfigError
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.results import config_json_path

    plain = FinetuningConfig("m", "/d", task_names=["sst"])
    assert plain.trial_model_dir(1) == "/d/models/m/finetuning_models/sst_model_1"  # the original's paths
    assert plain.test_predictions_for("sst", "test", 1) == "/d/models/m/test_predictions/sst_test_1_predictions.pkl"
    named = FinetuningConfig("m", "/d", task_names=["sst", "sts"], run_name="lr_results-3e-4")
    assert named.trial_model_dir(2) == "/d/models/m/finetuning_models/sst,sts_lr_results-3e-4_model_2"
    assert named.results_txt == "/d/models/m/results/sst,sts_lr_results-3e-4_results.txt"
    assert config_json_path(named) == "/d/models/m/results/sst,sts_lr_results-3e-4_config.json"
    assert named.qa_preds_file_for("squad") == "/d/models/m/results/sst,sts_lr_results-3e-4_qa/squad_preds.json"
    assert named.test_predictions_for("sst", "test", 1) == "/d/models/m/test_predictions/sst_lr_results-3e-4_test_1_predictions.pkl"
    assert named.run_str == "sst,sts_lr_results-3e-4"
    for bad in ("", "a/b", "../x", ".hidden", "a b", "x" * 101, 3, "é"):
        with pytest.raises(ConfigError, match="run_name must be a name"):
            FinetuningConfig("m", "/d", task_names=["sst"], run_name=bad)


def test_changed_training_setting_points_at_run_name(two_variants):
    data, _ = two_variants
    from electra_tf.errors import ElectraError
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    with pytest.raises(ElectraError, match='another "run_name"'):
        FinetuningRunner(FinetuningConfig(MODEL, str(data), **{**BASE, "learning_rate": 0.5})).run()


def _convert(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "convert", "convert_checkpoint.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_original_head_converts_to_transformers_with_the_runs_logits(two_variants, tmp_path):
    """The original head (the run without run_name) converts too: HF's ElectraForSequenceClassification
    gives the fine-tuned model's logits (the "head": "hf" variant is covered by test_model_directory)."""
    import torch
    import transformers

    import electra_tf as et

    _, root = two_variants
    source = root / "finetuning_models" / "sst_model_1" / "model"
    done = _convert("--input", str(source), "--to", "hf", "--output", str(tmp_path / "hf"))
    assert done.returncode == 0, done.stderr
    theirs = transformers.ElectraForSequenceClassification.from_pretrained(str(tmp_path / "hf")).eval()
    ours = et.TFElectraForSequenceClassification.from_pretrained(str(source))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    batch = tokenizer(["the movie was good", "a dull , lifeless story that goes nowhere", ""], padding=True,
                      return_tensors="np")
    expected = np.asarray(ours(batch["input_ids"], attention_mask=batch["attention_mask"],
                               token_type_ids=batch["token_type_ids"])["logits"])
    with torch.no_grad():
        got = theirs(**{k: torch.tensor(v).long() for k, v in batch.items()}).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-4)


def test_original_head_mapping_holds_for_extreme_layer_norms():
    """The GELU shift covers every input the LayerNorm can emit, even with large gamma / beta."""
    import torch
    import transformers

    import electra_tf as et
    from electra_tf.checkpoints.hf import original_classifier_as_hf
    from electra_tf.checkpoints.state import model_state
    from tests.conftest import tiny_config, tiny_inputs

    model = et.TFElectraForSequenceClassification(tiny_config(num_labels=3, head="electra")).build_with_dummy_inputs()
    state = model_state(model)
    rng = np.random.default_rng(0)
    last = "electra.encoder.layer.1.output.LayerNorm."
    big = {last + "weight": rng.normal(0, 4, 32).astype("float32"), last + "bias": rng.normal(0, 8, 32).astype("float32")}
    for ref in model.hf_weights():
        if ref.name in big:
            ref.variable.assign(big[ref.name])
    state = original_classifier_as_hf(model_state(model), model.config)
    hf = transformers.ElectraForSequenceClassification(transformers.ElectraConfig(
        vocab_size=61, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=40, num_labels=3)).eval()
    from electra_tf.checkpoints.hf import keras_layout_to_torch

    kernels = {r.name for r in model.hf_weights() if r.is_kernel} - {"classifier.weight"}
    kernels |= {"classifier.dense.weight", "classifier.out_proj.weight"}
    torch_state = {k: torch.tensor(v) for k, v in keras_layout_to_torch(state, kernels).items()}
    missing, unexpected = hf.load_state_dict(torch_state, strict=False)
    assert not unexpected and all("position_ids" in m for m in missing)
    ids, mask, types = tiny_inputs()
    expected = np.asarray(model(ids, attention_mask=mask, token_type_ids=types)["logits"])
    with torch.no_grad():
        got = hf(input_ids=torch.tensor(ids).long(), attention_mask=torch.tensor(mask).long(),
                 token_type_ids=torch.tensor(types).long()).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=5e-5, rtol=1e-4)
