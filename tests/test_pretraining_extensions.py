"""Pre-training extensions beyond the original (defaults keep the original): HF export of both
networks, mixed precision, gradient accumulation, warm start from an HF directory, two-process
multi-worker training, and fine-tuning from the pre-trained discriminator."""

import json
import os

import numpy as np
import pytest

from tests.test_pretraining import E2E, SPECIALS, _run, build_tiny_model, data_dir, tiny_config  # noqa: F401

from electra_tf.pretraining.config import PretrainingConfig


def _tiny_vocab(path, size=61):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(size - 5)]
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


def _keras_logits(model, ids, mask, types):
    """Our Keras networks' outputs: discriminator logits [B, L] and generator logits [B, L, V]."""
    hidden = model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"]
    disc = model.discriminator_predictions(hidden).numpy()
    body = model._generator_body()
    gen_hidden = body(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"]
    gen = model.generator_predictions(gen_hidden, body.embeddings.word_embeddings.embeddings).numpy()
    return disc, gen


def _torch_logits(directory, cls, ids, mask, types):
    import torch
    import transformers

    net = getattr(transformers, cls).from_pretrained(str(directory)).eval()
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    with torch.no_grad():
        return net(input_ids=t(ids), attention_mask=t(mask), token_type_ids=t(types)).logits.numpy()


# ---------------------------------------------------------------------------- HF export
@pytest.mark.parametrize("changes", [{}, {"untied_generator": False}], ids=["two-networks", "one-network"])
def test_hf_export_of_both_networks_loads_in_transformers(tmp_path, changes):
    """model_dir/hf/discriminator (ElectraForPreTraining) and hf/generator (ElectraForMaskedLM)
    load in transformers and give our Keras networks' logits within 1e-5."""
    from electra_tf.pretraining.export import write_hf_pretrained

    model = build_tiny_model(tiny_config(tmp_path, **changes))
    vocab = _tiny_vocab(tmp_path / "vocab.txt")
    written = write_hf_pretrained(model, str(tmp_path / "out"), vocab_file=vocab)
    assert written == {name: str(tmp_path / "out" / "hf" / name) for name in ("discriminator", "generator")}
    for path in written.values():
        assert {"config.json", "model.safetensors", "vocab.txt"} <= set(os.listdir(path))
        assert not [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".tmp")]  # nothing left behind
    with open(os.path.join(written["generator"], "config.json"), encoding="utf-8") as f:
        gen_config = json.load(f)
    assert gen_config["architectures"] == ["ElectraForMaskedLM"]
    assert gen_config["hidden_size"] == (24 if not changes else 32)

    rng = np.random.default_rng(3)
    ids = rng.integers(5, 61, size=(2, 12)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 8:], ids[1, 8:] = 0, 0
    types = np.zeros_like(ids)
    types[:, 6:] = 1
    disc, gen = _keras_logits(model, ids, mask, types)
    hf_disc = _torch_logits(written["discriminator"], "ElectraForPreTraining", ids, mask, types)
    hf_gen = _torch_logits(written["generator"], "ElectraForMaskedLM", ids, mask, types)
    valid = mask.astype(bool)
    np.testing.assert_allclose(hf_disc[valid], disc[valid], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hf_gen[valid], gen[valid], rtol=1e-5, atol=1e-5)


def test_export_hf_hparam_writes_both_networks_after_training(data_dir):  # noqa: F811
    """"export_hf": true (default false: the original's outputs only) writes the HF folders at the
    end of training; the discriminator equals the TF1 output's."""
    import electra_tf as et

    assert PretrainingConfig("m", str(data_dir)).export_hf is False
    _run(data_dir, "hf_export", dict(E2E, num_train_steps=1, export_hf=True))
    model_dir = data_dir / "models" / "hf_export"
    ids = np.array([[2, 40, 41, 42, 43, 3, 50, 51, 3, 0]], "int32")
    mask, types = (ids > 0).astype("int32"), np.array([[0] * 6 + [1] * 3 + [0]], "int32")
    tf1 = et.TFElectraForPreTraining.from_pretrained(str(model_dir))
    expected = tf1(ids, attention_mask=mask, token_type_ids=types)["logits"].numpy()
    hf = _torch_logits(model_dir / "hf" / "discriminator", "ElectraForPreTraining", ids, mask, types)
    np.testing.assert_allclose(hf[mask > 0], expected[mask > 0], rtol=1e-5, atol=1e-5)
    assert (model_dir / "hf" / "generator" / "model.safetensors").is_file()
