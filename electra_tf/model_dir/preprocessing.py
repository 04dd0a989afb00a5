"""Task metadata of fine-tuned model directories (defined in electra_tf.model_dir.metadata, which
modeling can import too) and the preprocessor a model directory's metadata describes."""

from __future__ import annotations

from electra_tf.model_dir.metadata import (FAMILIES, FORMAT_VERSION, METADATA_FILE, MODEL_TYPE_FAMILY,  # noqa: F401
                                       TaskMetadata)


def build_preprocessor(meta: TaskMetadata, tokenizer, task_name: str):
    """The preprocessor training used, rebuilt from the metadata (features named ``task_name_*``)."""
    s = meta.settings
    if meta.family == "classification":
        from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor

        return SentencePreprocessor(tokenizer, meta.max_seq_length, task_name, meta.labels, s.get("problem", "single_label"))
    if meta.family == "tagging":
        from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor, word_tokenizer

        lowercase = bool(s.get("lowercase", meta.do_lower_case))
        return TaggingPreprocessor(word_tokenizer(tokenizer, lowercase), meta.max_seq_length, task_name, meta.labels,
                                   truncation=s.get("truncation", "window"), label_all_tokens=s.get("label_all_tokens", False),
                                   segment_id=s.get("segment_id", 1), window_overlap=s.get("window_overlap"),
                                   lowercase=lowercase)
    from electra_tf.finetuning.qa.preprocessor import QAPreprocessor

    missing = [key for key in ("max_query_length", "doc_stride") if not isinstance(s.get(key), int) or s[key] < 1]
    if missing:
        from electra_tf.errors import CheckpointError

        raise CheckpointError(f"{meta.source}: the qa section needs {' and '.join(missing)} (positive integers, the "
                              f"values training used); re-export the model, add them, or pass --max-query-length and --doc-stride to predict.")
    return QAPreprocessor(tokenizer, meta.max_seq_length, s["max_query_length"], s["doc_stride"], task_name,
                          s.get("answer_mode", "offset"))
