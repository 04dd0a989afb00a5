"""electra-tf: ELECTRA fine-tuning on TensorFlow 2 / Keras 3, faithful to the original recipe.

The public names below are loaded on first use (PEP 562), so that ``import electra_tf.errors``
or a command's ``--help`` does not import TensorFlow (several seconds) before it is needed.
"""

import importlib as _importlib
import os as _os
import sys as _sys

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "tensorflow" not in _sys.modules:
    from electra_tf.utils.onednn import enable_onednn_default as _enable_onednn_default

    _enable_onednn_default()  # TensorFlow's oneDNN kernels on AVX2-only CPUs too (utils/onednn.py)
else:  # too late to choose the kernels: say so where TensorFlow chose the slower ones
    import warnings as _warnings

    from electra_tf.utils.onednn import tensorflow_chose_eigen_notice as _eigen_notice

    _notice = _eigen_notice()
    if _notice:
        _warnings.warn(_notice, stacklevel=2)

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ElectraConfig": "electra_tf.config",
    "PRESETS": "electra_tf.config",
    "ElectraError": "electra_tf.errors",
    "ConfigError": "electra_tf.errors",
    "CheckpointError": "electra_tf.errors",
    "DataError": "electra_tf.errors",
    "MODEL_CLASSES": "electra_tf.modeling.models",
    "ElectraPreTrainedModel": "electra_tf.modeling.models",
    "TFElectraModel": "electra_tf.modeling.models",
    "TFElectraForSequenceClassification": "electra_tf.modeling.models",
    "TFElectraForTokenClassification": "electra_tf.modeling.models",
    "TFElectraForQuestionAnswering": "electra_tf.modeling.models",
    "TFElectraForPreTraining": "electra_tf.modeling.models",
    "TFElectraForMaskedLM": "electra_tf.modeling.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'electra_tf' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
