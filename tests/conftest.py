"""Shared fixtures: tiny configs, reference HuggingFace PyTorch models, inputs.

Nothing here downloads anything: every checkpoint is built from random weights in the test.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import electra_tf  # noqa: E402,F401  (before keras imports TensorFlow: its oneDNN setting, utils/onednn.py)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from electra_tf.config import ElectraConfig  # noqa: E402

TINY = dict(vocab_size=61, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=40, type_vocab_size=2)


def tiny_config(embedding_size=16, **changes) -> ElectraConfig:
    """A 2-layer ELECTRA; embedding_size 16 != hidden 32 exercises embeddings_project."""
    return ElectraConfig(**{**TINY, "embedding_size": embedding_size, **changes})


def tiny_inputs(batch=3, seq_len=11, vocab=61, seed=0):
    """Ids with two segments and right padding of different lengths."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, seq_len)).astype("int32")
    mask = np.ones_like(ids)
    types = np.zeros_like(ids)
    for b in range(batch):
        length = seq_len - 2 * b
        mask[b, length:] = 0
        ids[b, length:] = 0
        types[b, length // 2:length] = 1
    return ids, mask, types


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Every test starts with the float32 policy and a fixed seed."""
    keras.mixed_precision.set_dtype_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def hf_reference_model(hf_class_name: str, config: ElectraConfig, seed: int = 0):
    """A transformers (PyTorch) ELECTRA model with random, non-trivial weights."""
    import torch
    import transformers

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    hf_config = transformers.ElectraConfig(
        vocab_size=config.vocab_size, embedding_size=config.embedding_size, hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size, hidden_act=config.hidden_act,
        max_position_embeddings=config.max_position_embeddings, type_vocab_size=config.type_vocab_size,
        layer_norm_eps=config.layer_norm_eps, num_labels=config.num_labels,
        hidden_dropout_prob=config.hidden_dropout_prob, attention_probs_dropout_prob=config.attention_probs_dropout_prob,
    )
    model = getattr(transformers, hf_class_name)(hf_config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    model.eval()
    return model


def torch_outputs(model, ids, mask, types, **kwargs):
    import torch

    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(ids, dtype=torch.long),
            attention_mask=torch.tensor(mask, dtype=torch.long),
            token_type_ids=torch.tensor(types, dtype=torch.long),
            **kwargs,
        )
    return out


TINY_MODEL = "electra-tiny"


def copy_tiny_model(data_dir) -> None:
    """Copy the embedded tiny TF1 checkpoint into ``data_dir/models/electra-tiny`` (no run outputs)."""
    import shutil

    shutil.copytree(os.path.join(ROOT, "examples", "data", "models", TINY_MODEL), os.path.join(str(data_dir), "models", TINY_MODEL),
                    ignore=shutil.ignore_patterns("finetuning_*", "results", "test_predictions"))


def make_random_tf1_model(model_dir, words) -> None:
    """A randomly initialised tiny ELECTRA (original TF1 layout) whose vocabulary is ``words``."""
    import electra_tf as et

    os.makedirs(str(model_dir), exist_ok=True)
    with open(os.path.join(str(model_dir), "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(words)) + "\n")
    keras.utils.set_random_seed(0)
    config = et.ElectraConfig(vocab_size=5 + len(words), embedding_size=32, hidden_size=64, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=128, max_position_embeddings=64)
    et.TFElectraForPreTraining(config).save_pretrained(str(model_dir), format="tf1")
