"""The fine-tuning families as a model directory sees them.

Each family registered in ``model_dir.metadata.MODEL_TYPE_FAMILY`` has a folder
``finetuning/<family>/`` whose ``family.py`` describes it to the model directory's consumers:

* ``SETTINGS``: its task.json section (a ``model_dir.settings.FamilySettings`` dataclass);
* ``build_preprocessor(meta, tokenizer, task_name)``: the preprocessor training used;
* ``fallback_settings(config)``: the section of a directory without task.json, from the model's config;
* ``OUTPUT_FORMATS``, optionally ``SIDE_FILES``, and ``predict(backend, meta, preprocessor,
  request, model)``: its prediction code (``finetuning/<family>/predict.py``, see finetuning.prediction).

``family.py`` imports neither TensorFlow nor NumPy at import time.
"""

from __future__ import annotations

import importlib

from electra_tf.model_dir.metadata import FAMILIES


def family_module(family: str):
    """The ``finetuning/<family>/family.py`` module of a registered family."""
    if family not in FAMILIES:
        raise KeyError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    return importlib.import_module(f"electra_tf.finetuning.{family}.family")
