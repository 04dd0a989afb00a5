"""The classification family as a model directory sees it (see finetuning/families.py)."""

from __future__ import annotations

from electra_tf.finetuning.classification.predict import OUTPUT_FORMATS, predict  # noqa: F401
from electra_tf.finetuning.classification.settings import ClassificationSettings

SETTINGS = ClassificationSettings


def build_preprocessor(meta, tokenizer, task_name: str):
    """The SentencePreprocessor training used (its problem and text windows from the settings)."""
    from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor

    s = SETTINGS.from_dict(meta.settings)
    return SentencePreprocessor(tokenizer, meta.max_seq_length, task_name, meta.labels, s.resolved_problem(),
                                text_windows=bool(s.text_windows), window_stride=s.window_stride)


def fallback_settings(config) -> dict:
    """The section of a classifier without task.json: a one-output model is a regression."""
    return {"problem": "regression" if config.num_labels == 1 else "single_label"}
