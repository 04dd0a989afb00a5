"""Features -> TFRecord cache -> tf.data pipelines.

As in the original (``finetune/preprocessing.py``): all tasks' features of a split go into one
TFRecord named ``<sorted task names>_<split>.tfrecord`` under ``preprocessed_data_dir``, with a
``.metadata`` JSON beside it; the file is padded with dummy records (``task_id == n_tasks``, zero
loss, skipped when scoring) to a multiple of the batch size. Unlike the original, the cache is
keyed by everything that changes the features (task, split, vocabulary, max_seq_length,
lowercasing, the data files' contents, ...), so a stale cache is rebuilt instead of reused; the
metadata also records the file's size and sha256, so a truncated or damaged cache (also one
damaged at its recorded size) is rebuilt, with a log line, instead of failing mid-training.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
from typing import Dict, List, Sequence, Tuple

import tensorflow as tf

from electra_tf.utils.files import atomic_output_path, atomic_write_json, read_json_or_none, sha256_file
from electra_tf.finetuning.records import serialize_features
from electra_tf.finetuning.features import TOKEN_COUNTERS, gc_paused
from electra_tf.utils.input_pipelines import PARALLEL_CALLS, PREFETCH_BATCHES, pipeline_options

logger = logging.getLogger("electra_tf")

# Bump when the feature layout changes, so old caches are rebuilt.
FEATURE_VERSION = 1
# Examples featurized per call (progress granularity; tokenization is batched within a call).
FEATURIZE_CHUNK = 2000


def shared_feature_spec(max_seq_length: int):
    return {
        "input_ids": ((max_seq_length,), "int64"),
        "input_mask": ((max_seq_length,), "int64"),
        "segment_ids": ((max_seq_length,), "int64"),
        "task_id": ((), "int64"),
    }


def full_feature_spec(tasks, max_seq_length: int):
    spec = shared_feature_spec(max_seq_length)
    for task in tasks:
        spec.update(task.feature_spec())
    return spec


def _file_digest(path: str) -> str:
    """sha256 of a data file; read once per process while its size and mtime stay the same
    (the run identity and the feature cache both key on the training files)."""
    stat = os.stat(path)
    return _digest_of(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def _sha256(path: str) -> str:
    """sha256 of a file, read in full once per version of the file in this process (the feature
    cache is checked on every reuse: each trial's training and every evaluation during training;
    a file rewritten or replaced since has another size, mtime or inode and is read again)."""
    stat = os.stat(path)
    return _sha256_of_version(os.path.realpath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=256)
def _sha256_of_version(path: str, size: int, mtime_ns: int, inode: int) -> str:
    return sha256_file(path)


def cache_key(config, tasks, split: str, data_files: Sequence[str], pad_multiple: int, portable: bool = False) -> str:
    """A digest of everything the features of this split depend on: the tokenizer (vocabulary
    contents, space_token), the data files' contents, the record layout (padding, the tasks and
    their order, the training shuffle's seed) and what each task declares in ``cache_fields``
    (its preprocessor's and reader's settings)."""
    parts = {
        "version": FEATURE_VERSION,
        "tasks": [t.name for t in tasks],
        "split": split,
        "vocab": _file_digest(config.vocab_file) if os.path.isfile(config.vocab_file) else config.vocab_file,
        "do_lower_case": config.do_lower_case,
        "space_token": config.space_token,
        # portable: files by name and content only (a run identity survives moving the data folder)
        "data": {(os.path.basename(p) if portable else p): _file_digest(p) for p in sorted(data_files)},
        "pad_multiple": pad_multiple,
        "seed": config.seed if split == "train" else None,
        "task_fields": {t.name: t.cache_fields() for t in tasks},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def dummy_feature(n_tasks: int, spec) -> Dict:
    return {"task_id": n_tasks}


@gc_paused
def prepare_split(config, all_tasks, tasks, split: str, is_training: bool, pad_multiple: int,
                  data_files: Sequence[str]) -> Tuple[str, Dict]:
    """Write (or reuse) the TFRecord of ``split`` for ``tasks``; return (path, metadata).

    Records use the feature spec of ``all_tasks`` (the model's) and each example's task_id is
    its task's index among them; dummy padding records get task_id len(all_tasks).
    """
    spec = full_feature_spec(all_tasks, config.max_seq_length)
    name = "_".join(sorted(t.name for t in tasks)) + "_" + split
    folder = config.preprocessed_data_dir
    path = os.path.join(folder, name + ".tfrecord")
    meta_path = path + ".metadata"
    key = cache_key(config, all_tasks, split, data_files, pad_multiple) + "-" + name
    if config.use_tfrecords_if_existing and os.path.isfile(meta_path) and os.path.isfile(path):
        meta = read_json_or_none(meta_path)  # the cache's own bookkeeping: damaged means rebuild
        if not isinstance(meta, dict):
            meta = {}
        if meta.get("key") == key and meta.get("bytes") == os.path.getsize(path):
            if meta.get("sha256") == _sha256(path):
                logger.info("Using cached features %s (%d records)", path, meta["n_examples"])
                return path, meta
            if "sha256" in meta:
                logger.warning("Cached features %s are corrupted (their checksum differs from %s): rebuilding.", path,
                               meta_path)
            else:
                logger.info("Cached features %s have no checksum (an older version wrote them): rebuilding.", path)
        elif meta.get("key") == key and "bytes" in meta:
            logger.warning("Cached features %s are truncated or changed (%d bytes, %s recorded): rebuilding.", path,
                           os.path.getsize(path), meta.get("bytes"))
        else:
            logger.info("Cached features %s are stale (data, vocab or settings changed): rebuilding.", path)

    features: List[Dict] = []
    counts, tokens = {}, {}
    from electra_tf.training.progress import progress_bar, progress_enabled

    for task in tasks:
        examples = task.get_examples(split)
        task_features, counters = [], {}
        bar = progress_bar(len(examples), f"features {task.name} {split}", progress_enabled(config.progress), unit="ex")
        for start in range(0, len(examples), FEATURIZE_CHUNK):
            chunk = examples[start:start + FEATURIZE_CHUNK]
            featurized = task.featurize(chunk, is_training)
            task_features.extend(featurized)
            for name, value in featurized.counters.items():  # e.g. QA's answer_position_differences
                counters[name] = counters.get(name, 0) + value
            bar.update(len(chunk))
        bar.close()
        for feature in task_features:
            feature["task_id"] = all_tasks.index(task)
        # the text's token and [UNK] counts (the [UNK] warning's) are kept apart from the task's counters
        tokens[task.name] = {k: counters.pop(k) for k in TOKEN_COUNTERS if k in counters}
        counts[task.name] = {"examples": len(examples), "features": len(task_features), **counters}
        features.extend(task_features)
    if is_training:
        # The original shuffles the training records once before writing (unseeded); ours is seeded.
        random.Random(config.seed if config.seed is not None else 0).shuffle(features)
    n_real = len(features)
    if is_training and pad_multiple > 2 * n_real and pad_multiple - n_real > 4096:
        # Padding the file to one batch would write thousands of dummy records (a batch of 100000
        # on 1000 examples ran out of memory). Small overshoots stay allowed, as the original did.
        from electra_tf.errors import ConfigError

        raise ConfigError(
            f"train_batch_size={pad_multiple} is more than twice the {n_real} training features of "
            f"{', '.join(t.name for t in tasks)}; lower train_batch_size (a step would be mostly padding).")
    while len(features) % pad_multiple:
        features.append(dummy_feature(len(all_tasks), spec))
    os.makedirs(folder, exist_ok=True)
    with atomic_output_path(path) as tmp:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in serialize_features(features, spec):
                writer.write(record)
    # "bytes" and "sha256": a truncated, replaced or damaged file with intact metadata is rebuilt,
    # not read mid-training (our extension; the original reused any file of the right name)
    meta = {"n_examples": len(features), "n_real": n_real, "key": key, "counts": counts, "tokens": tokens,
            "bytes": os.path.getsize(path),
            "sha256": _sha256(path)}
    atomic_write_json(meta_path, meta)
    logger.info("Wrote %d features (%d real) to %s", len(features), n_real, path)
    return path, meta


def parse_fn(spec, batched: bool = False):
    """The parser of one serialized record (``batched``: of a vector of records) into the
    features of ``spec``, integers as int32."""
    description = {
        name: tf.io.FixedLenFeature(shape, tf.float32 if dtype == "float32" else tf.int64)
        for name, (shape, dtype) in spec.items()
    }
    parse_records = tf.io.parse_example if batched else tf.io.parse_single_example

    def parse(records):
        parsed = parse_records(records, description)
        return {k: (tf.cast(v, tf.int32) if v.dtype == tf.int64 else v) for k, v in parsed.items()}

    return parse


def trim_fn(spec, max_seq_length: int, bucket_size: int):
    """Cut the per-token features of a batch to its longest input, rounded up to ``bucket_size``."""
    per_token = [name for name, (shape, _) in spec.items() if tuple(shape) == (max_seq_length,)]

    def trim(batch):
        # at least one bucket: a batch of padding records only (length 0) keeps a valid shape
        longest = tf.maximum(tf.reduce_max(tf.reduce_sum(batch["input_mask"], axis=1)), 1)
        length = tf.minimum(((longest + bucket_size - 1) // bucket_size) * bucket_size, max_seq_length)
        return {k: (v[:, :length] if k in per_token else v) for k, v in batch.items()}

    return trim


def make_dataset(path: str, spec, batch_size: int, is_training: bool, seed: int = 0, shuffle_buffer: int = 100,
                 bucket_size: int = 0, max_seq_length: int = 0):
    """Training: repeat, shuffle (buffer 100 as the original), fixed batches. Eval: one pass, in order.

    ``bucket_size`` > 0: dynamic padding (see ``trim_fn``); the padding cut away is masked, so the
    results equal full-length batches' without dropout; with dropout the random draws depend on
    the batch shape, so they are equal in expectation, not step by step.
    """
    ds = tf.data.TFRecordDataset(path)
    if is_training:
        ds = ds.repeat().shuffle(shuffle_buffer, seed=seed)
    ds = ds.map(parse_fn(spec), num_parallel_calls=PARALLEL_CALLS)
    ds = ds.batch(batch_size, drop_remainder=True)  # records are padded to a multiple of the batch
    if bucket_size:
        ds = ds.map(trim_fn(spec, max_seq_length, bucket_size), num_parallel_calls=PARALLEL_CALLS)
    return _finish(ds)


#: length grouping sorts windows of this many batches by length (HuggingFace's LengthGroupedSampler
#: uses 50 as well): large enough that the batches of a window hold texts of similar length, small
#: enough that which examples share a batch still changes from epoch to epoch
LENGTH_GROUP_WINDOW = 50


def load_records(path: str):
    """(serialized records [n] as a NumPy object array, their input lengths [n] int64) of a
    TFRecord file, read once per version of the file in this process (length-aware batching needs
    random access, so the split is held in memory: about the size of the file)."""
    stat = os.stat(path)
    return _records_of_version(os.path.realpath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=4)
def _records_of_version(path: str, size: int, mtime_ns: int, inode: int):
    import numpy as np

    chunks, lengths = [], []
    for block in tf.data.TFRecordDataset(path).batch(8192):
        parsed = tf.io.parse_example(block, {"input_mask": tf.io.VarLenFeature(tf.int64)})
        lengths.append(tf.sparse.reduce_sum(parsed["input_mask"], axis=1, output_is_sparse=False).numpy()
                       if block.shape[0] else np.zeros([0], np.int64))
        chunks.append(block.numpy())
    records = np.concatenate(chunks) if chunks else np.zeros([0], object)
    return records, (np.concatenate(lengths).astype(np.int64) if lengths else np.zeros([0], np.int64))


def length_grouped_batches(lengths, batch_size: int, seed, epoch):
    """The batches (row indices [steps, batch_size]) of one epoch of length-grouped training:
    a permutation drawn from (seed, epoch), sorted by length (longest first) within windows of
    :data:`LENGTH_GROUP_WINDOW` batches, cut into batches, and the batches shuffled. Every row
    appears exactly once; ``len(lengths)`` must be a multiple of ``batch_size``. TensorFlow ops
    (stateless random), so that the epochs of an endless tf.data pipeline are computed on demand."""
    lengths = tf.convert_to_tensor(lengths, tf.int64)
    n = tf.shape(lengths, out_type=tf.int64)[0]
    seed = tf.cast(seed, tf.int64)
    epoch = tf.cast(epoch, tf.int64)
    perm = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([seed, epoch]))
    longest = tf.reduce_max(lengths) + 1
    window = tf.range(n) // (batch_size * LENGTH_GROUP_WINDOW)
    # one sort: by window, then by length (descending); ties keep the permutation's random order
    key = window * longest + (longest - 1 - tf.gather(lengths, perm))
    order = tf.gather(perm, tf.argsort(key, stable=True))
    batches = tf.reshape(order, [-1, batch_size])
    return tf.random.experimental.stateless_shuffle(batches, seed=tf.stack([seed, epoch + (1 << 40)]))


def make_length_grouped_dataset(path: str, spec, batch_size: int, seed: int, bucket_size: int, max_seq_length: int):
    """Endless training batches grouped by length (see :func:`length_grouped_batches`), each cut
    to its longest input. Deterministic from ``seed``: ``skip(k)`` resumes it exactly. Batches of
    any length have one shape signature ([batch, None]), so the training step is traced once."""
    records, lengths = load_records(path)
    if len(records) % batch_size:
        raise ValueError(f"{path}: {len(records)} records are not a multiple of the batch {batch_size}.")
    records_t, lengths_t = tf.constant(records, tf.string), tf.constant(lengths)
    seed = int(seed or 0)
    ds = tf.data.Dataset.range(1 << 62).flat_map(
        lambda epoch: tf.data.Dataset.from_tensor_slices(length_grouped_batches(lengths_t, batch_size, seed, epoch)))
    ds = ds.map(lambda rows: tf.gather(records_t, rows))
    ds = ds.map(parse_fn(spec, batched=True), num_parallel_calls=PARALLEL_CALLS, deterministic=True)
    ds = ds.map(trim_fn(spec, max_seq_length, bucket_size), num_parallel_calls=PARALLEL_CALLS, deterministic=True)
    return _finish(ds)


def length_sorted_order(lengths):
    """The order in which sorted evaluation reads the records: by input length (stable, so records
    of one length keep their file order)."""
    import numpy as np

    return np.argsort(np.asarray(lengths), kind="stable")


def make_sorted_dataset(path: str, spec, batch_size: int, bucket_size: int, max_seq_length: int):
    """(evaluation batches of records sorted by length and cut to their longest input, the file
    index of each record in reading order): a reader puts the results back in file order."""
    records, lengths = load_records(path)
    order = length_sorted_order(lengths)
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(records[order], tf.string)).batch(batch_size)
    ds = ds.map(parse_fn(spec, batched=True), num_parallel_calls=PARALLEL_CALLS)
    ds = ds.map(trim_fn(spec, max_seq_length, bucket_size), num_parallel_calls=PARALLEL_CALLS)
    return _finish(ds), order


def _finish(ds):
    """``ds`` with our pipeline options (utils/input_pipelines.py: no autotuning, whose thread stalled
    the end of every loop; multi-worker: each worker reads the file and takes its share of each global
    batch), prefetching."""
    return ds.with_options(pipeline_options()).prefetch(PREFETCH_BATCHES)


class SplitDatasets:
    """The tf.data pipelines of one fine-tuning run's splits, shared by its training and its
    evaluator: features written (or reused) by ``prepare_split`` for the run's ``tasks`` (the
    model's), batched as the hparams say."""

    def __init__(self, config, tasks):
        self.config = config
        self.tasks = list(tasks)

    def get(self, split: str, is_training: bool, tasks=None, seed: int = 0):
        """(dataset, metadata) of ``split`` for ``tasks`` (default: all): the global train batch
        split into the micro-batches of gradient accumulation when ``is_training``, the eval
        batch otherwise; cut to the longest input with dynamic padding (when every task supports it).

        With ``length_grouping`` (and every task supporting dynamic padding) training batches are
        grouped by length and evaluation batches sorted by length; the metadata returned then
        holds ``"order"``, the file index of each evaluation record in reading order."""
        config = self.config
        tasks = tasks or self.tasks
        batch = config.train_batch_size if is_training else config.eval_batch_size
        files = [f for t in tasks for f in t.data_files(split)]
        path, meta = prepare_split(config, self.tasks, tasks, split, is_training, batch, files)
        spec = full_feature_spec(self.tasks, config.max_seq_length)
        if is_training:  # micro-batches of one optimizer step (gradient accumulation)
            batch //= config.gradient_accumulation_steps
        trimmable = all(t.supports_dynamic_padding for t in self.tasks)
        grouped = bool(getattr(config, "length_grouping", False)) and trimmable
        bucket = config.bucket_size if (config.dynamic_padding or grouped) and trimmable else 0
        if grouped and is_training:
            return make_length_grouped_dataset(path, spec, batch, seed, bucket, config.max_seq_length), meta
        if grouped:
            dataset, order = make_sorted_dataset(path, spec, batch, bucket, config.max_seq_length)
            return dataset, dict(meta, order=order)
        return make_dataset(path, spec, batch, is_training, seed=seed, bucket_size=bucket,
                            max_seq_length=config.max_seq_length), meta
