"""A linear-chain CRF over word positions (an option beyond the original: ``use_crf``).

Scores are ``start[y_0] + sum_t emission[t, y_t] + sum_t transition[y_{t-1}, y_t] + end[y_last]``
over the unmasked prefix of each sequence. Training minimises the negative log-likelihood
(forward algorithm); decoding is Viterbi. With ``constraints`` (from the tag scheme), forbidden
starts, ends and transitions get -10000 in both, so decoding never emits them.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import keras
import numpy as np
from keras import ops

FORBIDDEN = -10000.0


class CRF(keras.layers.Layer):
    """Transition, start and end scores for ``num_tags`` tags (float32)."""

    def __init__(self, num_tags: int, constraints: Optional[Tuple[Sequence[bool], Sequence[bool], Sequence[Sequence[bool]]]] = None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tags = num_tags
        if constraints is None:
            self._start_mask = np.zeros(num_tags, np.float32)
            self._end_mask = np.zeros(num_tags, np.float32)
            self._trans_mask = np.zeros((num_tags, num_tags), np.float32)
        else:
            start_ok, end_ok, trans_ok = constraints
            self._start_mask = np.where(np.asarray(start_ok), 0.0, FORBIDDEN).astype(np.float32)
            self._end_mask = np.where(np.asarray(end_ok), 0.0, FORBIDDEN).astype(np.float32)
            self._trans_mask = np.where(np.asarray(trans_ok), 0.0, FORBIDDEN).astype(np.float32)

    def build(self, input_shape=None):
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions = self.add_weight(shape=(self.num_tags, self.num_tags), initializer=init, name="transitions")
        self.start = self.add_weight(shape=(self.num_tags,), initializer=init, name="start")
        self.end = self.add_weight(shape=(self.num_tags,), initializer=init, name="end")
        self.built = True

    def masked_params(self):
        return (self.transitions + self._trans_mask, self.start + self._start_mask, self.end + self._end_mask)

    def negative_log_likelihood(self, emissions, tags, mask):
        """[B, T, C] emissions, [B, T] gold tags, [B, T] 0/1 prefix mask -> [B] NLL (0 for empty rows)."""
        trans, start, end = self.masked_params()
        emissions = ops.cast(emissions, "float32")
        mask = ops.cast(mask, "float32")
        tags = ops.cast(tags, "int32")
        C = self.num_tags
        T = emissions.shape[1]
        lengths = ops.sum(mask, axis=1)
        # gold path score
        emit = ops.sum(ops.take_along_axis(emissions, tags[:, :, None], axis=2)[:, :, 0] * mask, axis=1)
        flat = ops.reshape(trans, (-1,))
        pair = tags[:, :-1] * C + tags[:, 1:]
        trans_score = ops.sum(ops.take(flat, pair) * mask[:, 1:], axis=1)
        last = ops.cast(ops.maximum(lengths - 1, 0), "int32")
        last_tag = ops.take_along_axis(tags, last[:, None], axis=1)[:, 0]
        gold = ops.take(start, tags[:, 0]) + emit + trans_score + ops.take(end, last_tag)
        # partition function
        alpha = start[None, :] + emissions[:, 0]  # [B, C]
        for t in range(1, T):
            step = ops.logsumexp(alpha[:, :, None] + trans[None], axis=1) + emissions[:, t]
            alpha = ops.where(mask[:, t:t + 1] > 0, step, alpha)
        log_z = ops.logsumexp(alpha + end[None, :], axis=1)
        return ops.where(lengths > 0, log_z - gold, 0.0)


def viterbi(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray) -> list:
    """Best tag sequence for one sentence: emissions [n, C] with the (masked) CRF parameters."""
    n = emissions.shape[0]
    if n == 0:
        return []
    score = start + emissions[0]
    back = np.zeros((n, emissions.shape[1]), dtype=np.int64)
    for t in range(1, n):
        total = score[:, None] + transitions
        back[t] = np.argmax(total, axis=0)
        score = total[back[t], np.arange(total.shape[1])] + emissions[t]
    best = [int(np.argmax(score + end))]
    for t in range(n - 1, 0, -1):
        best.append(int(back[t, best[-1]]))
    return best[::-1]
