"""electra-tf: ELECTRA fine-tuning on TensorFlow 2 / Keras 3, faithful to the original recipe."""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from electra_tf.config import PRESETS, ElectraConfig  # noqa: E402
from electra_tf.errors import CheckpointError, ConfigError, DataError, ElectraError  # noqa: E402

_MODEL_NAMES = (
    "MODEL_CLASSES", "ElectraPreTrainedModel", "TFElectraForMaskedLM", "TFElectraForPreTraining",
    "TFElectraForQuestionAnswering", "TFElectraForSequenceClassification", "TFElectraForTokenClassification",
    "TFElectraModel",
)


def __getattr__(name):
    """The model classes, imported on first use (PEP 562): code that only needs a sub-package
    (e.g. the task-agnostic training engine) does not load the models."""
    if name in _MODEL_NAMES:
        from electra_tf.modeling import models

        return getattr(models, name)
    raise AttributeError(f"module 'electra_tf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MODEL_NAMES))


__version__ = "0.1.0"

__all__ = [
    "ElectraConfig", "PRESETS", "ElectraError", "ConfigError", "CheckpointError", "DataError",
    "ElectraPreTrainedModel", "TFElectraModel", "TFElectraForSequenceClassification",
    "TFElectraForTokenClassification", "TFElectraForQuestionAnswering", "TFElectraForPreTraining",
    "TFElectraForMaskedLM", "MODEL_CLASSES",
]
