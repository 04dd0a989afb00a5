"""Overlapping windows over texts longer than ``max_seq_length`` (the hparam ``text_windows``).

The original cuts a sentence (pair) task's text to ``max_seq_length`` (``_truncate_seq_pair``),
so the end of a long document is never seen. With ``text_windows`` a text becomes windows as
QA's doc-stride windows (``qa/preprocessor.QAPreprocessor.doc_windows``): a window holds at
most ``room`` tokens, the next one starts ``window_stride`` tokens later, and the last one
reaches the text's end. Every window is a feature of its own, carrying its example's label in
training; a classifier's outputs over an example's windows are aggregated (mean or max of the
logits). The in-graph twin of ``text_windows`` for serving is ``export/serving_inputs.text_windows``.

Sentence pairs: the first text is truncated exactly as the original's ``_truncate_seq_pair``
truncates it against the whole second text; the windows run over the second text in the room
that is left.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from electra_tf.errors import ConfigError

#: how a classifier's window outputs become the example's: their mean or their maximum
AGGREGATIONS = ("mean", "max")

#: the hparams of long texts and their defaults (the default keeps the original's truncation)
WINDOW_HPARAMS: Dict[str, Any] = {"text_windows": False, "window_stride": None, "window_aggregation": "mean"}


def check_window_hparams(text_windows, window_stride, window_aggregation, max_seq_length: int) -> None:
    """One ConfigError naming the hparam when the long-text settings cannot work."""
    if not isinstance(text_windows, bool):
        raise ConfigError(f"hparam text_windows must be true (overlapping windows over long texts) or false (the "
                          f"original's truncation), got {text_windows!r}.")
    if window_aggregation not in AGGREGATIONS:
        raise ConfigError(f"hparam window_aggregation must be 'mean' or 'max' (of the windows' logits), got "
                          f"{window_aggregation!r}.")
    if window_aggregation != "mean" and not text_windows:
        raise ConfigError(f"hparam window_aggregation={window_aggregation!r} is set but text_windows is false, so it "
                          f"would do nothing; set \"text_windows\": true or remove window_aggregation.")
    if window_stride is None:
        return
    room = max_seq_length - 2
    if isinstance(window_stride, bool) or not isinstance(window_stride, int) or window_stride <= 0:
        raise ConfigError(f"hparam window_stride must be a positive number of tokens (or null: half a window), got "
                          f"{window_stride!r}.")
    if window_stride >= room:
        raise ConfigError(f"hparam window_stride={window_stride} must be smaller than a window's room of {room} tokens "
                          f"(max_seq_length {max_seq_length} minus [CLS] and [SEP]), or the windows would not "
                          f"overlap; use e.g. {max(1, room // 2)}.")
    if not text_windows:
        raise ConfigError("hparam window_stride is set but text_windows is false, so it would do nothing; set "
                          "\"text_windows\": true or remove window_stride.")


def stride_for(room: int, window_stride: Optional[int]) -> int:
    """The stride of windows of ``room`` tokens: ``window_stride`` (None: half the room), at
    most the room (so no token is skipped) and at least 1."""
    stride = max(1, room // 2) if window_stride is None else int(window_stride)
    return max(1, min(stride, room))


def windows(n_tokens: int, room: int, stride: int) -> List[Tuple[int, int]]:
    """(start, length) of the windows over ``n_tokens`` tokens, as QA's doc-stride windows: each
    at most ``room`` long, ``stride`` apart, the last one reaching the end; one empty window
    for an empty text."""
    out, start = [], 0
    while start < n_tokens:
        length = min(n_tokens - start, room)
        out.append((start, length))
        if start + length == n_tokens:
            break
        start += min(length, stride)
    return out or [(0, 0)]


def max_context_owner(spans: Sequence[Tuple[int, int]], index: int) -> int:
    """The span (start, end exclusive) giving item ``index`` the most context: the largest
    min(items on its left, items on its right) within the span, the first span on ties (QA's
    ``_check_is_max_context`` without its 0.01 x length term). Tagging's rule, in words."""
    best, best_score = 0, -1
    for w, (start, end) in enumerate(spans):
        if start <= index < end:
            score = min(index - start, end - 1 - index)
            if score > best_score:
                best, best_score = w, score
    return best


def aggregate(rows: Sequence[np.ndarray], how: str) -> np.ndarray:
    """One example's output from its windows' outputs (``rows``): their mean or maximum, in float32."""
    stacked = np.asarray(np.stack([np.asarray(r, np.float32) for r in rows]), np.float32)
    if how == "max":
        return stacked.max(axis=0)
    return stacked.mean(axis=0, dtype=np.float32)


def group_by_example(eids: Sequence[int]) -> Dict[int, List[int]]:
    """Row indices of every example id, in order of first appearance."""
    groups: Dict[int, List[int]] = {}
    for row, eid in enumerate(eids):
        groups.setdefault(int(eid), []).append(row)
    return groups
