"""What a model directory's metadata describes, beyond the model: its family's typed settings
(``family_settings``) and the preprocessor training used (``build_preprocessor``).

This module knows the families (it imports their folders), so it ranks above ``finetuning``;
``model_dir.metadata`` below it does not.
"""

from __future__ import annotations

from electra_tf.model_dir.metadata import (FAMILIES, FORMAT_VERSION, METADATA_FILE, MODEL_TYPE_FAMILY,  # noqa: F401
                                           TaskMetadata)


def settings_class(family: str):
    """The settings dataclass of ``family`` (its ``finetuning/<family>/settings.py``)."""
    if family == "classification":
        from electra_tf.finetuning.classification.settings import ClassificationSettings

        return ClassificationSettings
    if family == "tagging":
        from electra_tf.finetuning.tagging.settings import TaggingSettings

        return TaggingSettings
    from electra_tf.finetuning.qa.settings import QASettings

    return QASettings


def family_settings(meta: TaskMetadata):
    """The metadata's family section, typed (defaults for the keys it does not record)."""
    return settings_class(meta.family).from_dict(meta.settings)


def check_qa_lengths(meta: TaskMetadata) -> None:
    """A QA section must record the lengths training used (they decide the windows)."""
    s = meta.settings
    missing = [key for key in ("max_query_length", "doc_stride") if not isinstance(s.get(key), int) or s[key] < 1]
    if missing:
        from electra_tf.errors import CheckpointError

        raise CheckpointError(f"{meta.source}: the qa section needs {' and '.join(missing)} (positive integers, the "
                              f"values training used); re-export the model, add them, or pass --max-query-length and --doc-stride to predict.")


def build_preprocessor(meta: TaskMetadata, tokenizer, task_name: str):
    """The preprocessor training used, rebuilt from the metadata (features named ``task_name_*``)."""
    if meta.family == "qa":
        check_qa_lengths(meta)
    s = family_settings(meta)
    if meta.family == "classification":
        from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor

        return SentencePreprocessor(tokenizer, meta.max_seq_length, task_name, meta.labels, s.resolved_problem())
    if meta.family == "tagging":
        from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor, word_tokenizer

        lowercase = s.word_lowercase(meta.do_lower_case)
        return TaggingPreprocessor(word_tokenizer(tokenizer, lowercase), meta.max_seq_length, task_name, meta.labels,
                                   truncation=s.truncation, label_all_tokens=s.label_all_tokens,
                                   segment_id=s.segment_id, window_overlap=s.window_overlap, lowercase=lowercase)
    from electra_tf.finetuning.qa.preprocessor import QAPreprocessor

    return QAPreprocessor(tokenizer, meta.max_seq_length, s.max_query_length, s.doc_stride, task_name, s.answer_mode)
