"""Write text data as TFRecords that ELECTRA can be pre-trained on (the original's builder).

    python build_pretraining_dataset.py --corpus-dir CORPUS --vocab-file vocab.txt --output-dir OUT \\
        [--max-seq-length 128] [--num-processes 4] [--blanks-separate-docs true|false] [--no-lower-case]

CORPUS holds UTF-8 text files, one sentence per line, a blank line between documents. The
vocabulary is a WordPiece vocab.txt or a SentencePiece *.model (see build_vocab.py). OUT gets
pretrain_data.tfrecord-<i>-of-<num-out-files>, with input_ids, input_mask and segment_ids, and
pretrain_data.manifest.json (each file's size, records and sha256; run_pretraining.py checks the
records against it before training). A failed or interrupted build leaves OUT as it was.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from electra_tf.cli.process_exit import as_command

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_parser() -> argparse.ArgumentParser:
    from electra_tf.pretraining.cli import add_casing_flags, parse_bool

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-dir", required=True, help="Location of pre-training text files.")
    parser.add_argument("--vocab-file", required=True, help="Location of vocabulary file (vocab.txt or *.model).")
    parser.add_argument("--output-dir", required=True,
                        help="Where to write out the tfrecords and their manifest. Earlier pretrain_data.tfrecord-* "
                             "files there are replaced only once the new ones are complete (the original deleted "
                             "the whole folder first); other files are left alone.")
    parser.add_argument("--max-seq-length", default=128, type=int, help="Number of tokens per example.")
    parser.add_argument("--num-processes", default=1, type=int, help="Parallelize across multiple processes.")
    # The original used type=bool here, which made "--blanks-separate-docs False" mean True.
    parser.add_argument("--blanks-separate-docs", type=parse_bool, nargs="?", const=True, default=True,
                        metavar="BOOL", help="Whether blank lines indicate document boundaries (default true).")
    parser.add_argument("--no-blanks-separate-docs", dest="blanks_separate_docs", action="store_false",
                        help="Same as --blanks-separate-docs false: blank lines are skipped.")
    add_casing_flags(parser)
    parser.add_argument("--num-out-files", default=1000, type=int,
                        help="Number of output files (the original's fixed 1000).")
    parser.add_argument("--seed", default=12345, type=int,
                        help="Random seed; process j uses random.Random(seed + j) (the original was unseeded).")
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    from electra_tf.cli.support import run_command
    from electra_tf.pretraining.dataset import BuildOptions, Progress, build_pretraining_dataset, output_file_name

    def action():
        from electra_tf.cli.startup import start_tensorflow

        start_tensorflow(verbose=args.verbose)  # before the TFRecord writers (and the forked jobs) import it
        options = BuildOptions(max_seq_length=args.max_seq_length, blanks_separate_docs=args.blanks_separate_docs,
                               do_lower_case=args.do_lower_case, strip_accents=args.strip_accents,
                               num_out_files=args.num_out_files, seed=args.seed)
        progress = Progress()
        start = time.time()
        build_pretraining_dataset(args.corpus_dir, args.vocab_file, args.output_dir, args.num_processes,
                                  options, progress)
        print(progress.line(), file=sys.stderr)
        pattern = output_file_name(0, args.num_out_files).replace("-0-of-", "-*-of-")
        print(f"Wrote {progress.total().examples:,} examples to {os.path.join(args.output_dir, pattern)} "
              f"in {time.time() - start:.1f}s.")

    return run_command(action)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
