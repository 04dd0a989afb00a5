"""The tokenizer's memory of chunks (words, punctuation, CJK characters) it has tokenized."""

from __future__ import annotations

import itertools
from typing import Dict, List, Sequence, Tuple

import numpy as np

from electra_tf.utils.ragged import flatten_ids, segment_positions, split_flat


class ChunkStore:
    """Token ids of every distinct chunk seen, end to end in one array, and a chunk -> row dict.

    A corpus repeats its words, so after a word's first occurrence tokenizing it is one
    dictionary look-up; keeping the ids in NumPy (not a list per chunk) lets a whole batch's
    ids be gathered at once.
    """

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.rows: Dict[str, int] = {}
        self._n_rows = self._n_ids = 0
        self._ids = np.zeros(1024, np.int32)  # buffers grown by doubling: adding is amortized O(new)
        self._starts = np.zeros(1024, np.int64)
        self._lengths = np.zeros(1024, np.int64)

    def __len__(self) -> int:
        return self._n_rows

    @staticmethod
    def _fit(buffer: np.ndarray, size: int) -> np.ndarray:
        if size <= len(buffer):
            return buffer
        grown = np.zeros(max(size, 2 * len(buffer)), buffer.dtype)
        grown[:len(buffer)] = buffer
        return grown

    def add(self, chunks: Sequence[str], ids: Sequence[Sequence[int]]) -> None:
        """Remember the ids of chunks; a chunk added again points to its new copy."""
        flat, lengths = flatten_ids(ids)
        rows, n_ids = self._n_rows, self._n_ids  # (a chunk stored again gets a new row with the same ids)
        self.rows.update(zip(chunks, range(rows, rows + len(chunks))))
        self._starts = self._fit(self._starts, rows + len(chunks))
        self._lengths = self._fit(self._lengths, rows + len(chunks))
        self._ids = self._fit(self._ids, n_ids + len(flat))
        self._starts[rows:rows + len(chunks)] = n_ids + np.cumsum(lengths) - lengths
        self._lengths[rows:rows + len(chunks)] = lengths
        self._ids[n_ids:n_ids + len(flat)] = flat
        self._n_rows, self._n_ids = rows + len(chunks), n_ids + len(flat)

    def find(self, chunks: Sequence[str]) -> np.ndarray:
        """The row of each chunk, -1 for chunks not stored."""
        return np.fromiter(map(self.rows.get, chunks, itertools.repeat(-1)), np.int64, len(chunks))

    def ids(self, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """The ids of the chunks in ``rows`` end to end, and each chunk's number of ids."""
        lengths = self._lengths[rows]
        return self._ids[segment_positions(self._starts[rows], lengths)], lengths

    def lists(self, chunks: Sequence[str]) -> List[List[int]]:
        """The ids of stored chunks, a list per chunk."""
        return split_flat(*self.ids(self.find(chunks)))
