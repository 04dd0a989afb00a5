"""Write a model in one of the registered writable formats (kept for existing callers)."""

from __future__ import annotations

from electra_tf.checkpoints.registry import save_model, writable_names

FORMATS = writable_names()

__all__ = ["FORMATS", "save_model"]
