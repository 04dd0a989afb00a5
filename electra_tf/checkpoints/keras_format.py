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

from electra_tf.checkpoints.base import RESTORE_FIX, CheckpointFormat, recorded_model_type
from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError
from electra_tf.utils.files import atomic_write_bytes, atomic_write_text, read_json_file

KERAS_WEIGHTS = "model.weights.h5"


def is_keras_directory(path: str) -> bool:
    """True for a directory written by ``write_keras_directory`` (it holds the Keras weights file)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, KERAS_WEIGHTS))


def keras_weights_bytes(model) -> bytes:
    """``model.save_weights`` output (a Keras 3 ``.weights.h5``) built in memory.

    Writing the HDF5 file straight to disk crashed the process (a segmentation fault inside
    h5py, exit 139) when the disk filled up or the file-size limit was hit. Built in memory, the
    bytes go to disk through one ordinary atomic write, whose failure is a normal OSError and
    leaves no partial file. Uses Keras' own writer (H5IOStore, _save_state: the code behind
    save_weights), so the file is the one save_weights writes and load_weights reads it.
    """
    import io

    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    store = saving_lib.H5IOStore(buffer, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
    finally:
        store.close()
    return buffer.getvalue()


def write_keras_directory(model, directory: str) -> str:
    """Write ``config.json`` and ``model.weights.h5``; each file is replaced atomically, and both
    are serialized before anything is written."""
    weights = keras_weights_bytes(model)
    data = model.config.to_dict()
    data["architectures"] = [model.hf_architecture]
    # Record the model type so that a reader knows which class wrote the weights.
    data.setdefault("electra_tf", {})["model_type"] = model.model_type
    os.makedirs(directory, exist_ok=True)
    atomic_write_bytes(os.path.join(directory, KERAS_WEIGHTS), weights)
    atomic_write_text(os.path.join(directory, "config.json"), json.dumps(data, indent=2, sort_keys=True) + "\n")
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
    model_type = recorded_model_type(read_json_file(config_path, CheckpointError, RESTORE_FIX))
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
        """True for an electra-tf Keras model directory."""
        return is_keras_directory(path)

    def read_config(self, path, model_type="base", config=None, task_name=None):
        """``config`` if given, else the directory's config.json."""
        return config or ElectraConfig.from_json_file(os.path.join(path, "config.json"))

    def read_state(self, path, config, model_type="base", task_name=None, model_classes=None):
        """The canonical state of the stored model (nothing is skipped)."""
        # The weights are read with the stored config: they were written by the stored class.
        return read_keras_directory(path, model_classes)[1], {}

    def model_type(self, path: str) -> str:
        """The model type recorded in config.json (``electra_tf.model_type``), else "pretraining"."""
        data = read_json_file(os.path.join(path, "config.json"), CheckpointError, RESTORE_FIX)
        return recorded_model_type(data) or "pretraining"

    def write(self, model, path: str, vocab_file=None, do_lower_case: bool = True, **options) -> str:
        """Write ``model`` as a Keras model directory (with the tokenizer files when ``vocab_file``
        is given: a model always travels with its vocabulary); returns the directory."""
        write_keras_directory(model, path)
        if vocab_file:
            from electra_tf.checkpoints.hf import write_tokenizer_files

            write_tokenizer_files(path, vocab_file, do_lower_case)
        return path
