"""SentencePreprocessor: sentence(-pair) examples -> [CLS] a [SEP] (b [SEP]) features.

Built from plain settings (tokenizer, max_seq_length, labels, problem), so the runner and
predict.py (from a saved model's config) featurize text the same way.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from electra_tf.finetuning.features import encode_pairs, gc_paused, tokenizer_cache_fields, unknown_token_counters
from electra_tf.finetuning.task import Example, Features

logger = logging.getLogger("electra_tf")

PROBLEMS = ("single_label", "multi_label", "regression")


class SentencePreprocessor:
    """Features ``input_ids``/``input_mask``/``segment_ids`` plus ``<task>_eid`` and the label
    (``<task>_label_ids``: an index or a multi-hot vector; ``<task>_targets`` for regression).
    A ``task.Preprocessor``."""

    def __init__(self, tokenizer, max_seq_length: int, task_name: str, labels: Optional[Sequence[str]] = None,
                 problem: str = "single_label", log_examples: bool = False):
        if problem not in PROBLEMS:
            raise ValueError(f"problem must be one of {PROBLEMS}, got {problem!r}")
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.task_name = task_name
        self.problem = problem
        self.log_examples = log_examples
        self.set_labels(labels or [])

    def set_labels(self, labels: Sequence[str]) -> None:
        """The label list (inferred labels are known only after the reader has read them)."""
        self.labels = list(labels)
        self.label_map = {label: i for i, label in enumerate(self.labels)}

    @property
    def num_labels(self) -> int:
        return 1 if self.problem == "regression" else len(self.labels)

    def cache_fields(self) -> Dict[str, Any]:
        return {"max_seq_length": self.max_seq_length, "problem": self.problem, "labels": self.labels,
                **tokenizer_cache_fields(self.tokenizer)}

    def feature_spec(self):
        n = self.task_name
        spec = {f"{n}_eid": ((), "int64")}
        if self.problem == "regression":
            spec[f"{n}_targets"] = ((), "float32")
        elif self.problem == "multi_label":
            spec[f"{n}_label_ids"] = ((self.num_labels,), "float32")
        else:
            spec[f"{n}_label_ids"] = ((), "int64")
        return spec

    def encode(self, texts_a: List[str], texts_b: List[Optional[str]], counters: Optional[Dict[str, int]] = None):
        """(input_ids, input_mask, segment_ids) arrays [n, max_seq_length] of text pairs;
        ``counters`` (a dict) receives the texts' token and [UNK] counts."""
        tok = self.tokenizer
        has_b = np.array([b is not None for b in texts_b], bool)
        ids_a, lengths_a = tok.encode_batch_flat(texts_a)
        ids_b, lengths_b = None, None
        if has_b.any():
            ids_b, lengths_present = tok.encode_batch_flat([b for b in texts_b if b is not None])
            lengths_b = np.zeros(len(texts_a), np.int64)
            lengths_b[has_b] = lengths_present
        if counters is not None:
            ids = ids_a if ids_b is None else np.concatenate([ids_a, ids_b])
            counters.update(unknown_token_counters(ids, tok.special_id("[UNK]")))
        return encode_pairs(ids_a, lengths_a, ids_b, lengths_b, has_b, tok.special_id("[CLS]"), tok.special_id("[SEP]"),
                            self.max_seq_length)

    @gc_paused
    def featurize(self, examples: List[Example], is_training: bool) -> Features:
        n = self.task_name
        features = Features()
        input_ids, input_mask, segment_ids = self.encode([e.fields["text_a"] for e in examples],
                                                         [e.fields["text_b"] for e in examples], features.counters)
        for ex, ids, mask, segments in zip(examples, input_ids, input_mask, segment_ids):
            feature = {"input_ids": ids, "input_mask": mask, "segment_ids": segments, f"{n}_eid": ex.eid}
            label = ex.fields["label"]
            if self.problem == "regression":
                feature[f"{n}_targets"] = float(label)
            elif self.problem == "multi_label":
                multi_hot = np.zeros(self.num_labels, np.float32)
                for lab in label:
                    multi_hot[self.label_map[lab]] = 1.0
                feature[f"{n}_label_ids"] = multi_hot
            else:
                feature[f"{n}_label_ids"] = self.label_map[label]
            if self.log_examples and ex.eid < 1:
                tokens = self.tokenizer.convert_ids_to_tokens(ids[: int(mask.sum())])
                logger.info("Example %s/%d: tokens %s, label %s", n, ex.eid, " ".join(tokens), label)
            features.append(feature)
        return features
