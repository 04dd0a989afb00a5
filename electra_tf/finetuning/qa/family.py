"""The QA family as a model directory sees it (see finetuning/families.py)."""

from __future__ import annotations

from electra_tf.finetuning.qa.predict import OUTPUT_FORMATS, SIDE_FILES, predict  # noqa: F401
from electra_tf.finetuning.qa.settings import DEFAULTS, QA_FLAGS, QASettings

SETTINGS = QASettings


def check_lengths(meta) -> None:
    """A QA section must record the lengths training used (they decide the windows)."""
    s = meta.settings
    missing = [key for key in ("max_query_length", "doc_stride") if not isinstance(s.get(key), int) or s[key] < 1]
    if missing:
        from electra_tf.errors import CheckpointError

        raise CheckpointError(f"{meta.source}: the qa section needs {' and '.join(missing)} (positive integers, the "
                              f"values training used); re-export the model, add them, or pass --max-query-length and --doc-stride to predict.")


def build_preprocessor(meta, tokenizer, task_name: str):
    """The QAPreprocessor training used (query length, stride, answer mode)."""
    from electra_tf.finetuning.qa.preprocessor import QAPreprocessor

    check_lengths(meta)
    s = SETTINGS.from_dict(meta.settings)
    return QAPreprocessor(tokenizer, meta.max_seq_length, s.max_query_length, s.doc_stride, task_name, s.answer_mode)


def fallback_settings(config) -> dict:
    """The section of a QA model without task.json: the defaults, the head from its config, and
    v2 when the original head has its answerable classifier."""
    return {**{k: getattr(DEFAULTS, k) for k in QA_FLAGS}, "head": config.head,
            "head_options": dict(config.head_options),
            "v2": config.head == "electra" and config.head_options.get("answerable_classifier", True)}
