"""Our own Keras format: a directory with ``config.json`` and ``model.weights.h5``.

``config.json`` is HuggingFace-compatible plus an ``electra_tf`` entry recording the head and
the model type; the weights file is Keras 3's own ``save_weights`` output, so saving and
loading the same model class is bit-exact. Loading into another class (e.g. a pre-trained
discriminator into a classifier) goes through the canonical state.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Mapping, Tuple

import numpy as np

from electra_tf.checkpoints.base import CheckpointFormat
from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError
from electra_tf.io_utils import atomic_output_path, atomic_write_json

KERAS_WEIGHTS = "model.weights.h5"


def is_keras_directory(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, KERAS_WEIGHTS))


def write_keras_directory(model, directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    with atomic_output_path(os.path.join(directory, KERAS_WEIGHTS)) as tmp:
        model.save_weights(tmp)
    model.config.to_json_file(os.path.join(directory, "config.json"), architectures=[model.hf_architecture])
    # Record the model type so that a reader knows which class wrote the weights.
    path = os.path.join(directory, "config.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data["electra_tf"]["model_type"] = model.model_type
    atomic_write_json(path, data)
    return directory


def read_keras_directory(directory: str, model_classes: Mapping[str, type]) -> Tuple[object, Dict[str, np.ndarray]]:
    """Return (config, canonical state) of a directory written by write_keras_directory.

    Keras weights files are indexed by the writing model's layer structure, so they are read
    through that class: ``model_classes`` (model type -> class, ``electra_tf.MODEL_CLASSES``)
    is passed in by the caller, which keeps this package free of imports of the models.
    """
    from electra_tf.checkpoints.state import model_state

    config_path = os.path.join(directory, "config.json")
    config = ElectraConfig.from_json_file(config_path)
    with open(config_path, encoding="utf-8") as f:
        model_type = json.load(f).get("electra_tf", {}).get("model_type")
    if model_classes is None:
        raise CheckpointError(
            f"{directory}: reading an electra-tf Keras directory needs the model classes (pass "
            f"model_classes=electra_tf.MODEL_CLASSES, or load it with <ModelClass>.from_pretrained)."
        )
    if model_type not in model_classes:
        raise CheckpointError(
            f"{config_path}: electra_tf.model_type is {model_type!r}; expected one of {', '.join(model_classes)}. "
            f"Was this directory written by electra-tf?"
        )
    model = model_classes[model_type](config).build_with_dummy_inputs()
    weights = os.path.join(directory, KERAS_WEIGHTS)
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises ValueError/OSError with long internal messages
        raise CheckpointError(
            f"{weights}: cannot load Keras weights ({str(e).splitlines()[0]}); the file is corrupt, truncated "
            f"or does not fit {config_path}."
        ) from None
    return config, model_state(model)


class KerasFormat(CheckpointFormat):
    """Our electra-tf directory: config.json (with the model type) + Keras 3 model.weights.h5."""

    name = "keras"
    description = "electra-tf directory (config.json + Keras model.weights.h5)"

    def detect(self, path: str) -> bool:
        return is_keras_directory(path)

    def read_config(self, path, model_type="base", config=None, task_name=None):
        return config or ElectraConfig.from_json_file(os.path.join(path, "config.json"))

    def read_state(self, path, config, model_type="base", task_name=None, model_classes=None):
        # The weights are read with the stored config: they were written by the stored class.
        return read_keras_directory(path, model_classes)[1], {}

    def model_type(self, path: str) -> str:
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            data = json.load(f)
        return data.get("electra_tf", {}).get("model_type", "pretraining")

    def write(self, model, path: str, **options) -> str:
        return write_keras_directory(model, path)
