"""TaggingPreprocessor: sentences of words (with label ids) -> word-position features.

As the original: words are tokenized one by one (no CJK splitting), the first sub-token of each
word is labelled and gathered by the head. Long sentences are split into overlapping windows
(``truncation="window"``) or cut as the original did (``"original"``). Built from plain settings
(tokenizer, max_seq_length, label list, ...), so predict.py featurizes a saved model's input the
same way as training did.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from electra_tf.finetuning.features import gc_paused, pad_sequence, tokenizer_cache_fields, unknown_piece_counters
from electra_tf.finetuning.task import Example, Features
from electra_tf.finetuning.windows import max_context_owner

logger = logging.getLogger("electra_tf")


def word_tokenizer(tokenizer, lowercase: bool):
    """The original tokenizes each word without CJK splitting (tokenize_and_align): the
    tokenizer's ``for_words`` variant."""
    return tokenizer.for_words(lowercase)


class TaggingPreprocessor:
    """Features ``<task>_labels``, ``_labels_mask``, ``_labeled_positions``, ``_score_mask``
    (which window scores a word), ``_word_offset`` and ``_n_words`` besides the shared ones.

    ``tokenizer`` is the word tokenizer (see ``word_tokenizer``); examples carry ``words`` and
    ``labels`` (label ids). A ``task.Preprocessor``.
    """

    def __init__(self, tokenizer, max_seq_length: int, task_name: str, label_list: Sequence[str],
                 truncation: str = "window", label_all_tokens: bool = False, segment_id: int = 1,
                 window_overlap: Optional[int] = None, lowercase: Optional[bool] = None):
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.task_name = task_name
        self.label_list = list(label_list)
        self.truncation = truncation
        self.label_all_tokens = bool(label_all_tokens)
        self.segment_id = int(segment_id)
        self.window_overlap = window_overlap
        self.lowercase = lowercase

    def cache_fields(self) -> Dict[str, Any]:
        return {"max_seq_length": self.max_seq_length, "labels": self.label_list, "truncation": self.truncation,
                "label_all_tokens": self.label_all_tokens, "segment_id": self.segment_id,
                "window_overlap": self.window_overlap, "lowercase": self.lowercase,
                **tokenizer_cache_fields(self.tokenizer, chinese_chars=False)}

    def feature_spec(self):
        L, n = self.max_seq_length, self.task_name
        return {f"{n}_eid": ((), "int64"), f"{n}_labels": ((L,), "int64"), f"{n}_labels_mask": ((L,), "float32"),
                f"{n}_labeled_positions": ((L,), "int64"), f"{n}_score_mask": ((L,), "float32"),
                f"{n}_word_offset": ((), "int64"), f"{n}_n_words": ((), "int64")}

    def _windows(self, lengths: List[int]) -> List[Tuple[int, int]]:
        """Word windows [start, end) whose sub-tokens fit max_seq_length - 2, overlapping."""
        budget = self.max_seq_length - 2
        if sum(lengths) <= budget:
            return [(0, len(lengths))]
        windows, start = [], 0
        while True:
            end, total = start, 0
            while end < len(lengths) and total + lengths[end] <= budget:
                total += lengths[end]
                end += 1
            end = max(end, start + 1)  # a single word longer than the budget gets its own window
            windows.append((start, end))
            if end >= len(lengths):
                return windows
            overlap = self.window_overlap
            overlap = (end - start) // 2 if overlap is None else min(int(overlap), end - start - 1)
            start = max(end - overlap, start + 1)

    #: the window that scores word ``index``: the one giving it the most context (windows.max_context_owner)
    _owner = staticmethod(max_context_owner)

    @gc_paused
    def featurize(self, examples: List[Example], is_training: bool) -> Features:
        tok = self.tokenizer
        all_words = [w for e in examples for w in e.fields["words"]]
        tokenized = tok.tokenize_batch(all_words) if all_words else []
        cls_id, sep_id = tok.special_id("[CLS]"), tok.special_id("[SEP]")
        unk = "[UNK]"
        L = self.max_seq_length
        label_list = self.label_list
        b_to_i = {i: label_list.index("I-" + l[2:]) for i, l in enumerate(label_list)
                  if l.startswith("B-") and "I-" + l[2:] in label_list}
        original = self.truncation == "original"
        features, cursor, dropped = Features(), 0, 0
        # [UNK] share of the words' tokens (an empty word counts as the [UNK] it becomes)
        features.counters.update(unknown_piece_counters(tok, [t or [unk] for t in tokenized]))
        n = self.task_name
        for ex in examples:
            words = ex.fields["words"]
            word_tokens = [t or [unk] for t in tokenized[cursor:cursor + len(words)]]  # empty word -> [UNK]
            cursor += len(words)
            labels = ex.fields["labels"]
            if original:
                windows = [self._original_window(word_tokens)]
                dropped += len(words) - windows[0][1]
            else:
                windows = self._windows([len(t) for t in word_tokens])
            owners = [self._owner(windows, i) for i in range(len(words))] if len(windows) > 1 else [0] * len(words)
            for w, (start, end) in enumerate(windows):
                ids, positions, win_labels, score = [cls_id], [], [], []
                for i in range(start, end):
                    pieces = tok.convert_tokens_to_ids(word_tokens[i][: L - 2])
                    if len(ids) + len(pieces) > L - 1:
                        pieces = pieces[: L - 1 - len(ids)]
                    if not pieces:
                        break
                    if is_training and self.label_all_tokens:
                        for k in range(len(pieces)):
                            positions.append(len(ids) + k)
                            win_labels.append(labels[i] if k == 0 else b_to_i.get(labels[i], labels[i]))
                            score.append(1.0 if k == 0 and owners[i] == w else 0.0)
                    else:
                        positions.append(len(ids))
                        win_labels.append(labels[i])
                        score.append(1.0 if owners[i] == w else 0.0)
                    ids.extend(pieces)
                ids.append(sep_id)
                features.append({
                    "input_ids": pad_sequence(ids, L), "input_mask": pad_sequence([1] * len(ids), L),
                    "segment_ids": pad_sequence([self.segment_id] * len(ids), L),
                    f"{n}_eid": ex.eid, f"{n}_labels": pad_sequence(win_labels, L),
                    f"{n}_labels_mask": pad_sequence([1.0] * len(positions), L, 0.0),
                    f"{n}_labeled_positions": pad_sequence(positions, L),
                    f"{n}_score_mask": pad_sequence(score, L, 0.0),
                    f"{n}_word_offset": start,
                    f"{n}_n_words": end if original else len(words),
                })
        if dropped:
            logger.warning("%s: the original truncation leaves %d words unscored.", n, dropped)
        return features

    def _original_window(self, word_tokens: List[List[str]]) -> Tuple[int, int]:
        """The words the original's featurize keeps: its loop over [CLS] + words + [SEP] stops
        when ``len(words_to_tokens) + len(input_ids) + 1 > max_seq_length``, i.e. it compares the
        *number of words* plus the ids so far with the limit, and the words after the stop are
        never scored."""
        n = len(word_tokens) + 2  # len(words_to_tokens), [CLS] and [SEP] included
        if n + 0 + 1 > self.max_seq_length:  # checked before [CLS] is added
            return (0, 0)
        length = 1
        for i, tokens in enumerate(word_tokens):
            if n + length + 1 > self.max_seq_length:
                return (0, i)
            length += len(tokens)
        return (0, len(word_tokens))
