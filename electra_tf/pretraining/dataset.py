"""Text corpus -> the original ELECTRA pre-training TFRecords (``build_pretraining_dataset.py``).

Output, as the original: files ``pretrain_data.tfrecord-<i>-of-<n>`` (``n`` = ``num_out_files``,
1000 by default, ``i`` not zero-padded), records with ``input_ids``, ``input_mask`` and
``segment_ids``, each ``max_seq_length`` int64 values: ``[CLS] A [SEP]`` with segment 0, then
``B [SEP]`` with segment 1 when B is not empty, then padding with the literal id 0, mask 0,
segment 0. No masking happens here (pre-training masks dynamically).

Jobs and sharding, as the original: job j of P owns the output files i with i mod P = j and
writes its examples round-robin over them; it takes the corpus files whose index in the sorted
listing is j mod P, shuffles them, and streams them through its own ``ExampleBuilder`` (its
state, including the next target length, runs on from file to file; every file ends with a
flush, so no example spans two files). P > 1 runs the jobs in separate processes.

Randomness. The original's jobs use Python's global ``random``, never seeded. Here job j uses
``random.Random(seed + j)`` for the same calls in the same order (the file shuffle, then the
builder's draws), so a run is repeatable for a seed and equals the original's algorithm run
with ``random.seed(seed + j)`` in job j.

Speed: lines are read and tokenized in blocks (the fast ``FullTokenizer`` on a whole block),
the packing rule runs on sentence lengths only, and each block's examples are gathered and
serialized with NumPy (``records``).

Output (our extension; the original re-created the folder and wrote in place): the files and a
manifest (``pretrain_data.manifest.json``: size, records and sha256 of each file, checked by
``run_pretraining.py`` before its first step) are staged and replace the earlier output only
when all of them are complete (``staging``).
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from electra_tf.errors import ConfigError, DataError, ElectraError
from electra_tf.pretraining.corpus import iter_line_blocks, list_corpus_files
from electra_tf.pretraining.manifest import file_entry, manifest_record
from electra_tf.pretraining.packing import MIN_TARGET_LENGTH, ExampleBuilder
from electra_tf.pretraining.records import ExampleSerializer
from electra_tf.pretraining.staging import StagedOutput, check_output_target
from electra_tf.pretraining.tokenization import pretraining_tokenizer
from electra_tf.utils.ragged import segment_positions

FEATURES = ("input_ids", "input_mask", "segment_ids")
PROGRESS_SECONDS = 5.0


def output_file_name(index: int, num_out_files: int) -> str:
    """``pretrain_data.tfrecord-<i>-of-<n>``, the original's naming."""
    return f"pretrain_data.tfrecord-{index}-of-{num_out_files}"


@dataclasses.dataclass
class BuildOptions:
    """The builder's settings (the command-line flags of the original, plus ``num_out_files``, an
    ``ExampleWriter`` constructor default there, and ``seed``)."""

    max_seq_length: int = 128
    blanks_separate_docs: bool = True
    do_lower_case: bool = True
    strip_accents: bool = True
    num_out_files: int = 1000
    seed: int = 12345

    def validate(self, num_processes: int) -> None:
        if self.max_seq_length < MIN_TARGET_LENGTH:
            raise ConfigError(f"--max-seq-length must be at least {MIN_TARGET_LENGTH} (the original draws target "
                              f"lengths from randint({MIN_TARGET_LENGTH}, max_seq_length)); got {self.max_seq_length}.")
        if self.num_out_files < 1:
            raise ConfigError(f"--num-out-files must be at least 1; got {self.num_out_files}.")
        if not 1 <= num_processes <= self.num_out_files:
            raise ConfigError(f"--num-processes must be between 1 and --num-out-files ({self.num_out_files}): each "
                              f"process writes its own output files; got {num_processes}.")


