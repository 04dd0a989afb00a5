"""The protobuf wire format of ``tf.train.Example`` records, written with NumPy.

One encoder for both record writers (fine-tuning features, ``finetuning/records.py``; pre-training
examples, ``pretraining/records.py``): building a ``tf.train.Example`` proto per record and calling
``SerializeToString()`` costs more than producing the features, so the writers encode whole
columns of values at once and join each record from byte slices. The bytes are protobuf's:
varints for tags, lengths and packed int64 values (negative values as the 10-byte two's
complement of int64, as protobuf writes them).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def varint(n: int) -> bytes:
    """One non-negative integer as a protobuf varint (used for tags and lengths)."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def length_delimited(tag: int, payload_length: int) -> bytes:
    """The header of a length-delimited field (wire type 2) whose payload is ``payload_length`` bytes."""
    return bytes([tag]) + varint(payload_length)


def packed_varints(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Varint-encode a (rows, width) integer array -> (all rows' bytes end to end as a uint8 array,
    the number of bytes of each row). Negative values take 10 bytes (int64 two's complement).

    Two layouts of the same bytes, picked for speed: when most values are small (padded features:
    zeros, [CLS]/[SEP] ids) the output starts as the one-byte values and only the longer ones are
    scattered in; when most are long (pre-training token ids) every value gets a row of a byte
    table and the used bytes are read out in order.
    """
    rows, width = values.shape
    flat = values.reshape(-1)  # any integer dtype: only the values of two or more bytes are widened
    if flat.dtype.kind not in "iu":
        flat = flat.astype(np.int64)  # (booleans)
    longer = np.flatnonzero((flat >= 0x80) | (flat < 0)) if flat.dtype.kind == "i" else np.flatnonzero(flat >= 0x80)
    if not len(longer):  # masks, segment ids, small labels: one byte each
        return flat.astype(np.uint8), np.full(rows, width, np.int64)
    if 2 * len(longer) > flat.size:
        return _packed_dense(flat.astype(np.int64).view(np.uint64), rows, width)
    value = flat[longer].astype(np.int64).view(np.uint64)
    size = _varint_sizes(value)
    extra_after = np.cumsum(size - 1)  # extra bytes up to and including each longer value
    out = np.zeros(flat.size + int(extra_after[-1]), np.uint8)
    first = longer + extra_after - (size - 1)  # a value at flat index i starts after the extra bytes before it
    for k in range(int(size.max())):
        part = size > k if k else slice(None)
        byte = ((value[part] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        out[first[part] + k] = byte | ((size[part] > k + 1).view(np.uint8) << 7)
    short = np.flatnonzero((flat > 0) & (flat < 0x80))  # zeros are already there
    if len(short):
        before = np.searchsorted(longer, short)  # longer values ahead of each
        out[short + np.where(before > 0, extra_after[np.maximum(before - 1, 0)], 0)] = flat[short].astype(np.uint8)
    row_extra = np.bincount(longer // width, weights=size - 1, minlength=rows).astype(np.int64)
    return out, width + row_extra


def _varint_sizes(value: np.ndarray) -> np.ndarray:
    """Bytes of the varint of each uint64 value (1 to 10)."""
    size = np.ones(value.shape, np.int64)
    for k in range(1, 10):
        more = value >= np.uint64(1 << (7 * k))
        if not more.any():
            break
        size += more
    return size


def _packed_dense(flat: np.ndarray, rows: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """``packed_varints`` of flat uint64 values, most of them two bytes or more."""
    size = _varint_sizes(flat)
    n_bytes = int(size.max())
    table = np.empty((flat.size, n_bytes), np.uint8)
    for k in range(n_bytes):
        continues = (size > k + 1).astype(np.uint8) << 7
        table[:, k] = ((flat >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8) | continues
    used = np.arange(n_bytes) < size[:, None]  # row-major: each value's bytes, values in order
    return table[used], size.reshape(rows, width).sum(axis=1)
