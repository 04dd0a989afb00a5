"""electra-tf: ELECTRA fine-tuning on TensorFlow 2 / Keras 3, faithful to the original recipe."""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from electra_tf.config import PRESETS, ElectraConfig  # noqa: E402
from electra_tf.errors import CheckpointError, ConfigError, DataError, ElectraError  # noqa: E402
from electra_tf.modeling.models import (  # noqa: E402
    MODEL_CLASSES,
    ElectraPreTrainedModel,
    TFElectraForMaskedLM,
    TFElectraForPreTraining,
    TFElectraForQuestionAnswering,
    TFElectraForSequenceClassification,
    TFElectraForTokenClassification,
    TFElectraModel,
)

__version__ = "0.1.0"

__all__ = [
    "ElectraConfig", "PRESETS", "ElectraError", "ConfigError", "CheckpointError", "DataError",
    "ElectraPreTrainedModel", "TFElectraModel", "TFElectraForSequenceClassification",
    "TFElectraForTokenClassification", "TFElectraForQuestionAnswering", "TFElectraForPreTraining",
    "TFElectraForMaskedLM", "MODEL_CLASSES",
]
