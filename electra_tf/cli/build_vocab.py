"""Train a vocabulary for ELECTRA pre-training from a corpus folder.

    python build_vocab.py --corpus-dir CORPUS --vocab-file OUT/vocab.txt [--vocab-size 30522] [--no-lower-case]
    python build_vocab.py --corpus-dir CORPUS --vocab-file OUT/spm.model --type sentencepiece [--vocab-size 32000]

WordPiece (default): a vocab.txt in the original BERT/ELECTRA layout (one token per line, "##"
for word-internal pieces) with [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4, trained on the text as
build_pretraining_dataset.py will tokenize it (use the same --no-lower-case / --no-strip-accents
flags for both). For every CJK character it holds, the vocabulary also holds its ##-form, as
BERT's Chinese vocabulary does, for word-level tagging (--no-cjk-continuations: not).
SentencePiece: a unigram *.model with the same special pieces at the same ids; --no-lower-case
applies, accent flags do not (the model's own normalization rules apply).

--vocab-file is never inside --corpus-dir (the dataset builder would read it as text); a symlink's
target is written; a WordPiece vocabulary may go to - (stdout), /dev/null or a FIFO. When the
vocabulary holds more or fewer tokens than --vocab-size, a note says why.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from electra_tf.cli.process_exit import as_command

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_parser() -> argparse.ArgumentParser:
    from electra_tf.pretraining.cli import add_casing_flags

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-dir", required=True, help="Location of the text files (as for the dataset builder).")
    parser.add_argument("--vocab-file", required=True,
                        help="Output: vocab.txt (WordPiece; - for stdout) or a *.model path (SentencePiece; *.vocab "
                             "written beside). Never inside --corpus-dir.")
    parser.add_argument("--type", choices=("wordpiece", "sentencepiece"), default="wordpiece")
    parser.add_argument("--vocab-size", type=int, default=None,
                        help="Tokens including the 5 special ones (default 30522 WordPiece, 32000 SentencePiece).")
    add_casing_flags(parser)
    parser.add_argument("--min-frequency", type=int, default=2, help="WordPiece: least count of a merged pair.")
    parser.add_argument("--limit-alphabet", type=int, default=None,
                        help="WordPiece: keep only the most frequent characters (default: all, so none is [UNK]).")
    parser.add_argument("--no-cjk-continuations", dest="cjk_continuations", action="store_false",
                        help="WordPiece: write the plain trainer output. By default, for every CJK character of the "
                             "vocabulary its ##-form is also held (as in BERT's Chinese vocabulary), so the "
                             "original's word-level tagging (words tokenized without CJK splitting) finds every "
                             "character instead of [UNK]; the ##-forms take the place of the last-learned pieces "
                             "within --vocab-size (on top of it only when the characters alone fill it). A corpus "
                             "without CJK characters gives the same vocabulary either way.")
    parser.add_argument("--character-coverage", type=float, default=0.9995, help="SentencePiece character coverage.")
    parser.add_argument("--max-sentences", type=int, default=10_000_000,
                        help="SentencePiece: sample at most this many lines (it keeps them in memory).")
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    from electra_tf.cli.support import run_command
    from electra_tf.pretraining import vocab

    def action():
        start = time.time()
        if args.type == "wordpiece":
            tokens = vocab.train_wordpiece(args.corpus_dir, args.vocab_file, args.vocab_size or 30522,
                                           do_lower_case=args.do_lower_case, strip_accents=args.strip_accents,
                                           min_frequency=args.min_frequency, limit_alphabet=args.limit_alphabet,
                                           cjk_continuations=args.cjk_continuations)
            console = sys.stderr if args.vocab_file == "-" or not os.path.isfile(args.vocab_file) else sys.stdout
            print(f"Wrote {len(tokens):,} tokens to {args.vocab_file} in {time.time() - start:.1f}s.", file=console)
            note = vocab.size_note(tokens, args.vocab_size or 30522, args.min_frequency)
            if note:
                print(f"Note: {note}", file=console)
        else:
            vocab.train_sentencepiece(args.corpus_dir, args.vocab_file, args.vocab_size or 32000,
                                      do_lower_case=args.do_lower_case, character_coverage=args.character_coverage,
                                      max_sentences=args.max_sentences)
            print(f"Wrote {args.vocab_file} in {time.time() - start:.1f}s.")

    return run_command(action)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
