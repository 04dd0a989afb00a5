"""QAPreprocessor: questions -> windowed features, as the original's featurization.

Whitespace doc tokens, per-token WordPiece, the query cut to ``max_query_length``, windows of
``max_seq_length - len(query) - 3`` tokens advanced by ``min(length, doc_stride)``, the
max-context rule, eid = 1000 * example + window, ``[CLS]`` as the target of windows without the
answer. Training answers are placed by their ``answer_start`` offset (``answer_mode
"offset"``); ``"original"`` keeps the original's first-occurrence search, which for a Chinese
paragraph (one whitespace token) labelled an earlier occurrence of the answer.

Built from plain settings (tokenizer, lengths, answer mode), so predict.py featurizes questions
for a saved model exactly as training and evaluation did.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from electra_tf.errors import ConfigError
from electra_tf.finetuning.features import gc_paused, pad_sequence, tokenizer_cache_fields, unknown_piece_counters
from electra_tf.finetuning.task import Example, Features
from electra_tf.finetuning.windows import windows as stride_windows

logger = logging.getLogger("electra_tf")


def first_matching_span(pieces: Sequence[str], tok_start: int, tok_end: int,
                        answer_pieces: Sequence[str]) -> Tuple[int, int]:
    """The original's answer-span improvement, in linear time.

    The original (``_improve_answer_span``) tries every (start, end) inside [tok_start, tok_end],
    starts ascending and ends descending, and returns the first whose " "-joined pieces equal the
    " "-joined tokenized answer, else (tok_start, tok_end). Word pieces never contain a space and
    are never empty, so the joined strings are equal exactly when the piece lists are; for a
    given start only one end can match (start + len(answer) - 1). The result is the same, but a
    Chinese paragraph (one whitespace token, so the search covers the whole paragraph) costs
    O(n * len(answer)) instead of O(n^3): 10,000 CMRC questions no longer take half an hour.
    """
    n = len(answer_pieces)
    if n:
        answer = list(answer_pieces)
        first = answer[0]
        for new_start in range(tok_start, tok_end - n + 2):
            if pieces[new_start] == first and list(pieces[new_start:new_start + n]) == answer:
                return new_start, new_start + n - 1
    return tok_start, tok_end


class QAPreprocessor:
    """Features ``<task>_eid`` (and, for training, ``_start_positions``, ``_end_positions``,
    ``_is_impossible``) of windows over each question's context. A ``task.Preprocessor``."""

    def __init__(self, tokenizer, max_seq_length: int, max_query_length: int, doc_stride: int, task_name: str,
                 answer_mode: str = "offset"):
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.max_query_length = max_query_length
        self.doc_stride = doc_stride
        self.task_name = task_name
        self.answer_mode = answer_mode

    def cache_fields(self) -> Dict[str, Any]:
        return {"max_seq_length": self.max_seq_length, "qa": [self.max_query_length, self.doc_stride],
                "answer_mode": self.answer_mode, **tokenizer_cache_fields(self.tokenizer)}

    def feature_spec(self):
        n = self.task_name
        return {f"{n}_eid": ((), "int64"), f"{n}_start_positions": ((), "int64"),
                f"{n}_end_positions": ((), "int64"), f"{n}_is_impossible": ((), "int64")}

    def _subtokens(self, examples: List[Example], counters: Optional[Dict[str, int]] = None):
        """Per example: query tokens, and doc sub-tokens with their doc-token index and char span.

        The original re-tokenized the paragraph for every question; each distinct paragraph is
        tokenized once here (CMRC 2018 and SQuAD have about five questions per paragraph), with
        the same result. ``counters`` receives the token and [UNK] counts of the questions and
        the distinct paragraphs.
        """
        tok = self.tokenizer
        queries = tok.tokenize_batch([e.fields["question"] for e in examples])
        paragraphs: Dict[str, Example] = {}
        for ex in examples:
            paragraphs.setdefault(ex.fields["context"], ex)
        flat_docs = [t for e in paragraphs.values() for t in e.fields["doc_tokens"]]
        tokenized = tok.tokenize_with_offsets_batch(flat_docs) if flat_docs else []
        documents, cursor = {}, 0
        for context, ex in paragraphs.items():
            words = ex.fields["doc_tokens"]
            pieces, to_orig, spans, orig_to_tok = [], [], [], []
            for i, (word_pieces, base) in enumerate(zip(tokenized[cursor:cursor + len(words)], ex.fields["doc_starts"])):
                orig_to_tok.append(len(pieces))
                for token, s, e in word_pieces:
                    pieces.append(token)
                    to_orig.append(i)
                    spans.append((base + s, base + e))
            cursor += len(words)
            documents[context] = (pieces, to_orig, spans, orig_to_tok)
        if counters is not None:
            counters.update(unknown_piece_counters(tok, list(queries) + [d[0] for d in documents.values()]))
        return [(query[: self.max_query_length],) + documents[ex.fields["context"]]
                for ex, query in zip(examples, queries)]

    def _original_answer_span(self, ex: Example, pieces, orig_to_tok, answer_pieces) -> Tuple[int, int]:
        """The original: doc-token start/end, then the first sub-span equal to the tokenized answer."""
        f = ex.fields
        start_word = f["char_to_word"][f["answer_start"]]
        end_word = f["char_to_word"][f["answer_start"] + len(f["answer_text"]) - 1]
        tok_start = orig_to_tok[start_word]
        tok_end = orig_to_tok[end_word + 1] - 1 if end_word < len(f["doc_tokens"]) - 1 else len(pieces) - 1
        return first_matching_span(pieces, tok_start, tok_end, answer_pieces)

    @staticmethod
    def _offset_answer_span(ex: Example, spans) -> Optional[Tuple[int, int]]:
        start_char = ex.fields["answer_start"]
        end_char = start_char + len(ex.fields["answer_text"])
        inside = [i for i, (s, e) in enumerate(spans) if s < end_char and e > start_char]
        return (inside[0], inside[-1]) if inside else None

    def doc_windows(self, n_pieces: int, n_query: int):
        max_tokens = self.max_seq_length - n_query - 3
        if max_tokens <= 0:
            raise ConfigError(f"max_seq_length {self.max_seq_length} leaves no room for the document after "
                              f"max_query_length {self.max_query_length}; raise max_seq_length.")
        return stride_windows(n_pieces, max_tokens, self.doc_stride)

    @staticmethod
    def max_context_windows(windows, n_pieces: int) -> np.ndarray:
        """Per document piece, the index of the window that gives it the most context.

        The original's ``_check_is_max_context``: score = min(left, right context) + 0.01 *
        window length, the first window winning ties (``np.argmax`` keeps the first maximum).
        Computed once per example instead of once per (window, piece).
        """
        positions = np.arange(n_pieces)
        scores = np.full((len(windows), n_pieces), -np.inf)
        for index, (start, length) in enumerate(windows):
            end = start + length - 1
            inside = (positions >= start) & (positions <= end)
            score = np.minimum(positions - start, end - positions) + 0.01 * length
            scores[index] = np.where(inside, score, -np.inf)
        return np.argmax(scores, axis=0) if n_pieces else np.zeros(0, dtype=np.int64)

    @gc_paused
    def featurize(self, examples: List[Example], is_training: bool, for_eval: bool = False) -> Features:
        """Windows of every example. Training features carry the answer positions, and the
        ``answer_position_differences`` counter (answers placed differently by answer_start
        offsets than by the original's search); ``for_eval`` adds what decoding needs (tokens,
        maps to the context, the example)."""
        tok = self.tokenizer
        cls_id, sep_id = tok.special_id("[CLS]"), tok.special_id("[SEP]")
        L = self.max_seq_length
        features = Features()
        differences = 0
        answerable = [is_training and not ex.fields["is_impossible"] for ex in examples]
        answers = iter(tok.tokenize_batch([ex.fields["answer_text"] for ex, a in zip(examples, answerable) if a]))
        for ex, has_answer, (query, pieces, to_orig, spans, orig_to_tok) in zip(examples, answerable,
                                                                                 self._subtokens(examples, features.counters)):
            tok_start = tok_end = None
            if has_answer:
                original = self._original_answer_span(ex, pieces, orig_to_tok, next(answers))
                by_offset = self._offset_answer_span(ex, spans)
                if by_offset is not None and by_offset != original:
                    differences += 1
                tok_start, tok_end = original if (self.answer_mode == "original" or by_offset is None) else by_offset
            windows = self.doc_windows(len(pieces), len(query))
            best_window = self.max_context_windows(windows, len(pieces)) if for_eval else None
            head = [cls_id] + tok.convert_tokens_to_ids(query) + [sep_id]
            offset = len(head)  # first document position in every window
            piece_ids = tok.convert_tokens_to_ids(pieces)
            for w, (start, length) in enumerate(windows):
                n = offset + length + 1  # [CLS] query [SEP] doc [SEP]
                ids = head + piece_ids[start:start + length] + [sep_id]
                feature = {"input_ids": pad_sequence(ids, L), "input_mask": pad_sequence([1] * n, L),
                           "segment_ids": [0] * offset + [1] * (length + 1) + [0] * (L - n),
                           f"{self.task_name}_eid": 1000 * ex.eid + w}
                if is_training:
                    if ex.fields["is_impossible"] or not (tok_start >= start and tok_end <= start + length - 1):
                        s_pos = e_pos = 0  # [CLS]: no answer in this window
                    else:
                        s_pos, e_pos = tok_start - start + offset, tok_end - start + offset
                    feature.update({f"{self.task_name}_start_positions": s_pos, f"{self.task_name}_end_positions": e_pos,
                                    f"{self.task_name}_is_impossible": int(ex.fields["is_impossible"])})
                if for_eval:
                    doc = range(start, start + length)
                    feature.update(tokens=["[CLS]"] + query + ["[SEP]"] + pieces[start:start + length] + ["[SEP]"],
                                   token_to_orig_map={offset + i: to_orig[p] for i, p in enumerate(doc)},
                                   token_is_max_context={offset + i: bool(best_window[p] == w) for i, p in enumerate(doc)},
                                   char_spans={offset + i: spans[p] for i, p in enumerate(doc)}, example=ex)
                features.append(feature)
        if is_training:
            features.counters["answer_position_differences"] = differences
            logger.info("%s: %d of %d training answers are placed differently by answer_start offsets than by the "
                        "original's first-occurrence search (answer_mode=%s).", self.task_name, differences, len(examples),
                        self.answer_mode)
        return features
