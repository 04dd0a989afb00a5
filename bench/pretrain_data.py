"""Pre-training dataset building speed: electra-tf against the original algorithm.

    python bench/pretrain_data.py [--files 8] [--max-seq-length 128] [--vocab-size 8000] [--processes 1]

Corpus: tinyshakespeare (``../shared/data/tinyshakespeare/input.txt``; 40,000 lines, blank lines
between speeches) cut into ``--files`` files. Vocabulary: a WordPiece vocab.txt trained on it by
``build_vocab`` (not timed). Both sides write the same TFRecord files from the same corpus with
the same seed, and the files are compared byte for byte:

- original: the transcription of ``build_pretraining_dataset.py`` (``ExampleBuilder``,
  ``ExampleWriter``, ``write_examples``) from ``tests/test_pretraining_data.py``, with the
  original's pure-Python tokenizer (``electra_tf/text/reference_tokenizer.py``);
- electra-tf: ``build_pretraining_dataset`` (fast tokenizer on blocks of lines, packing on
  lengths, NumPy serialization).

Times include building the tokenizer and writing the files, not importing TensorFlow; each side
runs ``--repeats`` times and the fastest run is reported (the machine may be shared), in wall time
and in CPU time of this process (less sensitive to other load; with ``--processes`` > 1 the CPU
time of our worker processes is not counted, so only the wall time is comparable then).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from electra_tf.pretraining.dataset import BuildOptions, Progress, build_pretraining_dataset  # noqa: E402
from electra_tf.pretraining.vocab import train_wordpiece  # noqa: E402
from electra_tf.text.reference_tokenizer import ReferenceTokenizer  # noqa: E402
from tests.test_pretraining_data import original_write_examples  # noqa: E402

SHAKESPEARE = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare", "input.txt")


def split_corpus(folder: str, n_files: int) -> int:
    """Cut tinyshakespeare into ``n_files`` files of consecutive lines; returns the line count."""
    with open(SHAKESPEARE, encoding="utf-8") as f:
        lines = f.read().split("\n")
    per_file = -(-len(lines) // n_files)
    os.makedirs(folder)
    for i in range(n_files):
        with open(os.path.join(folder, f"part-{i:03d}.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines[i * per_file:(i + 1) * per_file]) + "\n")
    return len(lines)


def files_of(folder: str):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--num-out-files", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="Runs of each side; the fastest is reported.")
    parser.add_argument("--processes", type=int, default=1, help="Processes for both sides (jobs run one after "
                                                                 "the other on the original side).")
    args = parser.parse_args()
    if not os.path.isfile(SHAKESPEARE):
        sys.exit(f"tinyshakespeare not found at {SHAKESPEARE}")
    tmp = tempfile.mkdtemp(prefix="pretrain-bench-")
    try:
        corpus = os.path.join(tmp, "corpus")
        n_lines = split_corpus(corpus, args.files)
        vocab = os.path.join(tmp, "vocab.txt")
        train_wordpiece(corpus, vocab, vocab_size=args.vocab_size)
        options = BuildOptions(max_seq_length=args.max_seq_length, num_out_files=args.num_out_files, seed=1)

        ours_dir = os.path.join(tmp, "ours")
        original_dir = os.path.join(tmp, "original")
        ours_times, original_times = [], []
        for _ in range(args.repeats):  # the best of a few runs: the machine may be shared
            start, cpu = time.perf_counter(), time.process_time()
            stats = build_pretraining_dataset(corpus, vocab, ours_dir, args.processes, options,
                                              Progress(io.StringIO()))
            ours_times.append((time.perf_counter() - start, time.process_time() - cpu))

            shutil.rmtree(original_dir, ignore_errors=True)
            os.makedirs(original_dir)
            ns = argparse.Namespace(corpus_dir=corpus, output_dir=original_dir, max_seq_length=args.max_seq_length,
                                    num_processes=args.processes, blanks_separate_docs=True,
                                    num_out_files=args.num_out_files, seed=1)
            start, cpu = time.perf_counter(), time.process_time()
            tokenizer = ReferenceTokenizer(vocab)
            for job_id in range(args.processes):
                original_write_examples(job_id, ns, tokenizer)
            original_times.append((time.perf_counter() - start, time.process_time() - cpu))
        ours_seconds, ours_cpu = map(min, zip(*ours_times))
        original_seconds, original_cpu = map(min, zip(*original_times))

        same = files_of(ours_dir) == files_of(original_dir)
        print(f"tinyshakespeare: {n_lines:,} lines in {args.files} files, {stats.docs:,} documents, "
              f"{stats.tokens:,} tokens -> {stats.examples:,} examples of {args.max_seq_length} tokens "
              f"in {args.num_out_files} files; vocabulary {args.vocab_size:,} WordPiece tokens")
        print()
        print("| builder | wall s | CPU s (this process) | examples/s (wall) | tokens/s (wall) | speed-up wall | speed-up CPU |")
        print("|---|---|---|---|---|---|---|")
        for name, seconds, cpu in (("original algorithm + reference tokenizer", original_seconds, original_cpu),
                                   (f"electra-tf ({args.processes} process{'es' if args.processes > 1 else ''})",
                                    ours_seconds, ours_cpu)):
            print(f"| {name} | {seconds:.2f} | {cpu:.2f} | {stats.examples / seconds:,.0f} | "
                  f"{stats.tokens / seconds:,.0f} | {original_seconds / seconds:.1f}x | {original_cpu / cpu:.1f}x |")
        print()
        print(f"records identical: {same}; best of {args.repeats} runs (wall, ours: "
              f"{', '.join(f'{t:.2f}' for t, _ in ours_times)} s; original: "
              f"{', '.join(f'{t:.2f}' for t, _ in original_times)} s)")
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
