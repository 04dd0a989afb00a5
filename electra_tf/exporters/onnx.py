"""ONNX export through tf2onnx, with optional int8 dynamic quantization (onnxruntime's quantizer).

The graph takes the token-id inputs of ``signature.py`` (dynamic batch and length) and returns the
model's named outputs: ``logits`` for classifiers and taggers (emissions for a CRF tagger, at
``labeled_positions``); for QA, ``start_logits``/``end_logits`` (HF head) or, with the original
head, its beam outputs (``start_top_log_probs``, ``start_top_index``, ``end_top_log_probs``,
``end_top_index``), ``start_logits`` and ``answerable_logit`` — the same dict the Keras model returns.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Optional

import numpy as np

from electra_tf.exporters.signature import input_specs, token_id_function
from electra_tf.extras import require

DEFAULT_OPSET = 17


def _erfc_as_one_minus_erf(ctx, node, name, args):
    """tf2onnx has no Erfc (TensorFlow's exact GELU uses it): rewrite it as 1 - Erf(x)."""
    from tf2onnx import utils

    x = node.input[0]
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(x))
    erf = ctx.make_node("Erf", [x], op_name_scope=node.name)
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
    node.type = "Sub"
    ctx.replace_inputs(node, [one.output[0], erf.output[0]])


@contextlib.contextmanager
def _without_reshape_optimizer():
    """tf2onnx 1.17's reshape optimizer merges the reshapes around a Dense layer's Tensordot into one
    that assumes the wrong rank (ONNX Runtime then fails: "cannot reshape {B*L, H} to {B*L, H, heads,
    size}"); convert with every other optimizer."""
    from tf2onnx import optimizer

    saved = optimizer._optimizers
    optimizer._optimizers = type(saved)((k, v) for k, v in saved.items() if k != "reshape_optimizer")
    try:
        yield
    finally:
        optimizer._optimizers = saved


def quantize_int8(source: str, target: str) -> str:
    """Dynamic int8 quantization of the weights of ``source`` (MatMul/Gemm) into ``target``."""
    quantization = require("onnxruntime.quantization")
    quantization.quantize_dynamic(source, target, weight_type=quantization.QuantType.QInt8)
    return target


def export_onnx(model, path: str, id_dtype: str = "int32", labeled_positions: Optional[bool] = None,
                quantize: Optional[str] = None, opset: int = DEFAULT_OPSET) -> str:
    """Write ``model`` (a Keras ELECTRA model) as an ONNX file at ``path``; ``quantize="int8"``
    writes the dynamically quantized model instead. The file appears only when complete."""
    require("onnx")
    tf2onnx = require("tf2onnx")
    specs = input_specs(model, id_dtype, labeled_positions=labeled_positions)
    function = token_id_function(model, specs)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".onnx_export_") as tmp:
        fp32 = os.path.join(tmp, "model.onnx")
        with _without_reshape_optimizer():
            tf2onnx.convert.from_function(function, input_signature=specs, opset=opset, output_path=fp32,
                                          custom_op_handlers={"Erfc": (_erfc_as_one_minus_erf, [])})
        if quantize == "int8":
            final = quantize_int8(fp32, os.path.join(tmp, "model.int8.onnx"))
        elif quantize:
            from electra_tf.errors import ConfigError

            raise ConfigError(f"Unknown quantization {quantize!r}; ONNX supports 'int8'.")
        else:
            final = fp32
        os.replace(final, path)
    return path
