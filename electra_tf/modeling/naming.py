"""Canonical weight names.

Every weight of every electra-tf model has one canonical name: the HuggingFace PyTorch
state-dict name (``electra.encoder.layer.0.attention.self.query.weight``) for weights HF has, and
an HF-style name for the original heads HF lacks. Layers list their weights with these
helpers; converters map canonical names to the TF1 and HF TF layouts with string rules.

A ``WeightRef`` keeps the Keras variable and whether it is a dense kernel, whose Keras / TF1
layout ``[in, out]`` is the transpose of PyTorch's ``Linear.weight`` ``[out, in]``.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator


@dataclasses.dataclass(frozen=True)
class WeightRef:
    """One model weight: its canonical (HF PyTorch) name, the Keras variable, kernel-ness."""

    name: str
    variable: object
    is_kernel: bool = False


def dense_weights(prefix: str, layer) -> Iterator[WeightRef]:
    """A Dense layer's kernel (``<prefix>.weight``) and bias (``<prefix>.bias``, if any)."""
    yield WeightRef(f"{prefix}.weight", layer.kernel, True)
    if layer.bias is not None:
        yield WeightRef(f"{prefix}.bias", layer.bias)


def layer_norm_weights(prefix: str, layer) -> Iterator[WeightRef]:
    """A LayerNormalization's gamma and beta as ``<prefix>.weight`` / ``<prefix>.bias``, as HF names them."""
    yield WeightRef(f"{prefix}.weight", layer.gamma)
    yield WeightRef(f"{prefix}.bias", layer.beta)


def embedding_weights(prefix: str, layer) -> Iterator[WeightRef]:
    """An Embedding layer's table as ``<prefix>.weight``."""
    yield WeightRef(f"{prefix}.weight", layer.embeddings)
