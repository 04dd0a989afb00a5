"""Reading and writing checkpoints: one class per format (HuggingFace, original TF1, our Keras
format, the fine-tuning training checkpoint) in one registry (``registry.py``)."""

from electra_tf.checkpoints.loading import detect_layout
from electra_tf.checkpoints.registry import (
    FORMATS,
    default_model_type,
    detect_format,
    get_format,
    read_checkpoint,
    save_model,
    writable_names,
)
from electra_tf.checkpoints.state import LoadReport, assign_state, model_state

__all__ = ["FORMATS", "default_model_type", "detect_format", "detect_layout", "get_format", "read_checkpoint",
           "save_model", "writable_names", "LoadReport", "assign_state", "model_state"]
