"""Find out what a checkpoint path holds and load it into a model.

Layouts recognised: a HuggingFace directory (config.json + model.safetensors / pytorch_model.bin
/ tf_model.h5) or a bare HF weights file; our Keras directory (model.weights.h5); an original
TF1 checkpoint (a directory with a ``checkpoint`` state file, a directory with one
``*.index``, or a checkpoint prefix).
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Optional, Tuple

import numpy as np

from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError

logger = logging.getLogger("electra_tf")

HF, KERAS, TF1 = "hf", "keras", "tf1"


def detect_layout(path: str) -> str:
    from electra_tf.checkpoints import hf, keras_format, tf1

    if os.path.isfile(path) and path.endswith((".safetensors", ".bin", ".h5", ".pt", ".pth")):
        return HF
    if keras_format.is_keras_directory(path):
        return KERAS
    if os.path.isdir(path) and hf.find_weights_file(path):
        return HF
    if tf1.resolve_checkpoint_prefix(path, must_exist=False):
        return TF1
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
) -> Tuple[ElectraConfig, Dict[str, np.ndarray], Dict[str, str], str]:
    """Return (config, canonical state, skip reasons, layout) for any supported checkpoint.

    ``config`` overrides the one stored with the checkpoint; for TF1 checkpoints without a
    config file it is inferred from the variable shapes and checked against the given one.
    """
    from electra_tf.checkpoints import hf, keras_format, tf1

    layout = detect_layout(path)
    skipped: Dict[str, str] = {}
    if layout == KERAS:
        stored_config, state = keras_format.read_keras_directory(path)
        return config or stored_config, state, skipped, layout
    if layout == HF:
        weights = path if os.path.isfile(path) else hf.find_weights_file(path)
        directory = os.path.dirname(weights)
        if config is None:
            config_path = os.path.join(directory, "config.json")
            if not os.path.isfile(config_path):
                raise CheckpointError(f"{directory}: no config.json beside {os.path.basename(weights)}; pass a config.")
            config = ElectraConfig.from_json_file(config_path)
        return config, hf.read_hf_state(weights), skipped, layout
    config, state, skipped = tf1.read_tf1_checkpoint(path, config=config, model_type=model_type, task_name=task_name)
    return config, state, skipped, layout


def default_model_type(path: str) -> str:
    """The model type a checkpoint holds: its architecture (HF), model_type (electra-tf) or head
    (TF1); a pre-trained checkpoint is "pretraining"."""
    from electra_tf.checkpoints import hf, tf1

    layout = detect_layout(path)
    architectures = []
    if layout in (HF, KERAS):
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        data = hf.read_hf_config_dict(directory) or {}
        if layout == KERAS:
            return data.get("electra_tf", {}).get("model_type", "pretraining")
        architectures = data.get("architectures") or []
        by_arch = {
            "ElectraForSequenceClassification": "sequence-classification",
            "ElectraForTokenClassification": "token-classification",
            "ElectraForQuestionAnswering": "question-answering",
            "ElectraForMaskedLM": "generator",
            "ElectraModel": "base",
        }
        for arch in architectures:
            if arch in by_arch:
                return by_arch[arch]
        return "pretraining"
    if layout == TF1:
        names = tf1.list_tf1_variables(tf1.resolve_checkpoint_prefix(path))
        task_vars = [n for n in names if n.startswith("task_specific/") and not n.endswith(("adam_m", "adam_v"))]
        if any(n.endswith("/qa_hidden/kernel") or n.endswith("/dense_1/kernel") for n in task_vars):
            return "question-answering"
        if task_vars:
            raise CheckpointError(
                f"{path} has a fine-tuned single-dense head (task_specific/...), which can be a classifier or a "
                f"tagger; pass --model-type sequence-classification or token-classification."
            )
        return "pretraining"
    return "pretraining"


def load_pretrained(cls, path: str, config: Optional[ElectraConfig] = None, strict: bool = False,
                    task_name: Optional[str] = None, requested_skips=(), **config_changes):
    """Build ``cls`` with the checkpoint's config (plus changes) and assign its weights.

    ``requested_skips``: reason prefixes (e.g. "generator weights") the user asked to drop, which
    a strict load then accepts.
    """
    from electra_tf.checkpoints.state import assign_state

    config, state, skipped, layout = read_checkpoint(path, config=config, model_type=cls.model_type, task_name=task_name)
    if config_changes:
        config = config.replace(**config_changes)
    model = cls(config).build_with_dummy_inputs()
    report = assign_state(model, state, source=path, strict=strict, skip_reasons=skipped, requested_skips=tuple(requested_skips))
    model.load_report = report
    logger.info(report.summary())
    return model
