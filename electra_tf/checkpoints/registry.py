"""The table of checkpoint formats, and the entry points that pick a format from it.

Adding a format = one ``CheckpointFormat`` subclass + one line in ``FORMATS``. Everything that
chooses a format goes through here: ``from_pretrained`` / ``save_pretrained`` (modeling),
the fine-tuning runner (``finetuning/model_config.py``) and ``convert/convert_checkpoint.py`` (its ``--to``
choices are ``writable_names()``, its input is detected).
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from electra_tf.checkpoints.base import CheckpointFormat
from electra_tf.checkpoints.hf import HFFormat
from electra_tf.checkpoints.keras_format import KerasFormat
from electra_tf.checkpoints.tf1 import TF1Format
from electra_tf.checkpoints.training import TrainingCheckpointFormat
from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError, ConfigError

# Detection order: the first format whose detect() accepts a path reads it. The formats' own
# files do not overlap (tests/test_checkpoint_formats.py), so the order only matters for
# directories holding several (e.g. a Keras and a HF export written into one directory).
FORMATS: Tuple[CheckpointFormat, ...] = (
    KerasFormat(),
    HFFormat(),
    TrainingCheckpointFormat(),
    TF1Format(),
)


def format_names() -> Tuple[str, ...]:
    """Names of all registered formats."""
    return tuple(f.name for f in FORMATS)


def writable_names() -> Tuple[str, ...]:
    """Names of the formats a model can be written in (``save_pretrained(format=...)``, ``--to``)."""
    return tuple(f.name for f in FORMATS if f.writable)


def get_format(name: str) -> CheckpointFormat:
    """The registered format called ``name``; a ConfigError lists the names otherwise."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise ConfigError(f"Unknown checkpoint format {name!r}; use one of {', '.join(writable_names())}.")


def detect_format(path: str) -> CheckpointFormat:
    """The format of the checkpoint at ``path``; a CheckpointError says what was expected."""
    for fmt in FORMATS:
        if fmt.detect(path):
            return fmt
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise CheckpointError(f"Checkpoint not found: {path}")
    raise CheckpointError(
        f"{path}: no checkpoint found. Expected a HuggingFace directory (config.json + model.safetensors, "
        f"pytorch_model.bin or tf_model.h5), an electra-tf directory (model.weights.h5) or an original TF1 "
        f"checkpoint (a 'checkpoint' file or <prefix>.index + <prefix>.data-*)."
    )


def read_checkpoint(
    path: str,
    config: Optional[ElectraConfig] = None,
    model_type: str = "base",
    task_name: Optional[str] = None,
    model_classes: Optional[Mapping[str, type]] = None,
) -> Tuple[ElectraConfig, Dict[str, np.ndarray], Dict[str, str], str]:
    """Return (config, canonical state, skip reasons, format name) for any supported checkpoint.

    ``config`` overrides the one stored with the checkpoint; for TF1 checkpoints without a
    config file it is inferred from the variable shapes and checked against the given one.
    ``model_classes`` (``electra_tf.MODEL_CLASSES``) is needed for our Keras format only.
    """
    fmt = detect_format(path)
    config, state, skipped = fmt.read(path, config=config, model_type=model_type, task_name=task_name,
                                      model_classes=model_classes)
    return config, state, skipped, fmt.name


def default_model_type(path: str) -> str:
    """The model type a checkpoint holds: its architecture (HF), model_type (electra-tf) or head
    (TF1, training checkpoint); a pre-trained checkpoint is "pretraining"."""
    return detect_format(path).model_type(path)


def save_model(model, path: str, format: str = "hf", vocab_file: Optional[str] = None, do_lower_case: bool = True,
               task_name: Optional[str] = None, allow_dropping_heads: bool = False) -> str:
    """Write ``model`` at ``path`` in the registered ``format``; a format ignores the options it
    does not use (vocab_file: hf, tf1, keras; do_lower_case: hf, keras; task_name: tf1;
    allow_dropping_heads: hf)."""
    fmt = get_format(format)
    model.build_with_dummy_inputs()
    return fmt.write(model, path, vocab_file=vocab_file, do_lower_case=do_lower_case, task_name=task_name,
                     allow_dropping_heads=allow_dropping_heads)


def checkpoint_config(path: str) -> Optional[ElectraConfig]:
    """The encoder config stored with (or inferred from) a pre-trained checkpoint of any format.

    TF1 checkpoints without a config file get the config inferred from their shapes; a config
    file beside them is checked against the shapes (a contradiction names the value to fix).
    """
    return detect_format(path).read_config(path, model_type="base")


def load_pretrained_encoder(model, path: str, model_config: ElectraConfig,
                            model_classes: Optional[Mapping[str, type]] = None):
    """Assign the encoder weights of the pre-trained checkpoint ``path`` to ``model`` (e.g. a
    fine-tuning model, whose task heads stay freshly initialised); return the LoadReport.

    ``model_config`` is the config the checkpoint is read with (for fine-tuning the reconciled
    one, ``finetuning.model_config.resolve_model_config``); ``model_classes`` are needed only
    for an electra-tf Keras directory.
    """
    from electra_tf.checkpoints.state import assign_state

    _, state, skipped = detect_format(path).read(path, config=model_config, model_type="base",
                                                 model_classes=model_classes)
    return assign_state(model, state, source=path, skip_reasons=skipped)
