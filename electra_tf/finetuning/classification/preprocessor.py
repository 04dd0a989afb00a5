"""SentencePreprocessor: sentence(-pair) examples -> [CLS] a [SEP] (b [SEP]) features.

Built from plain settings (tokenizer, max_seq_length, labels, problem), so the runner and
predict.py (from a saved model's config) featurize text the same way.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from electra_tf.finetuning.features import (encode_pairs, gc_paused, tokenizer_cache_fields, truncated_pair_lengths,
                                            unknown_token_counters)
from electra_tf.finetuning.task import Example, Features
from electra_tf.finetuning.windows import stride_for, windows

logger = logging.getLogger("electra_tf")

PROBLEMS = ("single_label", "multi_label", "regression")


class SentencePreprocessor:
    """Features ``input_ids``/``input_mask``/``segment_ids`` plus ``<task>_eid`` and the label
    (``<task>_label_ids``: an index or a multi-hot vector; ``<task>_targets`` for regression).
    A ``task.Preprocessor``.

    ``text_windows`` (the hparam; default off: the original's truncation): a text longer than
    the sequence gives overlapping windows ``window_stride`` tokens apart (``finetuning/windows.py``),
    one feature each with the example's eid and label."""

    def __init__(self, tokenizer, max_seq_length: int, task_name: str, labels: Optional[Sequence[str]] = None,
                 problem: str = "single_label", log_examples: bool = False, text_windows: bool = False,
                 window_stride: Optional[int] = None):
        if problem not in PROBLEMS:
            raise ValueError(f"problem must be one of {PROBLEMS}, got {problem!r}")
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.task_name = task_name
        self.problem = problem
        self.log_examples = log_examples
        self.text_windows = bool(text_windows)
        self.window_stride = window_stride
        self.set_labels(labels or [])

    def set_labels(self, labels: Sequence[str]) -> None:
        """The label list (inferred labels are known only after the reader has read them)."""
        self.labels = list(labels)
        self.label_map = {label: i for i, label in enumerate(self.labels)}

    @property
    def num_labels(self) -> int:
        return 1 if self.problem == "regression" else len(self.labels)

    def cache_fields(self) -> Dict[str, Any]:
        fields = {"max_seq_length": self.max_seq_length, "problem": self.problem, "labels": self.labels,
                  **tokenizer_cache_fields(self.tokenizer)}
        if self.text_windows:  # only then: the original's caches keep their keys
            fields.update(text_windows=True, window_stride=self.window_stride)
        return fields

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

    def _token_ids(self, texts_a: List[str], texts_b: List[Optional[str]], counters: Optional[Dict[str, int]]):
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
        return ids_a, lengths_a, ids_b, lengths_b, has_b

    def encode_windows(self, texts_a: List[str], texts_b: List[Optional[str]],
                       counters: Optional[Dict[str, int]] = None):
        """(input_ids, input_mask, segment_ids, example) arrays of the windows of text pairs
        (``example``: each window's index in ``texts_a``). A single text: windows of
        max_seq_length - 2 tokens; a pair: the first text truncated as the original's
        ``_truncate_seq_pair`` against the whole second text, windows over the second text in
        the room left. A text that fits gives one window equal to ``encode``'s features."""
        tok = self.tokenizer
        cls_id, sep_id, L = tok.special_id("[CLS]"), tok.special_id("[SEP]"), self.max_seq_length
        ids_a, lengths_a, ids_b, lengths_b, has_b = self._token_ids(texts_a, texts_b, counters)
        n = len(texts_a)
        if lengths_b is None:
            lengths_b = np.zeros(n, np.int64)
        kept_a, _ = truncated_pair_lengths(np.asarray(lengths_a), lengths_b, has_b, L)
        starts_a = np.cumsum(lengths_a) - lengths_a
        starts_b = np.cumsum(lengths_b) - lengths_b
        rows, example = [], []
        for i in range(n):
            a = ids_a[starts_a[i]:starts_a[i] + lengths_a[i]].tolist()
            if has_b[i]:
                head = [cls_id] + a[:int(kept_a[i])] + [sep_id]
                text, segment = ids_b[starts_b[i]:starts_b[i] + lengths_b[i]].tolist(), 1
                room = L - len(head) - 1
            else:
                head, text, segment, room = [cls_id], a, 0, L - 2
            for start, length in windows(len(text), room, stride_for(room, self.window_stride)):
                tail = text[start:start + length] + [sep_id]
                rows.append((head + tail, [0] * len(head) + [segment] * len(tail)))
                example.append(i)
        input_ids = np.zeros((len(rows), L), np.int32)
        input_mask = np.zeros((len(rows), L), np.int32)
        segment_ids = np.zeros((len(rows), L), np.int32)
        for r, (ids, segments) in enumerate(rows):
            input_ids[r, :len(ids)] = ids
            input_mask[r, :len(ids)] = 1
            segment_ids[r, :len(ids)] = segments
        return input_ids, input_mask, segment_ids, np.asarray(example, np.int64)

    def encode(self, texts_a: List[str], texts_b: List[Optional[str]], counters: Optional[Dict[str, int]] = None):
        """(input_ids, input_mask, segment_ids) arrays [n, max_seq_length] of text pairs;
        ``counters`` (a dict) receives the texts' token and [UNK] counts."""
        tok = self.tokenizer
        ids_a, lengths_a, ids_b, lengths_b, has_b = self._token_ids(texts_a, texts_b, counters)
        return encode_pairs(ids_a, lengths_a, ids_b, lengths_b, has_b, tok.special_id("[CLS]"), tok.special_id("[SEP]"),
                            self.max_seq_length)

    @gc_paused
    def featurize(self, examples: List[Example], is_training: bool) -> Features:
        n = self.task_name
        features = Features()
        texts_a, texts_b = [e.fields["text_a"] for e in examples], [e.fields["text_b"] for e in examples]
        if self.text_windows:
            input_ids, input_mask, segment_ids, of = self.encode_windows(texts_a, texts_b, features.counters)
            window_examples = [examples[i] for i in of]
        else:
            input_ids, input_mask, segment_ids = self.encode(texts_a, texts_b, features.counters)
            window_examples = examples
        for ex, ids, mask, segments in zip(window_examples, input_ids, input_mask, segment_ids):
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