@dataclasses.dataclass
class JobStats:
    """What one job has done so far."""

    files: int = 0
    files_done: int = 0
    docs: int = 0
    examples: int = 0
    tokens: int = 0

    def add(self, other: "JobStats") -> "JobStats":
        return JobStats(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


def assemble_examples(tokens: np.ndarray, src, dst, length, len_a, len_b, max_length: int, cls_id: int,
                      sep_id: int) -> Dict[str, np.ndarray]:
    """The three (examples, max_length) feature arrays of a block of examples from the packer's
    pieces (``ExampleBuilder.take_examples``) and the token array they point into."""
    n = len(len_a)
    input_ids = np.zeros(n * max_length, np.int64)
    if len(src):
        input_ids[segment_positions(dst, length)] = tokens[segment_positions(src, length)]
    row = np.arange(n, dtype=np.int64) * max_length
    input_ids[row] = cls_id
    input_ids[row + len_a + 1] = sep_id
    has_b = len_b > 0
    input_ids[(row + len_a + len_b + 2)[has_b]] = sep_id
    n_real = len_a + 2 + np.where(has_b, len_b + 1, 0)
    column = np.arange(max_length)
    input_mask = (column < n_real[:, None]).astype(np.int64)
    segment_ids = ((column >= (len_a + 2)[:, None]) & (input_mask == 1)).astype(np.int64)
    return {"input_ids": input_ids.reshape(n, max_length), "input_mask": input_mask, "segment_ids": segment_ids}


class ShardWriter:
    """Job ``job_id``'s output files (i ≡ job_id mod num_jobs), records written round-robin.
    Every owned file is created, also those that get no record (as the original)."""

    def __init__(self, output_dir: str, job_id: int, num_jobs: int, num_out_files: int):
        import tensorflow as tf

        self.paths = [os.path.join(output_dir, output_file_name(i, num_out_files))
                      for i in range(num_out_files) if i % num_jobs == job_id]
        self._writers = [tf.io.TFRecordWriter(path) for path in self.paths]
        self.counts = [0] * len(self.paths)
        self.n_written = 0

    def write(self, records: List[bytes]) -> None:
        writers, counts, n = self._writers, self.counts, len(self._writers)
        for i, record in enumerate(records, self.n_written):
            writers[i % n].write(record)
            counts[i % n] += 1
        self.n_written += len(records)

    def close(self) -> None:
        for writer in self._writers:
            writer.close()

    def entries(self) -> Dict[str, Dict]:
        """The manifest entries of the closed files (size, records, sha256), by file name."""
        return {os.path.basename(path): file_entry(path, count) for path, count in zip(self.paths, self.counts)}


def write_job(job_id: int, num_jobs: int, corpus_dir: str, file_names: List[str], vocab_file: str, output_dir: str,
              options: BuildOptions, report: Optional[Callable[[int, JobStats], None]] = None,
              tokenizer=None) -> Tuple[JobStats, Dict[str, Dict]]:
    """One job of the original's ``write_examples``: its corpus files -> its output files.

    ``file_names``: the sorted corpus listing (the job takes every ``num_jobs``-th name).
    ``report(job_id, stats)`` is called after every block of lines and at the end. ``tokenizer``:
    the one ``pretraining_tokenizer`` gives for these options, if already built. Returns the
    job's totals and the manifest entries of its files.
    """
    rng = random.Random(options.seed + job_id)
    tokenizer = tokenizer or pretraining_tokenizer(vocab_file, options.do_lower_case, options.strip_accents)
    cls_id, sep_id = tokenizer.special_id("[CLS]"), tokenizer.special_id("[SEP]")
    max_length = options.max_seq_length
    mine = [name for i, name in enumerate(file_names) if i % num_jobs == job_id]
    rng.shuffle(mine)  # the original shuffles its files with the job's random state, before any example
    builder = ExampleBuilder(max_length, rng)
    serializer = ExampleSerializer(FEATURES)
    writer = ShardWriter(output_dir, job_id, num_jobs, options.num_out_files)
    stats = JobStats(files=len(mine))
    tokens = np.zeros(0, np.int32)

    def flush_examples():
        src, dst, length, len_a, len_b = builder.take_examples()
        if len(len_a):
            features = assemble_examples(tokens, src, dst, length, len_a, len_b, max_length, cls_id, sep_id)
            writer.write(serializer.serialize(features))
            stats.examples += len(len_a)

    try:
        for name in mine:
            after_text = False  # the previous line had text (for counting documents)
            for block in iter_line_blocks(os.path.join(corpus_dir, name)):
                lines = [line.strip() for line in block]  # str.strip, as the original (it also strips \x1c-\x1f)
                if not options.blanks_separate_docs:
                    lines = [line for line in lines if line]  # the original skips blank lines then
                blank = [not line for line in lines]
                texts = [line for line in lines if line]
                ids, text_lengths = tokenizer.encode_batch_flat(texts)
                lengths = np.zeros(len(lines), np.int64)
                lengths[np.flatnonzero(~np.asarray(blank, bool))] = text_lengths
                carried = builder.carry_over(tokens)
                tokens = np.concatenate([carried, np.asarray(ids, np.int32)])
                starts = len(carried) + np.cumsum(lengths) - lengths
                builder.add_block(starts.tolist(), lengths.tolist(), blank)
                flush_examples()
                stats.tokens += int(text_lengths.sum())
                if options.blanks_separate_docs and lines:  # a document ends at a blank line after text
                    is_blank = np.asarray(blank, bool)
                    stats.docs += int((is_blank & np.concatenate([[after_text], ~is_blank[:-1]])).sum())
                    after_text = not blank[-1]
                if report:
                    report(job_id, stats)
            builder.end_document()  # end of file ends the document
            flush_examples()
            stats.docs += after_text or not options.blanks_separate_docs  # and at the end of the file
            stats.files_done += 1
            if report:
                report(job_id, stats)
    finally:
        writer.close()
    return stats, writer.entries()


class Progress:
    """Prints a progress line (files, documents, examples, tokens and their rates, summed over the
    jobs) at most every ``every`` seconds; ``line()`` gives the current one (e.g. a final summary)."""

    def __init__(self, stream=None, every: float = PROGRESS_SECONDS):
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.start = self._last = time.time()
        self.jobs: Dict[int, JobStats] = {}

    def total(self) -> JobStats:
        total = JobStats()
        for stats in self.jobs.values():
            total = total.add(stats)
        return total

    def line(self) -> str:
        t, elapsed = self.total(), max(time.time() - self.start, 1e-9)
        return (f"{t.files_done}/{t.files} files, {t.docs:,} documents, {t.examples:,} examples, {t.tokens:,} tokens "
                f"in {elapsed:.0f}s: {t.docs / elapsed:,.0f} documents/s, {t.examples / elapsed:,.0f} examples/s, "
                f"{t.tokens / elapsed:,.0f} tokens/s")

    def __call__(self, job_id: int, stats: JobStats) -> None:
        self.jobs[job_id] = dataclasses.replace(stats)
        if time.time() - self._last >= self.every:
            self._last = time.time()
            print(self.line(), file=self.stream, flush=True)


def _job_process(job_id, num_jobs, corpus_dir, file_names, vocab_file, output_dir, options, queue):
    """Entry point of a worker process: runs ``write_job`` and reports through ``queue``."""
    import signal

    # The parent handles Ctrl-C and SIGTERM and stops its jobs with SIGTERM: a job ignores Ctrl-C
    # (sent to the whole process group) and dies at SIGTERM (the parent's handler is inherited).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    last = [0.0]

    def report(job, stats):
        now = time.time()
        if now - last[0] >= 0.5 or stats.files_done == stats.files:
            last[0] = now
            queue.put(("progress", job, dataclasses.replace(stats)))

    from electra_tf.utils.files import write_failure

    try:
        stats, entries = write_job(job_id, num_jobs, corpus_dir, file_names, vocab_file, output_dir, options, report)
    except ElectraError as e:
        queue.put(("error", job_id, str(e)))
        return
    except BaseException as e:  # noqa: BLE001 - a failed write or a bug: pass its description to the parent
        failed = write_failure(e)
        if failed is not None:
            queue.put(("write_error", job_id, failed[:2]))
            return
        queue.put(("crash", job_id, f"{type(e).__name__}: {e}"))
        raise
    queue.put(("done", job_id, (stats, entries)))


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (a killed build leaves no job running)."""
    import signal

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_processes(num_processes, corpus_dir, file_names, vocab_file, output_dir, options, progress) -> Dict[str, Dict]:
    """Run the jobs in ``num_processes`` worker processes; the manifest entries of all their files."""
    import multiprocessing
    import queue as queue_module

    # Fork, as the original (multiprocessing's Linux default; TensorFlow imported first, TFRecordWriter
    # used in the children): a spawned child would import TensorFlow again (~10 s). Elsewhere spawn.
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    queue = context.Queue()
    jobs = [context.Process(target=_job_process, name=f"pretrain-data-{j}",
                            args=(j, num_processes, corpus_dir, file_names, vocab_file, output_dir, options, queue))
            for j in range(num_processes)]
    for job in jobs:
        job.start()
    done = set()
    entries: Dict[str, Dict] = {}
    try:
        while len(done) < num_processes:
            try:
                kind, job_id, payload = queue.get(timeout=1.0)
            except queue_module.Empty:
                dead = [j for j, job in enumerate(jobs) if j not in done and not job.is_alive() and job.exitcode]
                if dead:
                    raise DataError(f"Job {dead[0]} stopped with exit code {jobs[dead[0]].exitcode}.")
                continue
            if kind == "error":
                raise DataError(payload)
            if kind == "write_error":
                raise OSError(payload[0], payload[1], output_dir)
            if kind == "crash":
                raise RuntimeError(f"job {job_id} failed: {payload}")
            if kind == "done":
                payload, job_entries = payload
                entries.update(job_entries)
                done.add(job_id)
            progress(job_id, payload)
    finally:
        for job in jobs:
            if job.is_alive() and len(done) < num_processes:
                job.terminate()
            job.join()
    return entries


def build_pretraining_dataset(corpus_dir: str, vocab_file: str, output_dir: str, num_processes: int = 1,
                              options: Optional[BuildOptions] = None, progress: Optional[Progress] = None) -> JobStats:
    """Write the pre-training TFRecords of every text file in ``corpus_dir`` to ``output_dir``.

    Checks the options, the corpus folder, the vocabulary and the output folder before writing
    anything; a corpus file that is not UTF-8 stops the run with a ``DataError`` naming the file
    and line. The records and their manifest (sizes, record counts, sha256) are written into a
    staging folder and replace the earlier output only once complete (``staging``); a failure
    leaves the earlier output as it was. Returns the totals over all jobs.
    """
    options = options or BuildOptions()
    options.validate(num_processes)
    file_names = list_corpus_files(corpus_dir)
    tokenizer = pretraining_tokenizer(vocab_file, options.do_lower_case, options.strip_accents)  # a bad vocab fails here
    check_output_target(output_dir, corpus_dir, file_names, vocab_file)
    progress = progress or Progress()
    with StagedOutput(output_dir) as staged:
        if num_processes == 1:
            _, entries = write_job(0, 1, corpus_dir, file_names, vocab_file, staged.folder, options, progress,
                                   tokenizer)
        else:
            entries = _run_processes(num_processes, corpus_dir, file_names, vocab_file, staged.folder, options,
                                     progress)
        staged.commit(manifest_record(entries, {**dataclasses.asdict(options), "num_processes": num_processes}))
    return progress.total()
