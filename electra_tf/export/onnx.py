"""ONNX export through tf2onnx, with optional int8 dynamic quantization (onnxruntime's quantizer).

The graph takes the token-id inputs of ``signature.py`` (dynamic batch and length) and returns the
model's named outputs: ``logits`` for classifiers and taggers (emissions for a CRF tagger, at
``labeled_positions``); for QA, ``start_logits``/``end_logits`` (HF head) or, with the original
head, its beam outputs (``start_top_log_probs``, ``start_top_index``, ``end_top_log_probs``,
``end_top_index``), ``start_logits`` and ``answerable_logit`` — the same dict the Keras model returns.

Dimension names: tf2onnx calls every dynamic dimension ``unk__N``. They are renamed after the
conversion: the inputs' ``batch`` and ``sequence`` (``positions`` for ``labeled_positions``), and
each output dimension by what it follows when the graph runs on two different input sizes
(``batch``, ``sequence``, ``positions``; any other dynamic one ``<output>_<axis>``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Dict, List, Optional, Union

import numpy as np

from electra_tf.export.signature import input_specs, token_id_function
from electra_tf.export.extras import require

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


def _dimension_names(function, specs, longest: int) -> Dict[str, List[str]]:
    """``{output: [dimension name per axis]}`` found by running ``function`` on two input sizes
    whose batch, sequence and positions counts all differ: an axis that follows one of them is
    named after it, any other ``<output>_<axis>`` (used only where the graph's axis is dynamic)."""
    names = [spec.name for spec in specs]
    probes = ({"batch": 2, "sequence": min(31, longest), "positions": 5},
              {"batch": 3, "sequence": min(27, longest - 1), "positions": 7})
    shapes = []
    for sizes in probes:
        arrays = []
        for name, spec in zip(names, specs):
            if name == "labeled_positions":
                arrays.append(np.ones((sizes["batch"], sizes["positions"]), spec.dtype.as_numpy_dtype))
            elif name == "attention_mask":
                arrays.append(np.ones((sizes["batch"], sizes["sequence"]), spec.dtype.as_numpy_dtype))
            else:
                arrays.append(np.zeros((sizes["batch"], sizes["sequence"]), spec.dtype.as_numpy_dtype))
        shapes.append({k: tuple(v.shape) for k, v in function(*arrays).items()})
    result = {}
    for output, first in shapes[0].items():
        axes = []
        for axis, (a, b) in enumerate(zip(first, shapes[1][output])):
            axes.append(next((label for label in ("batch", "sequence", "positions")
                              if (a, b) == (probes[0][label], probes[1][label])), f"{output}_{axis}"))
        result[output] = axes
    return result


def name_dimensions(model, outputs: Dict[str, List[str]]) -> None:
    """Rename the ``unk__N`` dimensions of ``model`` (an ONNX ModelProto, in place): inputs
    ``[batch, sequence]`` (``[batch, positions]`` for labeled_positions), outputs as ``outputs``
    gives them (an output it does not list: its first axis ``batch``, the rest left as tf2onnx
    named them)."""
    for value in model.graph.input:
        wanted = ["batch", "positions" if value.name == "labeled_positions" else "sequence"]
        _rename(value, wanted)
    for value in model.graph.output:
        _rename(value, outputs.get(value.name, ["batch"]))


def _rename(value, wanted: List[str]) -> None:
    for dim, name in zip(value.type.tensor_type.shape.dim, wanted):
        if dim.HasField("dim_param") or not dim.HasField("dim_value"):
            dim.dim_param = name


def export_onnx(model, path: Union[str, "OutputTarget"], id_dtype: str = "int32",  # noqa: F821
                labeled_positions: Optional[bool] = None, quantize: Optional[str] = None,
                opset: int = DEFAULT_OPSET) -> str:
    """Write ``model`` (a Keras ELECTRA model) as an ONNX file at ``path`` (a path, ``-`` for
    stdout, or a checked electra_tf.utils.output_targets target); ``quantize="int8"`` writes the
    dynamically quantized model instead. The file appears only when complete. Returns the path
    as given."""
    from electra_tf.utils.output_targets import OutputTarget, output_file

    onnx = require("onnx")
    tf2onnx = require("tf2onnx")
    if quantize not in (None, "int8"):
        from electra_tf.errors import ConfigError

        raise ConfigError(f"Unknown quantization {quantize!r}; ONNX supports 'int8'.")
    target = path if isinstance(path, OutputTarget) else output_file(path)
    specs = input_specs(model, id_dtype, labeled_positions=labeled_positions)
    function = token_id_function(model, specs)
    folder = target.scratch_folder()
    if folder:
        os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".onnx_export_") as tmp:
        fp32 = os.path.join(tmp, "model.onnx")
        with _without_reshape_optimizer():
            proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=opset,
                                                     custom_op_handlers={"Erfc": (_erfc_as_one_minus_erf, [])})
        try:
            outputs = _dimension_names(function, specs, model.config.max_position_embeddings)
        except Exception:  # noqa: BLE001 - a model the probe sizes do not fit: outputs get "batch" only
            outputs = {}
        name_dimensions(proto, outputs)
        onnx.save(proto, fp32)  # written once, with its dimensions named
        final = quantize_int8(fp32, os.path.join(tmp, "model.int8.onnx")) if quantize == "int8" else fp32
        target.install(final)
    return target.given
