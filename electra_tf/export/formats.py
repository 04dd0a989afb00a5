"""The export formats and the file each writes inside a folder: one table for the export command
(``cli/export.py``) and the inference backends (``backends.py``) that read those files."""

from __future__ import annotations

#: ``--format`` choices of the export command, the default first
FORMATS = ("saved_model", "onnx", "litert")
#: the file an export of each single-file format writes when its ``--output`` is a folder, and the
#: file a backend of that kind looks for in a folder
DEFAULT_FILES = {"onnx": "model.onnx", "litert": "model.tflite"}
