"""Feature-building helpers shared by the task families' preprocessors.

[CLS] a [SEP] (b [SEP]) encoding with the original's truncation (one example or many at once),
padding, ``gc_paused`` for featurizers that allocate millions of small objects, and the count
of [UNK] tokens a featurizer reports (``unknown_token_counters``, ``warn_unknown_tokens``).
"""

from __future__ import annotations

import functools
import gc
import logging
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from electra_tf.utils.ragged import segment_positions

logger = logging.getLogger("electra_tf")

#: a run warns when more than this share of its training tokens are [UNK]
UNKNOWN_SHARE_WARNING = 0.05


def gc_paused(featurize: Callable) -> Callable:
    """Run a featurizer with Python's cyclic garbage collector paused.

    Featurization allocates millions of small lists (three per feature of max_seq_length ints)
    and no reference cycles; the collector's repeated full scans of the growing feature list
    made a 100k-sentence set take about nine times as long. Memory is still freed by reference
    counting; the collector's previous state is restored afterwards.
    """

    @functools.wraps(featurize)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return featurize(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def pad_sequence(values: Sequence[int], length: int, pad: int = 0) -> List[int]:
    """``values`` as a list padded with ``pad`` to ``length``."""
    return list(values) + [pad] * (length - len(values))


def truncate_pair(a: List, b: Optional[List], max_seq_length: int):
    """The original's truncation: pop from the longer sequence (from b on ties) until the pair
    fits max_seq_length - 3; a single sentence is cut to max_seq_length - 2."""
    if b is None:
        return a[: max_seq_length - 2], None
    a, b = list(a), list(b)
    while len(a) + len(b) > max_seq_length - 3:
        (a if len(a) > len(b) else b).pop()
    return a, b


def truncated_pair_lengths(len_a: np.ndarray, len_b: np.ndarray, has_b: np.ndarray, max_seq_length: int):
    """The lengths ``truncate_pair`` leaves, for many pairs at once.

    Popping from the longer sequence (from b on ties) until the pair fits ``budget`` keeps the
    shorter one whole if the longer one can absorb the cut, and otherwise leaves
    ceil(budget / 2) for a and floor(budget / 2) for b.
    """
    budget = max_seq_length - 3
    cut_a = np.minimum(len_a, np.maximum((budget + 1) // 2, budget - len_b))
    over = has_b & (len_a + len_b > budget)
    kept_a = np.where(has_b, np.where(over, cut_a, len_a), np.minimum(len_a, max_seq_length - 2))
    kept_b = np.where(has_b, np.where(over, budget - cut_a, len_b), 0)
    return kept_a, kept_b


def _scatter_rows(out: np.ndarray, ids: np.ndarray, lengths: np.ndarray, kept: np.ndarray, first_column: np.ndarray):
    """Write the first ``kept[r]`` of row r's ``lengths[r]`` ids (concatenated in ``ids``) into
    ``out[r]`` from column ``first_column[r]`` on."""
    source = segment_positions(np.cumsum(lengths) - lengths, kept)
    target = segment_positions(np.arange(len(lengths)) * out.shape[1] + first_column, kept)
    out.reshape(-1)[target] = ids[source]


def encode_pairs(ids_a: np.ndarray, lengths_a: np.ndarray, ids_b: Optional[np.ndarray], lengths_b: Optional[np.ndarray],
                 has_b: Optional[np.ndarray], cls_id: int, sep_id: int, max_seq_length: int):
    """[CLS] a [SEP] (b [SEP]) for many examples -> (input_ids, input_mask, segment_ids), each an
    int32 array (examples, max_seq_length), truncated as the original and padded with 0.

    ``ids_a`` holds every example's a-ids end to end (``lengths_a`` per example); ``ids_b`` and
    ``lengths_b`` likewise for the examples where ``has_b`` (lengths 0 elsewhere), or None for
    single sentences.
    """
    n = len(lengths_a)
    if ids_b is None:
        ids_b, lengths_b, has_b = np.zeros(0, np.int32), np.zeros(n, np.int64), np.zeros(n, bool)
    kept_a, kept_b = truncated_pair_lengths(lengths_a, lengths_b, has_b, max_seq_length)
    input_ids = np.zeros((n, max_seq_length), np.int32)
    rows = np.arange(n)
    input_ids[:, 0] = cls_id
    _scatter_rows(input_ids, ids_a, lengths_a, kept_a, np.ones(n, np.int64))
    input_ids[rows, kept_a + 1] = sep_id
    _scatter_rows(input_ids, ids_b, lengths_b, kept_b, kept_a + 2)
    used = kept_a + 2 + np.where(has_b, kept_b + 1, 0)
    input_ids[rows[has_b], used[has_b] - 1] = sep_id
    columns = np.arange(max_seq_length)
    input_mask = (columns < used[:, None]).astype(np.int32)
    segment_ids = np.zeros_like(input_ids)
    if has_b.any():
        segment_ids[(columns >= kept_a[:, None] + 2) & (columns < used[:, None]) & has_b[:, None]] = 1
    return input_ids, input_mask, segment_ids


def encode_pair_ids(ids_a: List[int], ids_b: Optional[List[int]], cls_id: int, sep_id: int, max_seq_length: int):
    """``encode_pairs`` for one example, as lists."""
    no_b = ids_b is None
    arrays = encode_pairs(np.asarray(ids_a, np.int32), np.array([len(ids_a)]),
                          None if no_b else np.asarray(ids_b, np.int32), None if no_b else np.array([len(ids_b)]),
                          None if no_b else np.array([True]), cls_id, sep_id, max_seq_length)
    return tuple(array[0].tolist() for array in arrays)


def encode_pair(tokenizer, tokens_a: List[str], tokens_b: Optional[List[str]], max_seq_length: int):
    """[CLS] a [SEP] (b [SEP]) -> (input_ids, input_mask, segment_ids, tokens), padded with 0."""
    tokens_a, tokens_b = truncate_pair(tokens_a, tokens_b, max_seq_length)
    ids, mask, segments = encode_pair_ids(
        tokenizer.convert_tokens_to_ids(tokens_a), None if tokens_b is None else tokenizer.convert_tokens_to_ids(tokens_b),
        tokenizer.special_id("[CLS]"), tokenizer.special_id("[SEP]"), max_seq_length)
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + ([] if tokens_b is None else tokens_b + ["[SEP]"])
    return ids, mask, segments, tokens


# ---------------------------------------------------------------------------- [UNK] share
#: the ``Features.counters`` names of the [UNK] warning (feature metadata ``"tokens"``)
TOKEN_COUNTERS = ("tokens", "unknown_tokens")


def unknown_token_counters(ids: np.ndarray, unk_id: int) -> Dict[str, int]:
    """The ``Features.counters`` of a featurizer's text tokens ``ids`` (before truncation, no
    special tokens): ``tokens`` and ``unknown_tokens`` (ids equal to the [UNK] id)."""
    ids = np.asarray(ids)
    return {"tokens": int(ids.size), "unknown_tokens": int(np.count_nonzero(ids == unk_id))}


def unknown_piece_counters(tokenizer, token_lists: Sequence[Sequence[str]]) -> Dict[str, int]:
    """``unknown_token_counters`` of token strings: WordPiece's unknown token is the string
    "[UNK]"; a SentencePiece model's unknown pieces are their own text, so they are counted by id."""
    if getattr(tokenizer, "sp", None) is None:
        return {"tokens": sum(map(len, token_lists)), "unknown_tokens": sum(t.count("[UNK]") for t in token_lists)}
    ids = [i for tokens in token_lists for i in tokenizer.convert_tokens_to_ids(tokens)]
    return unknown_token_counters(np.asarray(ids, np.int64), tokenizer.special_id("[UNK]"))


def tokenizer_cache_fields(tokenizer, chinese_chars: bool = True) -> Dict[str, Any]:
    """Tokenizer settings beyond the original's that change the features (part of a
    preprocessor's ``cache_fields``); empty for the original's, so their cache keys stay as before.
    ``chinese_chars``: whether the tokenizer's CJK splitting is a setting (not for tagging's
    word tokenizer, which never splits them)."""
    fields: Dict[str, Any] = {}
    if getattr(tokenizer, "strip_accents", None) is not None:
        fields["strip_accents"] = bool(tokenizer.strip_accents)
    if chinese_chars and not getattr(tokenizer, "tokenize_chinese_chars", True):
        fields["tokenize_chinese_chars"] = False
    return fields


def warn_unknown_tokens(meta: Mapping[str, Any], threshold: float = UNKNOWN_SHARE_WARNING) -> List[str]:
    """Log one warning per task of a split's feature metadata (``meta["tokens"]``, the
    featurizers' ``TOKEN_COUNTERS``) whose tokens are more than ``threshold`` [UNK]; returns the
    warnings."""
    warnings = []
    for task, counts in sorted((meta or {}).get("tokens", {}).items()):
        total, unknown = int(counts.get("tokens", 0)), int(counts.get("unknown_tokens", 0))
        if total and unknown / total > threshold:
            message = (f"{task}: {100.0 * unknown / total:.1f}% of the training tokens ({unknown} of {total}) are [UNK]; "
                       f"the vocabulary does not fit the text: a wrong do_lower_case (lowercasing decomposes "
                       f"Hangul and strips accents) or a vocabulary for another language.")
            logger.warning("%s", message)
            warnings.append(message)
    return warnings
