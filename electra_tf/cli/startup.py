"""Start TensorFlow without its start-up notices.

Importing TensorFlow and creating its first device print several lines to the process's stderr
from C++ (absl's "All log messages before absl::InitializeLog()", "Could not find cuda drivers",
and on every CPU machine "failed call to cuInit: UNKNOWN ERROR (303)"). TF_CPP_MIN_LOG_LEVEL does
not reach the ones printed before logging is initialised, so a user's first screen was seven
lines of noise. ``start_tensorflow()`` runs the import and the device set-up with file descriptor
2 pointing at a temporary file: the notices are dropped when start-up succeeds and replayed when
it fails. ``ELECTRA_TF_VERBOSE=1`` (or ``--verbose`` where a command has it) shows them.

oneDNN: ``import electra_tf`` (which every command does first) sets ``TF_ENABLE_ONEDNN_OPTS=1`` unless
the user set it (``utils/onednn.py``).
"""

from __future__ import annotations

import os
import sys
import tempfile

VERBOSE_ENV = "ELECTRA_TF_VERBOSE"
_started = False


def verbose_requested() -> bool:
    """Whether ELECTRA_TF_VERBOSE asks for TensorFlow's start-up logs (which are hidden otherwise)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes")


def start_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and Keras and initialise the devices, quietly unless ``verbose``."""
    global _started
    if _started:
        return
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if verbose or verbose_requested() or "tensorflow" in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
        _import_and_initialise()
        _started = True
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            _import_and_initialise()
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            captured.seek(0)
            os.write(2, captured.read())  # the notices may explain the failure
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    _started = True


#: Imported by keras when TensorFlow imports it, and not needed by electra-tf at that point:
#: scikit-learn (keras.wrappers; it brings scipy.stats) and matplotlib.pyplot (keras.visualization;
#: the model card's plots import matplotlib's Figure themselves, later). On a 2-core AVX2-only EPYC they were 1.4 s
#: and 0.6 s of a 6-8 s start-up.
_NOT_AT_IMPORT = ("sklearn", "matplotlib")


def _import_and_initialise() -> None:
    import warnings

    # The modules of _NOT_AT_IMPORT are hidden while TensorFlow and keras import (keras then
    # defines its scikit-learn wrapper and its plotting helpers without them) and importable again
    # afterwards (seqeval imports scikit-learn when an NER run scores; finetuning/plots.py imports
    # matplotlib). Side effect, for this process only: keras.wrappers' scikit-learn estimators
    # (SKLearnClassifier, ...) and keras.visualization say their package is missing.
    # Only the command-line tools call start_tensorflow; importing electra_tf does not.
    hidden = [name for name in _NOT_AT_IMPORT if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # an ImportError for `import sklearn`
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # import-time deprecation notices of TF's dependencies
            import tensorflow as tf
            import keras  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]

    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
    # Device discovery (cuInit) happens here, still captured. Physical, not logical devices: listing
    # logical devices initialises the eager context, after which MultiWorkerMirroredStrategy can no
    # longer configure collective ops ("must be configured at program startup").
    tf.config.list_physical_devices()
