"""Parity with HuggingFace's PyTorch ELECTRA (transformers 5.x) on the same weights.

Each test builds a tiny random PyTorch model, saves it as HF does (safetensors or .bin), loads
it with ``from_pretrained`` and compares outputs at every position, padding included.
"""

import numpy as np
import pytest

import electra_tf as et
from tests.conftest import hf_reference_model, tiny_config, tiny_inputs, torch_outputs

TOL = 1e-5


def _load_pair(tmp_path, hf_name, our_cls, config, safe=True):
    ref = hf_reference_model(hf_name, config)
    ref.save_pretrained(str(tmp_path))
    if not safe:  # transformers 5 writes only safetensors; older releases wrote a pickle
        import os

        import torch

        os.remove(tmp_path / "model.safetensors")
        torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")
    ours = our_cls.from_pretrained(str(tmp_path))
    return ref, ours


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


@pytest.mark.parametrize("embedding_size", [16, 32], ids=["emb!=hidden", "emb==hidden"])
def test_electra_model_parity_with_hidden_states_and_attentions(tmp_path, embedding_size):
    config = tiny_config(embedding_size=embedding_size)
    ref, ours = _load_pair(tmp_path, "ElectraModel", et.TFElectraModel, config)
    ids, mask, types = tiny_inputs()
    expected = torch_outputs(ref, ids, mask, types, output_hidden_states=True, output_attentions=True)
    got = ours(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True, output_attentions=True)
    assert _max_diff(got["last_hidden_state"], expected.last_hidden_state.numpy()) < TOL
    assert len(got["hidden_states"]) == len(expected.hidden_states) == config.num_hidden_layers + 1
    for g, e in zip(got["hidden_states"], expected.hidden_states):
        assert _max_diff(g, e.numpy()) < TOL
    for g, e in zip(got["attentions"], expected.attentions):
        assert _max_diff(g, e.numpy()) < TOL
    assert ours.load_report.newly_initialized == []


@pytest.mark.parametrize("embedding_size", [16, 32], ids=["emb!=hidden", "emb==hidden"])
@pytest.mark.parametrize("num_labels", [3, 1], ids=["classification", "regression"])
def test_sequence_classification_parity(tmp_path, embedding_size, num_labels):
    config = tiny_config(embedding_size=embedding_size, num_labels=num_labels)
    ref, ours = _load_pair(tmp_path, "ElectraForSequenceClassification", et.TFElectraForSequenceClassification, config)
    assert ours.config.head == "hf" and ours.config.num_labels == num_labels
    ids, mask, types = tiny_inputs()
    expected = torch_outputs(ref, ids, mask, types).logits.numpy()
    got = ours(ids, attention_mask=mask, token_type_ids=types)["logits"]
    assert got.shape == (3, num_labels)
    assert _max_diff(got, expected) < TOL


@pytest.mark.parametrize("embedding_size", [16, 32], ids=["emb!=hidden", "emb==hidden"])
def test_token_classification_parity(tmp_path, embedding_size):
    config = tiny_config(embedding_size=embedding_size, num_labels=5)
    ref, ours = _load_pair(tmp_path, "ElectraForTokenClassification", et.TFElectraForTokenClassification, config)
    ids, mask, types = tiny_inputs()
    expected = torch_outputs(ref, ids, mask, types).logits.numpy()
    got = ours(ids, attention_mask=mask, token_type_ids=types)["logits"]
    assert _max_diff(got, expected) < TOL


@pytest.mark.parametrize("embedding_size", [16, 32], ids=["emb!=hidden", "emb==hidden"])
def test_question_answering_parity(tmp_path, embedding_size):
    config = tiny_config(embedding_size=embedding_size)
    ref, ours = _load_pair(tmp_path, "ElectraForQuestionAnswering", et.TFElectraForQuestionAnswering, config)
    ids, mask, types = tiny_inputs()
    expected = torch_outputs(ref, ids, mask, types)
    got = ours(ids, attention_mask=mask, token_type_ids=types)
    assert _max_diff(got["start_logits"], expected.start_logits.numpy()) < TOL
    assert _max_diff(got["end_logits"], expected.end_logits.numpy()) < TOL


@pytest.mark.parametrize("embedding_size", [16, 32], ids=["emb!=hidden", "emb==hidden"])
def test_pretraining_parity(tmp_path, embedding_size):
    config = tiny_config(embedding_size=embedding_size)
    ref, ours = _load_pair(tmp_path, "ElectraForPreTraining", et.TFElectraForPreTraining, config)
    ids, mask, types = tiny_inputs()
    expected = torch_outputs(ref, ids, mask, types).logits.numpy()
    got = ours(ids, attention_mask=mask, token_type_ids=types)["logits"]
    assert _max_diff(got, expected) < TOL


def test_generator_parity(tmp_path):
    config = tiny_config(embedding_size=16)
    ref, ours = _load_pair(tmp_path, "ElectraForMaskedLM", et.TFElectraForMaskedLM, config)
    ids, mask, types = tiny_inputs()
    expected = torch_outputs(ref, ids, mask, types).logits.numpy()
    got = ours(ids, attention_mask=mask, token_type_ids=types)["logits"]
    assert _max_diff(got, expected) < TOL


def test_pytorch_bin_checkpoint_loads_with_same_outputs(tmp_path):
    config = tiny_config(num_labels=4)
    ref, ours = _load_pair(tmp_path, "ElectraForTokenClassification", et.TFElectraForTokenClassification, config, safe=False)
    import os

    assert os.path.exists(tmp_path / "pytorch_model.bin") and not os.path.exists(tmp_path / "model.safetensors")
    ids, mask, types = tiny_inputs()
    expected = torch_outputs(ref, ids, mask, types).logits.numpy()
    assert _max_diff(ours(ids, attention_mask=mask, token_type_ids=types)["logits"], expected) < TOL


def test_pretrained_discriminator_into_classifier_initialises_only_the_head(tmp_path):
    config = tiny_config()
    ref = hf_reference_model("ElectraForPreTraining", config)
    ref.save_pretrained(str(tmp_path))
    model = et.TFElectraForSequenceClassification.from_pretrained(str(tmp_path), num_labels=3, head="electra")
    report = model.load_report
    assert report.newly_initialized == ["classifier.weight", "classifier.bias"]
    assert set(report.skipped) == {
        "discriminator_predictions.dense.weight", "discriminator_predictions.dense.bias",
        "discriminator_predictions.dense_prediction.weight", "discriminator_predictions.dense_prediction.bias",
    }
    # The encoder is exactly the reference's.
    ids, mask, types = tiny_inputs()
    import torch

    with torch.no_grad():
        hidden = ref.electra(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask), token_type_ids=torch.tensor(types, dtype=torch.long)).last_hidden_state.numpy()
    got = model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"]
    assert _max_diff(got, hidden) < TOL


def test_dict_inputs_equal_keyword_inputs(tmp_path):
    model = et.TFElectraForSequenceClassification(tiny_config())
    ids, mask, types = tiny_inputs()
    import warnings

    with warnings.catch_warnings():
        # the first call builds the model; Keras' automatic build must not fail ("unbuilt state")
        warnings.simplefilter("error")
        a = model({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})["logits"]
    b = model(input_ids=ids, attention_mask=mask, token_type_ids=types)["logits"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
