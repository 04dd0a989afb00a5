"""Run an ELECTRA model on token ids with TensorFlow, ONNX Runtime or LiteRT.

    backend = load_backend("onnx", "model_dir/model.onnx")   # or ("tf", "model_dir"), ("litert", ...)
    outputs = backend.run(input_ids, attention_mask, token_type_ids)   # {"logits": np.ndarray, ...}

Every backend takes int32 or int64 NumPy arrays [batch, length] (taggers also ``labeled_positions``
[batch, positions]) and returns the model's named outputs as NumPy arrays: the names and
meaning of the Keras model's output dict (see electra_tf/export/onnx.py).
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import numpy as np

from electra_tf.errors import ConfigError
from electra_tf.export.extras import require
from electra_tf.export.formats import DEFAULT_FILES  # where load_backend looks in a folder

KINDS = ("tf", "onnx", "litert")


class Backend:
    """The interface: ``run(input_ids, attention_mask, token_type_ids, labeled_positions=None)``."""

    kind = ""

    def run(self, input_ids, attention_mask, token_type_ids, labeled_positions=None) -> Dict[str, np.ndarray]:
        raise NotImplementedError

    @staticmethod
    def _inputs(input_ids, attention_mask, token_type_ids, labeled_positions):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if labeled_positions is not None:
            inputs["labeled_positions"] = labeled_positions
        return {k: np.asarray(v) for k, v in inputs.items()}


class TFBackend(Backend):
    """A Keras ELECTRA model (``model``) called in inference mode."""

    kind = "tf"

    def __init__(self, model):
        self.model = model

    def run(self, input_ids, attention_mask, token_type_ids, labeled_positions=None):
        inputs = {k: v.astype("int32") for k, v in self._inputs(input_ids, attention_mask, token_type_ids,
                                                                 labeled_positions).items()}
        kwargs = {"labeled_positions": inputs["labeled_positions"]} if labeled_positions is not None else {}
        outputs = self.model(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                             token_type_ids=inputs["token_type_ids"], training=False, **kwargs)
        return {k: np.asarray(v) for k, v in outputs.items() if not isinstance(v, (tuple, list))}


class OnnxBackend(Backend):
    """An ONNX Runtime CPU session over an exported ``.onnx`` file (fp32 or int8)."""

    kind = "onnx"

    def __init__(self, path: str, threads: Optional[int] = None):
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = path
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_types = {i.name: (np.int64 if "int64" in i.type else np.int32) for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, input_ids, attention_mask, token_type_ids, labeled_positions=None):
        inputs = self._inputs(input_ids, attention_mask, token_type_ids, labeled_positions)
        _check_positions(self.path, set(self.input_types), labeled_positions)
        feed = {k: v.astype(self.input_types[k]) for k, v in inputs.items() if k in self.input_types}
        return dict(zip(self.output_names, self.session.run(self.output_names, feed)))


class LiteRTBackend(Backend):
    """An ``ai_edge_litert`` interpreter over an exported ``.tflite`` file (its one signature).

    A file exported with a fixed length gets its inputs right-padded to that length (padding is
    masked, so it changes no output) and its per-position outputs cut back to the input's length.
    """

    kind = "litert"

    def __init__(self, path: str, threads: Optional[int] = None):
        interpreter_module = require("ai_edge_litert.interpreter")
        self.path = path
        self.interpreter = interpreter_module.Interpreter(model_path=path, num_threads=threads)
        signatures = self.interpreter.get_signature_list()
        self.signature = next(iter(signatures))
        self.runner = self.interpreter.get_signature_runner(self.signature)
        details = self.runner.get_input_details()
        self.input_types = {k: d["dtype"] for k, d in details.items()}
        # shape_signature -1 is a dynamic dimension; a positive length is fixed at export
        length = int(details["input_ids"]["shape_signature"][1])
        self.fixed_length = length if length > 0 else None

    def run(self, input_ids, attention_mask, token_type_ids, labeled_positions=None):
        inputs = self._inputs(input_ids, attention_mask, token_type_ids, labeled_positions)
        _check_positions(self.path, set(self.input_types), labeled_positions)
        n = inputs["input_ids"].shape[1]
        if self.fixed_length is not None:
            if n > self.fixed_length:
                raise ConfigError(f"{self.path} was exported for {self.fixed_length} tokens; this batch has {n}. "
                                  "Lower --max-seq-length or export with a longer (or dynamic) length.")
            for k in ("input_ids", "attention_mask", "token_type_ids"):
                inputs[k] = np.pad(inputs[k], ((0, 0), (0, self.fixed_length - n)))
        feed = {k: v.astype(self.input_types[k]) for k, v in inputs.items() if k in self.input_types}
        outputs = {k: np.array(v) for k, v in self.runner(**feed).items()}
        if self.fixed_length is not None and n < self.fixed_length:
            outputs = {k: (v[:, :n] if "top" not in k and v.ndim >= 2 and v.shape[1] == self.fixed_length else v)
                       for k, v in outputs.items()}
        return outputs


def _check_positions(path, input_names, labeled_positions):
    wants = "labeled_positions" in input_names
    if wants and labeled_positions is None:
        raise ConfigError(f"{path} takes labeled_positions (a tagger export); pass them.")
    if not wants and labeled_positions is not None:
        raise ConfigError(f"{path} was exported without labeled_positions; export it again with them "
                          "(the default for taggers) or gather the per-token logits yourself.")


def exported_file(kind: str, path: str) -> str:
    """The exported file of ``kind`` for ``path``: the file itself, or DEFAULT_FILES[kind] in a folder."""
    if os.path.isdir(path):
        candidate = os.path.join(path, DEFAULT_FILES[kind])
        if not os.path.isfile(candidate):
            raise ConfigError(f"No {DEFAULT_FILES[kind]} in {path}; write one with: python -m electra_tf.export "
                              f"--model {path} --output {candidate} --format {kind}")
        return candidate
    if not os.path.isfile(path):
        raise ConfigError(f"{kind} model file not found: {path}")
    return path


def load_backend(kind: str, path: str, model=None, threads: Optional[int] = None) -> Backend:
    """A backend of ``kind`` ("tf", "onnx", "litert") for ``path``: a model directory (tf; onnx and
    litert look for DEFAULT_FILES there) or an exported file. ``model``: an already loaded Keras
    model for "tf" (saves loading it twice)."""
    if kind not in KINDS:
        raise ConfigError(f"Unknown backend {kind!r}; choose one of {', '.join(KINDS)}.")
    if kind == "tf":
        if model is None:
            from electra_tf.checkpoints.registry import default_model_type
            from electra_tf.modeling.models import MODEL_CLASSES

            model = MODEL_CLASSES[default_model_type(path)].from_pretrained(path)
        return TFBackend(model)
    file = exported_file(kind, path)
    return OnnxBackend(file, threads) if kind == "onnx" else LiteRTBackend(file, threads)
