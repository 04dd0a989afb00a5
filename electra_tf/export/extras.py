"""Optional dependencies ("extras"): import one, or fail with a message naming the extra to install.

The base install stays lean; ONNX export/inference needs ``pip install electra-tf[onnx]``
(tf2onnx, onnx, onnxruntime) and LiteRT needs ``pip install electra-tf[litert]`` (ai-edge-litert).
"""

from __future__ import annotations

import importlib

from electra_tf.errors import ElectraError


class MissingExtraError(ElectraError, ImportError):
    """An optional dependency of the feature in use is not installed."""


#: module -> (extra, what needs it)
EXTRAS = {
    "tf2onnx": ("onnx", "ONNX export"),
    "onnx": ("onnx", "ONNX export"),
    "onnxruntime": ("onnx", "ONNX Runtime inference and int8 quantization"),
    "onnxruntime.quantization": ("onnx", "int8 quantization of ONNX models"),
    "ai_edge_litert.interpreter": ("litert", "LiteRT inference"),
}


def require(module: str):
    """Import ``module`` (one of ``EXTRAS``) or raise MissingExtraError naming the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra, what = EXTRAS.get(module, (None, "this feature"))
        hint = f"pip install electra-tf[{extra}]" if extra else f"pip install {module}"
        raise MissingExtraError(f"{what} needs the Python package {module.split('.')[0]!r} ({e}); "
                                f"install it with: {hint}") from None
