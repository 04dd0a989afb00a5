"""Find out what a checkpoint path holds and read it (kept for existing callers).

The formats and their detection live in ``registry.py``; these names forward to it.
"""

from __future__ import annotations

from electra_tf.checkpoints.registry import default_model_type, detect_format, read_checkpoint

HF, KERAS, TF1, TRAINING = "hf", "keras", "tf1", "training"


def detect_layout(path: str) -> str:
    """The name of the format of the checkpoint at ``path`` ("hf", "keras", "training", "tf1")."""
    return detect_format(path).name


__all__ = ["HF", "KERAS", "TF1", "TRAINING", "default_model_type", "detect_layout", "read_checkpoint"]
