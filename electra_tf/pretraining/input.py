"""Reading the pre-training TFRecords (the original's ``pretrain/pretrain_data.py``), seeded.

The original pipeline: file names -> repeat -> shuffle (buffer = number of files) -> interleave
4 files -> shuffle 100 records -> parse + batch with drop_remainder; no seeds. Here the same
shape with seeds and deterministic interleaving, so the order is a function of the seed and a
resumed run (which skips the batches already consumed) sees exactly the data an uninterrupted
run would. Records must have been built with ``max_seq_length`` tokens (three int64 features).
"""

from __future__ import annotations

import glob
from typing import List

from electra_tf.errors import DataError
from electra_tf.utils.input_pipelines import PREFETCH_BATCHES, pipeline_options

FEATURES = ("input_ids", "input_mask", "segment_ids")


def list_tfrecords(patterns: str) -> List[str]:
    """The files of a comma-separated list of globs (the original's pretrain_tfrecords), sorted."""
    files: List[str] = []
    for pattern in patterns.split(","):
        pattern = pattern.strip()
        if pattern:
            files.extend(sorted(glob.glob(pattern)))
    if not files:
        raise DataError(f"No pre-training TFRecords match {patterns!r}; build them with build_pretraining_dataset.py "
                        f"(--output-dir <data-dir>/pretrain_tfrecords) or set the hparam pretrain_tfrecords.")
    return files


def pretraining_dataset(patterns: str, batch_size: int, max_seq_length: int, seed: int, is_training: bool = True):
    """An endless tf.data.Dataset of {input_ids, input_mask, segment_ids} int32 [batch, L]."""
    import tensorflow as tf

    files = list_tfrecords(patterns)
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in FEATURES}

    def parse(records):
        try:
            parsed = tf.io.parse_example(records, spec)
        except Exception as e:  # pragma: no cover - graph-time errors only
            raise DataError(f"Cannot parse pre-training records: {e}") from None
        return {name: tf.cast(parsed[name], tf.int32) for name in FEATURES}

    d = tf.data.Dataset.from_tensor_slices(tf.constant(files)).repeat()
    d = d.shuffle(buffer_size=len(files), seed=seed)
    d = d.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)))  # sequential: deterministic
    d = d.shuffle(buffer_size=100, seed=seed + 1)
    d = d.batch(batch_size, drop_remainder=True)  # drop_remainder also for eval, as the original
    # Multi-worker: every worker reads the files and keeps its share of each global batch, so the
    # global batches (and the trained model) are those of one process. No autotuning: its thread
    # stalled the end of the loop (utils/input_pipelines.py).
    return d.map(parse).with_options(pipeline_options(deterministic=True)).prefetch(PREFETCH_BATCHES)
