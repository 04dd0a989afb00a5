"""LiteRT (TFLite) export with TensorFlow's converter, run with ``ai_edge_litert``'s interpreter.

The flatbuffer has one signature (``serving_default``) with the token-id inputs of
``signature.py``; the length is dynamic unless ``length`` fixes it (mobile runtimes prefer a fixed
shape; the batch stays dynamic). Only TFLite builtin ops are used, so no Flex delegate is needed.
"""

from __future__ import annotations

from typing import Optional, Union

import tensorflow as tf

from electra_tf.export.signature import input_specs, token_id_function


def litert_flatbuffer(model, id_dtype: str = "int32", length: Optional[int] = None,
                      labeled_positions: Optional[bool] = None, quantize: Optional[str] = None) -> bytes:
    """The converted model as bytes; ``quantize="int8"``: dynamic-range int8 weights."""
    if quantize not in (None, "int8"):
        from electra_tf.errors import ConfigError

        raise ConfigError(f"Unknown quantization {quantize!r}; LiteRT supports 'int8'.")
    specs = input_specs(model, id_dtype, length=length, labeled_positions=labeled_positions)
    function = token_id_function(model, specs)
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Weights frozen into constants here: left to the converter, some Keras 3 variables stay
    # READ_VARIABLE ops that the interpreter cannot resolve.
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    names = sorted(function.get_concrete_function().structured_outputs)

    @tf.function(input_signature=specs)
    def serve(*inputs):  # the frozen graph again, with the output names
        return dict(zip(names, frozen(*inputs)))

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def export_litert(model, path: Union[str, "OutputTarget"], id_dtype: str = "int32",  # noqa: F821
                  length: Optional[int] = None, labeled_positions: Optional[bool] = None,
                  quantize: Optional[str] = None) -> str:
    """Write ``model`` as a ``.tflite`` file at ``path`` (a path, ``-`` for stdout, or a checked
    electra_tf.utils.output_targets target; a file is written atomically). Returns the path as given."""
    from electra_tf.utils.output_targets import OutputTarget, output_file

    target = path if isinstance(path, OutputTarget) else output_file(path)
    target.write_bytes(litert_flatbuffer(model, id_dtype, length, labeled_positions, quantize))
    return target.given
