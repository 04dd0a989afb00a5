"""Our own Keras format: a directory with ``config.json`` and ``model.weights.h5``.

``config.json`` is HuggingFace-compatible plus an ``electra_tf`` entry recording the head and
the model type; the weights file is Keras 3's own ``save_weights`` output, so saving and
loading the same model class is bit-exact. Loading into another class (e.g. a pre-trained
discriminator into a classifier) goes through the canonical state.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Tuple

import numpy as np

from electra_tf.errors import CheckpointError
from electra_tf.io_utils import atomic_output_path

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
    from electra_tf.io_utils import atomic_write_json

    atomic_write_json(path, data)
    return directory


def read_keras_directory(directory: str) -> Tuple[object, Dict[str, np.ndarray]]:
    """Return (config, canonical state) of a directory written by write_keras_directory."""
    from electra_tf.config import ElectraConfig
    from electra_tf.modeling.models import MODEL_CLASSES
    from electra_tf.checkpoints.state import model_state

    config_path = os.path.join(directory, "config.json")
    config = ElectraConfig.from_json_file(config_path)
    with open(config_path, encoding="utf-8") as f:
        model_type = json.load(f).get("electra_tf", {}).get("model_type")
    if model_type not in MODEL_CLASSES:
        raise CheckpointError(
            f"{config_path}: electra_tf.model_type is {model_type!r}; expected one of {', '.join(MODEL_CLASSES)}. "
            f"Was this directory written by electra-tf?"
        )
    model = MODEL_CLASSES[model_type](config).build_with_dummy_inputs()
    weights = os.path.join(directory, KERAS_WEIGHTS)
    try:
        model.load_weights(weights)
    except Exception as e:  # Keras raises ValueError/OSError with long internal messages
        raise CheckpointError(
            f"{weights}: cannot load Keras weights ({str(e).splitlines()[0]}); the file is corrupt, truncated "
            f"or does not fit {config_path}."
        ) from None
    return config, model_state(model)
