"""Features are serialized to exactly the tf.train.Example protos the original wrote."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from electra_tf.errors import DataError
from electra_tf.finetuning import records
from electra_tf.finetuning.data import parse_fn
from electra_tf.finetuning.features import encode_pairs, truncate_pair

SPEC = {"input_ids": ((8,), "int64"), "input_mask": ((8,), "int64"), "task_id": ((), "int64"),
        "t_eid": ((), "int64"), "t_scores": ((3,), "float32"), "t_pair": ((2, 2), "int64")}


def original_example(feature, spec):
    """The original's _make_tf_example: every name of the spec, its values or zeros, one at a time."""
    fields = {}
    for name, (shape, dtype) in spec.items():
        values = np.asarray(feature.get(name, np.zeros(shape)), np.float32 if dtype == "float32" else np.int64).reshape(-1)
        if dtype == "float32":
            fields[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values.tolist()))
        else:
            fields[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values.tolist()))
    return tf.train.Example(features=tf.train.Features(feature=fields))


def random_features(rng, n):
    # Values of every varint size (1 to 10 bytes, negatives included), lists, NumPy rows and
    # scalars, and features that lack some names (another task's features, padding records).
    pools = [np.arange(0, 128), np.arange(128, 20000), np.array([2 ** 21 - 1, 2 ** 21, 2 ** 35, 2 ** 62, 2 ** 63 - 1]),
             np.array([-1, -2, -300, -2 ** 63])]
    features = []
    for i in range(n):
        pool = pools[rng.integers(len(pools))]
        ids = rng.choice(pool, 8)
        ids[rng.integers(1, 8):] = 0
        fits_int32 = ids.min() >= -2 ** 31 and ids.max() < 2 ** 31
        as_given = ids.astype(np.int32) if i % 4 == 2 and fits_int32 else ids.astype(np.int64)  # int32 rows, negatives too
        feature = {"input_ids": ids.tolist() if i % 2 else as_given, "input_mask": (ids != 0).astype(np.int32),
                   "task_id": int(rng.integers(3)), "t_eid": int(rng.choice(pools[rng.integers(len(pools))])),
                   "tokens": ["not", "in", "the", "spec"]}
        if i % 3:
            feature["t_scores"] = rng.normal(size=3).astype(np.float32) * 10.0 ** rng.integers(-30, 30)
        if i % 4:
            feature["t_pair"] = rng.integers(-5, 5000, (2, 2))
        if i % 7 == 0:
            feature = {"task_id": 3}
        features.append(feature)
    return features


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_records_equal_the_original_protos(seed, monkeypatch):
    monkeypatch.setattr(records, "ROWS_PER_BLOCK", 16)  # several blocks, a partial last one
    features = random_features(np.random.default_rng(seed), 75)
    serialized = list(records.serialize_features(features, SPEC))
    assert len(serialized) == len(features)
    for feature, record in zip(features, serialized):
        assert tf.train.Example.FromString(record) == original_example(feature, SPEC)


def test_records_parse_back_to_the_values():
    features = random_features(np.random.default_rng(5), 20)
    parse = parse_fn(SPEC)
    for feature, record in zip(features, records.serialize_features(features, SPEC)):
        parsed = parse(tf.constant(record))
        want = np.asarray(feature.get("input_ids", np.zeros(8)), np.int64).astype(np.int32)  # parse casts to int32
        np.testing.assert_array_equal(parsed["input_ids"].numpy(), want)
        np.testing.assert_array_equal(parsed["t_scores"].numpy(), np.asarray(feature.get("t_scores", np.zeros(3)), np.float32))
        assert parsed["t_pair"].shape == (2, 2)


def test_a_feature_of_the_wrong_size_is_named():
    features = [{"input_ids": [1] * 8, "task_id": 0}, {"input_ids": [1] * 9, "task_id": 0}]
    with pytest.raises(DataError, match=r"'input_ids' of record 1 has 9 values; its spec \(8,\) needs 8"):
        list(records.serialize_features(features, SPEC))
    features = [{"task_id": 0}, {"task_id": 0}, {"input_ids": [1] * 7, "task_id": 0}]  # where only some have it
    with pytest.raises(DataError, match=r"'input_ids' of record 2 has 7 values"):
        list(records.serialize_features(features, SPEC))


def test_no_features_no_records():
    assert list(records.serialize_features([], SPEC)) == []


def original_pair(ids_a, ids_b, cls_id, sep_id, max_seq_length):
    """The original's featurize, step by step: _truncate_seq_pair, then the lists built one token
    at a time and padded one position at a time."""
    ids_a, ids_b = list(ids_a), None if ids_b is None else list(ids_b)
    if ids_b is None:
        ids_a = ids_a[:max_seq_length - 2]
    else:
        while len(ids_a) + len(ids_b) > max_seq_length - 3:
            (ids_a if len(ids_a) > len(ids_b) else ids_b).pop()
    input_ids, segment_ids = [cls_id], [0]
    for i in ids_a:
        input_ids.append(i)
        segment_ids.append(0)
    input_ids.append(sep_id)
    segment_ids.append(0)
    for i in ids_b or []:
        input_ids.append(i)
        segment_ids.append(1)
    if ids_b is not None:
        input_ids.append(sep_id)
        segment_ids.append(1)
    input_mask = [1] * len(input_ids)
    while len(input_ids) < max_seq_length:
        input_ids.append(0)
        input_mask.append(0)
        segment_ids.append(0)
    return input_ids, input_mask, segment_ids


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(st.lists(st.integers(5, 99), max_size=40),
                                st.one_of(st.none(), st.lists(st.integers(5, 99), max_size=40))), min_size=1, max_size=8),
       max_seq_length=st.integers(4, 48))
def test_encode_pairs_equals_the_original_featurization(pairs, max_seq_length):
    lengths_a = np.array([len(a) for a, _ in pairs])
    has_b = np.array([b is not None for _, b in pairs])
    lengths_b = np.array([len(b or []) for _, b in pairs])
    ids_a = np.array([i for a, _ in pairs for i in a], np.int32)
    ids_b = np.array([i for _, b in pairs for i in b or []], np.int32)
    got = encode_pairs(ids_a, lengths_a, ids_b, lengths_b, has_b, 2, 3, max_seq_length)
    for row, (a, b) in enumerate(pairs):
        want = original_pair(a, b, 2, 3, max_seq_length)
        assert [array[row].tolist() for array in got] == list(want)
        if b is not None:
            kept_a, kept_b = truncate_pair(a, b, max_seq_length)
            assert got[1][row].sum() == len(kept_a) + len(kept_b) + 3
