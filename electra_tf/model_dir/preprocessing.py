"""What a model directory's metadata describes, beyond the model: its family's typed settings
(``family_settings``) and the preprocessor training used (``build_preprocessor``), both from the
family's ``finetuning/<family>/family.py``.

This module knows the families, so it ranks above ``finetuning``; ``model_dir.metadata`` below
it does not.
"""

from __future__ import annotations

from electra_tf.finetuning.families import family_module
from electra_tf.model_dir.metadata import (FAMILIES, FORMAT_VERSION, METADATA_FILE, MODEL_TYPE_FAMILY,  # noqa: F401
                                           TaskMetadata)


def settings_class(family: str):
    """The settings dataclass of ``family`` (its ``finetuning/<family>/settings.py``)."""
    return family_module(family).SETTINGS


def family_settings(meta: TaskMetadata):
    """The metadata's family section, typed (defaults for the keys it does not record)."""
    return settings_class(meta.family).from_dict(meta.settings)


def build_preprocessor(meta: TaskMetadata, tokenizer, task_name: str):
    """The preprocessor training used, rebuilt from the metadata (features named ``task_name_*``)."""
    return family_module(meta.family).build_preprocessor(meta, tokenizer, task_name)
