"""Reading and writing checkpoints: HuggingFace, original TF1 and our Keras format."""

from electra_tf.checkpoints.loading import detect_layout, load_pretrained, read_checkpoint
from electra_tf.checkpoints.saving import save_model
from electra_tf.checkpoints.state import LoadReport, assign_state, model_state

__all__ = ["detect_layout", "load_pretrained", "read_checkpoint", "save_model", "LoadReport", "assign_state", "model_state"]
