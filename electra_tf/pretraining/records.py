"""Integer features -> serialized ``tf.train.Example`` records, a block of examples at a time.

The original built a ``tf.train.Example`` per example and called ``SerializeToString()``
(``build_pretraining_dataset.py:97-114``). Here the protobuf wire format is written with NumPy:
each feature's values are varint-encoded for the whole block and each record is joined from
byte slices (the encoding: ``electra_tf.utils.example_wire``).

Byte order. A record's features are a protobuf map; the original's bytes put its three
entries in the order of the protobuf runtime's hash table, which with today's runtime (upb)
changes from process to process (the same example serializes differently in two runs). The
canonical form is deterministic serialization, which orders map entries by key: that is what is
written here, byte for byte ``example.SerializeToString(deterministic=True)``, and it parses to
exactly the original's proto.

Wire format (proto3, packed repeated int64)::

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }   entry: { string key = 1; Feature value = 2; }
    Feature   { Int64List int64_list = 3; }            Int64List { repeated int64 value = 1 [packed]; }
"""

from __future__ import annotations

from typing import Dict, List, Mapping

import numpy as np

from electra_tf.utils.example_wire import length_delimited, packed_varints

__all__ = ["ExampleSerializer", "packed_varints"]


class _EntryHeaders:
    """The bytes of one feature's map entry that come before its packed values, by payload length."""

    def __init__(self, name: str):
        self.key = length_delimited(0x0A, len(name.encode("utf-8"))) + name.encode("utf-8")  # entry.key = 1
        self._cache: Dict[int, bytes] = {}

    def __call__(self, payload_length: int) -> bytes:
        header = self._cache.get(payload_length)
        if header is None:
            int64_list = length_delimited(0x0A, payload_length)  # Int64List.value = 1, packed
            feature = length_delimited(0x1A, len(int64_list) + payload_length) + int64_list  # Feature.int64_list = 3
            value = length_delimited(0x12, len(feature) + payload_length) + feature  # entry.value = 2
            body = self.key + value
            header = self._cache[payload_length] = length_delimited(0x0A, len(body) + payload_length) + body  # Features.feature = 1
        return header


class ExampleSerializer:
    """Serializes examples whose features are int64 lists (``serialize``), entries in key order."""

    def __init__(self, names):
        self.names = sorted(names)
        self._headers = {name: _EntryHeaders(name) for name in self.names}
        self._record_headers: Dict[int, bytes] = {}

    def serialize(self, features: Mapping[str, np.ndarray]) -> List[bytes]:
        """(rows, width) integer arrays by feature name -> one serialized Example per row."""
        rows = len(next(iter(features.values())))
        columns: List[List[bytes]] = []
        fixed: List[np.ndarray] = []  # consecutive features of one size in every row: one byte matrix

        def flush_fixed():
            if fixed:
                block = np.concatenate(fixed, axis=1)
                data, width = block.tobytes(), block.shape[1]
                columns.append([data[r * width:(r + 1) * width] for r in range(rows)])
                fixed.clear()

        for name in self.names:
            payload, lengths = packed_varints(np.asarray(features[name]))
            header = self._headers[name]
            if rows and (lengths == lengths[0]).all():
                head = np.frombuffer(header(int(lengths[0])), np.uint8)
                fixed += [np.broadcast_to(head, (rows, len(head))), payload.reshape(rows, -1)]
                continue
            flush_fixed()
            data, ends = payload.tobytes(), np.cumsum(lengths).tolist()
            columns.append([header(n) + data[end - n:end] for n, end in zip(lengths.tolist(), ends)])
        flush_fixed()
        out = []
        record_headers = self._record_headers
        for body in map(b"".join, zip(*columns)):
            head = record_headers.get(len(body))
            if head is None:
                head = record_headers[len(body)] = length_delimited(0x0A, len(body))  # Example.features = 1
            out.append(head + body)
        return out
