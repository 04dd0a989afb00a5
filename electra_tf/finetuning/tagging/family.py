"""The tagging family as a model directory sees it (see finetuning/families.py)."""

from __future__ import annotations

from electra_tf.finetuning.tagging.predict import OUTPUT_FORMATS, predict  # noqa: F401
from electra_tf.finetuning.tagging.settings import TaggingSettings

SETTINGS = TaggingSettings


def build_preprocessor(meta, tokenizer, task_name: str):
    """The TaggingPreprocessor training used (truncation, segment id, windows, lowercasing)."""
    from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor, word_tokenizer

    s = SETTINGS.from_dict(meta.settings)
    lowercase = s.word_lowercase(meta.do_lower_case)
    return TaggingPreprocessor(word_tokenizer(tokenizer, lowercase), meta.max_seq_length, task_name, meta.labels,
                               truncation=s.truncation, label_all_tokens=s.label_all_tokens,
                               segment_id=s.segment_id, window_overlap=s.window_overlap, lowercase=lowercase)


def fallback_settings(config) -> dict:
    """The section of a tagger without task.json: the default segment id."""
    return {"segment_id": SETTINGS.default("segment_id")}
