"""The fine-tuning feature cache carries its sha256 (#24 item 8): a cache damaged at its recorded
size, truncated, or written by an older version without a checksum is rebuilt with a log line
instead of failing mid-training on every rerun."""

import hashlib
import json
import logging

import pytest

from tests.test_run_safety import BASE, MODEL, workspace


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    data = workspace(tmp_path_factory.mktemp("cache_integrity"))
    return FinetuningRunner(FinetuningConfig(MODEL, str(data), **{**BASE, "seed": 1}))


def _cache(runner):
    from pathlib import Path

    return Path(runner.config.preprocessed_data_dir) / "sst_train.tfrecord"


def _records(path):
    import tensorflow as tf

    return sum(1 for _ in tf.data.TFRecordDataset(str(path)))  # reads every record (CRC-checked)


def _prepare(runner, caplog):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="electra_tf"):
        _, meta = runner.dataset("train", True)
    return meta, caplog.text


def test_damaged_truncated_and_unchecksummed_caches_are_rebuilt(runner, caplog):
    meta, log = _prepare(runner, caplog)
    cache = _cache(runner)
    good = cache.read_bytes()
    assert "Wrote" in log and meta["sha256"] == hashlib.sha256(good).hexdigest() and meta["bytes"] == len(good)
    assert "Using cached features" in _prepare(runner, caplog)[1]  # intact: reused

    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF  # at its recorded size: the size check alone reused it
    cache.write_bytes(bytes(damaged))
    meta, log = _prepare(runner, caplog)
    assert "are corrupted (their checksum differs from" in log and "rebuilding" in log, log
    assert cache.read_bytes() == good and _records(cache) == meta["n_examples"]

    cache.write_bytes(good[:len(good) // 3])
    meta, log = _prepare(runner, caplog)
    assert "truncated or changed" in log and cache.read_bytes() == good

    metadata = cache.with_name(cache.name + ".metadata")
    older = json.loads(metadata.read_text())
    del older["sha256"]  # written before caches had a checksum
    metadata.write_text(json.dumps(older))
    meta, log = _prepare(runner, caplog)
    assert "have no checksum (an older version wrote them): rebuilding" in log
    assert json.loads(metadata.read_text())["sha256"] == hashlib.sha256(good).hexdigest()
    assert "Using cached features" in _prepare(runner, caplog)[1]


def test_damaged_cache_metadata_is_rebuilt(runner, caplog):
    """A .metadata file that is not JSON, not UTF-8 or not an object: the cache is rebuilt, not a traceback."""
    meta, _ = _prepare(runner, caplog)
    cache = _cache(runner)
    good = cache.read_bytes()
    metadata = cache.with_name(cache.name + ".metadata")
    for content in (b'{"key": ', b"\xff\xfe\x00", b"[1, 2]"):
        metadata.write_bytes(content)
        rebuilt, log = _prepare(runner, caplog)
        assert "Using cached features" not in log and "Wrote" in log, log
        assert cache.read_bytes() == good and rebuilt["sha256"] == meta["sha256"]
        assert json.loads(metadata.read_text()) == rebuilt
