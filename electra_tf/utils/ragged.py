"""Ragged sequences kept flat: values end to end in one array plus a length per sequence.

Token ids of many texts, chunks or examples travel this way so that padding, gathering and
scattering them is a handful of NumPy operations instead of a Python list per sequence.
"""

from __future__ import annotations

import itertools
from typing import List, Sequence, Tuple

import numpy as np


def flatten_ids(ids: Sequence[Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """Lists of token ids -> (all ids end to end as int32, each list's length)."""
    lengths = np.fromiter(map(len, ids), np.int64, len(ids))
    return np.fromiter(itertools.chain.from_iterable(ids), np.int32, int(lengths.sum())), lengths


def split_flat(ids: np.ndarray, lengths: np.ndarray) -> List[List[int]]:
    """The inverse of ``flatten_ids``."""
    flat, ends = ids.tolist(), np.cumsum(lengths).tolist()
    return [flat[end - n:end] for n, end in zip(lengths.tolist(), ends)]


def segment_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] .. starts[i] + lengths[i] - 1`` for every i, end to end."""
    if not len(lengths) or (lengths == 1).all():
        return starts
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(offsets[-1] + lengths[-1]))
