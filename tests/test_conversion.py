"""Checkpoint conversion between original TF1, HuggingFace and our Keras format."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import electra_tf as et
from electra_tf.checkpoints.state import model_state
from electra_tf.errors import CheckpointError, ConfigError
from tests.conftest import ROOT, tiny_inputs, torch_outputs
from tests.tf1_fixtures import original_variables, write_checkpoint

SMALL = dict(V=53, E=16, H=32, L=2, I=48, P=40, gen_H=16)  # embeddings_project, like ELECTRA-small
BASE = dict(V=53, E=32, H=32, L=3, I=64, P=40, gen_H=16)  # no discriminator projection, like base/large


def read_tf1(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


def discriminator_names(variables):
    return {n for n in variables if n.startswith(("electra/", "discriminator_predictions/")) and "adam_" not in n}


@pytest.mark.parametrize("layout", [SMALL, BASE], ids=["small-like", "base-like"])
def test_tf1_keras_hf_keras_tf1_round_trip_is_bit_exact(tmp_path, layout):
    original = original_variables(**layout)
    write_checkpoint(str(tmp_path / "orig"), original)
    model = et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "orig"))
    report = model.load_report
    assert report.newly_initialized == []
    reasons = set(report.skipped.values())
    assert "optimizer slot" in reasons and "training step counter" in reasons
    assert any(r.startswith("generator weights") for r in reasons)
    assert model.config.num_attention_heads == max(1, layout["H"] // 64)

    model.save_pretrained(str(tmp_path / "keras1"), format="keras")
    k1 = et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "keras1"))
    k1.save_pretrained(str(tmp_path / "hf"), format="hf")
    k2 = et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "hf"))
    k2.save_pretrained(str(tmp_path / "keras2"), format="keras")
    k3 = et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "keras2"))
    k3.save_pretrained(str(tmp_path / "tf1"), format="tf1")

    written = read_tf1(str(tmp_path / "tf1" / "model.ckpt"))
    expected = discriminator_names(original)
    assert set(written) == expected
    for name in expected:
        assert written[name].dtype == original[name].dtype
        np.testing.assert_array_equal(written[name], original[name], err_msg=name)
    assert json.loads((tmp_path / "tf1" / "discriminator.json").read_text())["hidden_size"] == layout["H"]
    # And the written checkpoint is readable again through its 'checkpoint' state file.
    again = et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "tf1"))
    for name, value in model_state(model).items():
        np.testing.assert_array_equal(model_state(again)[name], value)


@pytest.mark.parametrize("layout", [SMALL, BASE], ids=["small-like", "base-like"])
def test_exported_hf_directory_matches_transformers(tmp_path, layout):
    import transformers

    write_checkpoint(str(tmp_path / "orig"), original_variables(**layout))
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(48)]) + "\n")
    model = et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "orig"))
    model.save_pretrained(str(tmp_path / "hf"), format="hf", vocab_file=str(tmp_path / "vocab.txt"))
    ref, info = transformers.ElectraForPreTraining.from_pretrained(str(tmp_path / "hf"), output_loading_info=True)
    assert info["missing_keys"] == set() or info["missing_keys"] == []
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    ref.eval()
    ids, mask, types = tiny_inputs(vocab=layout["V"])
    want = torch_outputs(ref, ids, mask, types).logits.numpy()
    got = np.asarray(model(ids, attention_mask=mask, token_type_ids=types)["logits"])
    assert np.max(np.abs(got - want)) < 1e-5
    tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    assert tok.convert_tokens_to_ids("w7") == 12


def test_generator_weights_load_into_generator_model(tmp_path):
    import transformers

    original = original_variables(**SMALL)
    write_checkpoint(str(tmp_path / "orig"), original)
    gen = et.TFElectraForMaskedLM.from_pretrained(str(tmp_path / "orig"))
    assert gen.config.hidden_size == SMALL["gen_H"] and gen.config.embedding_size == SMALL["E"]
    np.testing.assert_array_equal(
        gen.electra.embeddings.word_embeddings.embeddings.numpy(), original["electra/embeddings/word_embeddings"]
    )
    np.testing.assert_array_equal(gen.generator_predictions.output_bias.numpy(), original["generator_predictions/output_bias"])
    assert any("discriminator weights" in r for r in gen.load_report.skipped.values())
    gen.save_pretrained(str(tmp_path / "hf"), format="hf")
    ref = transformers.ElectraForMaskedLM.from_pretrained(str(tmp_path / "hf")).eval()
    ids, mask, types = tiny_inputs(vocab=SMALL["V"])
    want = torch_outputs(ref, ids, mask, types).logits.numpy()
    assert np.max(np.abs(np.asarray(gen(ids, attention_mask=mask, token_type_ids=types)["logits"]) - want)) < 1e-5
    # TF1 round trip of the generator keeps the original names (shared electra/embeddings).
    gen.save_pretrained(str(tmp_path / "tf1"), format="tf1")
    written = read_tf1(str(tmp_path / "tf1" / "model.ckpt"))
    for name, value in written.items():
        np.testing.assert_array_equal(value, original[name], err_msg=name)
    assert "generator_predictions/output_bias" in written and "electra/embeddings/word_embeddings" in written


def test_finetuned_classification_checkpoint_evaluates_and_round_trips(tmp_path):
    original = original_variables(**SMALL, generator=False, task_heads={"mnli": ("classification", 3)})
    write_checkpoint(str(tmp_path / "ft"), original, prefix="model.ckpt-1227")
    model = et.TFElectraForSequenceClassification.from_pretrained(str(tmp_path / "ft"))
    assert model.config.head == "electra" and model.config.num_labels == 3
    assert model.load_report.newly_initialized == []
    # logits = dense(h[CLS]) with the original kernel
    ids, mask, types = tiny_inputs(vocab=SMALL["V"])
    hidden = np.asarray(model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"])
    want = hidden[:, 0] @ original["task_specific/mnli/dense/kernel"] + original["task_specific/mnli/dense/bias"]
    np.testing.assert_allclose(np.asarray(model(ids, attention_mask=mask, token_type_ids=types)["logits"]), want, atol=1e-5)
    model.save_pretrained(str(tmp_path / "back"), format="tf1", task_name="mnli")
    written = read_tf1(str(tmp_path / "back" / "model.ckpt"))
    expected = {n for n in original if "adam_" not in n and not n.startswith("discriminator_predictions")}
    assert set(written) == expected
    for name in expected:
        np.testing.assert_array_equal(written[name], original[name], err_msg=name)


def test_finetuned_qa_checkpoint_loads_the_original_joint_head(tmp_path):
    original = original_variables(**SMALL, generator=False, adam=False, task_heads={"squad": ("qa", None)})
    write_checkpoint(str(tmp_path / "ft"), original)
    model = et.TFElectraForQuestionAnswering.from_pretrained(str(tmp_path / "ft"))
    head = model.qa_head
    assert model.config.head == "electra" and head.joint_prediction and head.answerable_uses_start_logits
    np.testing.assert_array_equal(head.qa_hidden.kernel.numpy(), original["task_specific/squad/qa_hidden/kernel"])
    np.testing.assert_array_equal(head.answerable.kernel.numpy(), original["task_specific/squad/dense_3/kernel"])
    np.testing.assert_array_equal(head.end.kernel.numpy(), original["task_specific/squad/dense_1/kernel"])
    model.save_pretrained(str(tmp_path / "keras"), format="keras")
    again = et.TFElectraForQuestionAnswering.from_pretrained(str(tmp_path / "keras"))
    again.save_pretrained(str(tmp_path / "back"), format="tf1", task_name="squad")
    written = read_tf1(str(tmp_path / "back" / "model.ckpt"))
    for name in (n for n in original if n.startswith("task_specific/")):
        np.testing.assert_array_equal(written[name], original[name], err_msg=name)


def test_checkpoint_prefix_and_directory_without_state_file(tmp_path):
    original = original_variables(**SMALL)
    prefix = write_checkpoint(str(tmp_path / "hfl"), original, state_file=False)
    a = et.TFElectraModel.from_pretrained(str(tmp_path / "hfl"))
    b = et.TFElectraModel.from_pretrained(prefix)
    for name, value in model_state(a).items():
        np.testing.assert_array_equal(model_state(b)[name], value)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"embedding_size": 32}, r"embedding_size=32.*set embedding_size to 16"),
        ({"vocab_size": 21128}, r"vocab_size=21128.*set vocab_size to 53"),
        ({"hidden_size": 16, "num_attention_heads": 1, "intermediate_size": 64}, r"hidden_size=16.*discriminator config used for the generator"),
    ],
    ids=["wrong-embedding-size", "wrong-vocab-size", "wrong-hidden-size"],
)
def test_config_contradicting_the_checkpoint_names_the_value(tmp_path, change, message):
    config = dict(vocab_size=53, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=1,
                  intermediate_size=48, max_position_embeddings=40)
    config.update(change)
    write_checkpoint(str(tmp_path / "ckpt"), original_variables(**SMALL), config=config)
    with pytest.raises(ConfigError, match=message):
        et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "ckpt"))


def test_generator_config_used_for_discriminator_is_named(tmp_path):
    write_checkpoint(str(tmp_path / "ckpt"), original_variables(**SMALL))
    gen_config = et.ElectraConfig(vocab_size=53, embedding_size=16, hidden_size=16, num_hidden_layers=2,
                                  num_attention_heads=1, intermediate_size=64, max_position_embeddings=40)
    with pytest.raises(ConfigError, match="hidden_size=16.*has hidden_size=32"):
        et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "ckpt"), config=gen_config)


def test_unmappable_variable_fails_with_its_name(tmp_path):
    variables = original_variables(**SMALL, adam=False)
    variables["electra/encoder/mystery_pooler/kernel"] = np.zeros((4, 4), np.float32)
    write_checkpoint(str(tmp_path / "ckpt"), variables)
    with pytest.raises(CheckpointError, match="mystery_pooler"):
        et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "ckpt"))


def test_shape_mismatch_in_hf_checkpoint_names_weight_and_field(tmp_path):
    model = et.TFElectraForSequenceClassification(et.ElectraConfig(**dict(vocab_size=53, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48, num_labels=3)))
    model.save_pretrained(str(tmp_path / "hf"))
    with pytest.raises(CheckpointError, match=r"classifier.out_proj.weight.*fix num_labels"):
        et.TFElectraForSequenceClassification.from_pretrained(str(tmp_path / "hf"), num_labels=5)


def test_corrupt_checkpoints_give_clear_errors(tmp_path):
    prefix = write_checkpoint(str(tmp_path / "ckpt"), original_variables(**SMALL, adam=False))
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        et.TFElectraForPreTraining.from_pretrained(str(tmp_path / "ckpt"))
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"hidden_size": 32, "num_attention_heads": 4}))
    (tmp_path / "hf" / "model.safetensors").write_bytes(b"\x10\x00\x00\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        et.TFElectraModel.from_pretrained(str(tmp_path / "hf"))
    with pytest.raises(CheckpointError, match="not found"):
        et.TFElectraModel.from_pretrained(str(tmp_path / "nowhere"))


def test_transformers4_tf_model_h5_loads(tmp_path):
    """A tf_model.h5 as transformers 4.x TF models wrote it (Keras 2 'layer_names' layout)."""
    import h5py

    from tests.conftest import hf_reference_model, tiny_config

    config = tiny_config(num_labels=5)
    ref = hf_reference_model("ElectraForTokenClassification", config)
    scope = "tf_electra_for_token_classification"
    state = {k: v.numpy() for k, v in ref.state_dict().items() if not k.endswith("position_ids")}

    def tf_name(pt_name, value):
        parts = pt_name.split(".")
        if parts[0] == "electra" and parts[1] == "encoder":
            parts[2:4] = [f"layer_._{parts[3]}"]
        last = parts[-1]
        if last == "weight":
            if parts[-2].endswith("_embeddings"):
                parts[-1] = "weight" if parts[-2] == "word_embeddings" else "embeddings"
            elif parts[-2] == "LayerNorm":
                parts[-1] = "gamma"
            else:
                parts[-1] = "kernel"
                value = value.T
        elif last == "bias" and parts[-2] == "LayerNorm":
            parts[-1] = "beta"
        return f"{scope}/" + "/".join(parts) + ":0", value

    path = tmp_path / "tf_model.h5"
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.21.0"
        f.attrs["layer_names"] = [b"electra", b"classifier"]
        for pt_name, value in state.items():
            top = "classifier" if pt_name.startswith("classifier") else "electra"
            name, value = tf_name(pt_name, value)
            f.create_dataset(f"{top}/{name}", data=value)
    ref.config.save_pretrained(str(tmp_path))
    model = et.TFElectraForTokenClassification.from_pretrained(str(tmp_path))
    assert model.load_report.newly_initialized == [] and not model.load_report.skipped
    ids, mask, types = tiny_inputs()
    want = torch_outputs(ref, ids, mask, types).logits.numpy()
    assert np.max(np.abs(np.asarray(model(ids, attention_mask=mask, token_type_ids=types)["logits"]) - want)) < 1e-5


def _run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "convert", "convert_checkpoint.py"), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_cli_end_to_end(tmp_path):
    original = original_variables(**SMALL)
    write_checkpoint(str(tmp_path / "orig"), original)
    (tmp_path / "orig" / "vocab.txt").write_text("\n".join(f"t{i}" for i in range(53)) + "\n")
    # Generator weights are skipped only on request.
    result = _run_cli("--input", str(tmp_path / "orig"), "--output", str(tmp_path / "hf"), "--to", "hf")
    assert result.returncode == 2 and "--skip-generator" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    result = _run_cli("--input", str(tmp_path / "orig"), "--output", str(tmp_path / "hf"), "--to", "hf", "--skip-generator")
    assert result.returncode == 0, result.stderr
    assert "Skipped (optimizer slot)" in result.stdout and "Model type: pretraining" in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["mapped"] == len(discriminator_names(original)) and summary["newly_initialized"] == []
    assert (tmp_path / "hf" / "model.safetensors").exists() and (tmp_path / "hf" / "vocab.txt").exists()

    result = _run_cli("--input", str(tmp_path / "hf"), "--output", str(tmp_path / "tf1"), "--to", "tf1")
    assert result.returncode == 0, result.stderr
    written = read_tf1(str(tmp_path / "tf1" / "model.ckpt"))
    for name in discriminator_names(original):
        np.testing.assert_array_equal(written[name], original[name])

    # Strict mode accepts the requested generator skip but refuses to drop the pre-training head.
    result = _run_cli("--input", str(tmp_path / "orig"), "--output", str(tmp_path / "x"), "--to", "keras", "--strict",
                      "--skip-generator")
    assert result.returncode == 0, result.stderr
    result = _run_cli("--input", str(tmp_path / "orig"), "--output", str(tmp_path / "y"), "--to", "keras", "--strict",
                      "--skip-generator", "--model-type", "base")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and last.startswith("error: ") and "discriminator_predictions" in last
    assert "Traceback" not in result.stderr and not (tmp_path / "y").exists()
