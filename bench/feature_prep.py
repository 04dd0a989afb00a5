"""Feature preparation speed: our fast tokenizer vs the original pure-Python FullTokenizer algorithm.

    python bench/feature_prep.py [--cmrc ../shared/data/cmrc2018/trial.json] [--sentences 100000]

Both sides run the same featurization code (``QATask.featurize``, ``SentenceTask.featurize``);
only the tokenizer differs: ``FullTokenizer`` (Rust, tested equal to the original) or an adapter
around ``ReferenceTokenizer`` (the original algorithm in Python). QA: the CMRC 2018 trial set
replicated to CMRC-train size (10,000 questions); classification: 100,000 generated sentences.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class OriginalTokenizer:
    """The original algorithm behind the FullTokenizer interface the featurizers use."""

    def __init__(self, vocab_file, do_lower_case=True):
        from electra_tf.text.reference_tokenizer import ReferenceTokenizer

        self.ref = ReferenceTokenizer(vocab_file, do_lower_case)
        self.vocab = self.ref.vocab
        self.do_lower_case = do_lower_case

    def tokenize(self, text):
        return self.ref.tokenize(text)

    def tokenize_batch(self, texts):
        return [self.ref.tokenize(t) for t in texts]

    def tokenize_with_offsets_batch(self, texts):
        from electra_tf.text.reference_tokenizer import tokenize_with_offsets

        return [tokenize_with_offsets(t, self.vocab, self.do_lower_case) for t in texts]

    def convert_tokens_to_ids(self, tokens):
        return [self.vocab[t] for t in tokens]

    def special_id(self, token):
        return self.vocab[token]


def _vocab_for(texts, path):
    from electra_tf.text.reference_tokenizer import basic_tokenize

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(tokens)
    for text in texts:
        for word in basic_tokenize(text):
            for piece in ([word] if len(word) < 6 else [word[:4]] + [f"##{word[i:i + 3]}" for i in range(4, len(word), 3)]):
                if piece not in seen:
                    seen.add(piece)
                    tokens.append(piece)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    return path


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_qa(cmrc_path, workdir, questions=10000):
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.tasks.qa import QATask
    from electra_tf.text.tokenizer import FullTokenizer

    with open(cmrc_path, encoding="utf-8") as f:
        trial = json.load(f)
    paragraphs = [p for a in trial["data"] for p in a["paragraphs"]]
    n = sum(len(p["qas"]) for p in paragraphs)
    copies = -(-questions // n)
    data = {"data": [{"paragraphs": [dict(p, qas=[dict(q, id=f"{q['id']}-{c}") for q in p["qas"]]) for p in paragraphs]}
                     for c in range(copies)]}
    folder = os.path.join(workdir, "finetuning_data", "cmrc2018")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    vocab = _vocab_for([p["context"] for p in paragraphs] + [q["question"] for p in paragraphs for q in p["qas"]],
                       os.path.join(workdir, "vocab_zh.txt"))
    config = FinetuningConfig("m", workdir, task_names=["cmrc2018"], vocab_file=vocab, max_seq_length=512, progress=False)
    results = {}
    for name, tokenizer in (("fast", FullTokenizer(vocab)), ("original", OriginalTokenizer(vocab))):
        task = QATask(config, "cmrc2018", tokenizer, {}, metric="cmrc2018")
        examples = task.get_examples("train")
        seconds, features = _timed(lambda: task.featurize(examples, is_training=True))
        results[name] = {"seconds": seconds, "examples": len(examples), "features": len(features)}
    assert results["fast"]["features"] == results["original"]["features"]
    return results


def bench_classification(workdir, n_sentences=100000):
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.tasks import get_task
    from electra_tf.text.tokenizer import FullTokenizer

    rng = random.Random(0)
    words = ("the movie was surprisingly good but the second half dragged on and the ending felt rushed while "
             "actors performances remained convincing throughout its running time director's ambitious vision").split()
    folder = os.path.join(workdir, "finetuning_data", "sst")
    os.makedirs(folder, exist_ok=True)
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(8, 30))).capitalize() + rng.choice([".", "!", "?"])
                 for _ in range(n_sentences)]
    with open(os.path.join(folder, "train.tsv"), "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n" + "".join(f"{s}\t{rng.randint(0, 1)}\n" for s in sentences))
    vocab = _vocab_for(sentences[:2000], os.path.join(workdir, "vocab_en.txt"))
    config = FinetuningConfig("m", workdir, task_names=["sst"], vocab_file=vocab, max_seq_length=128, progress=False)
    results = {}
    for name, tokenizer in (("fast", FullTokenizer(vocab)), ("original", OriginalTokenizer(vocab))):
        task = get_task(config, "sst", tokenizer)
        examples = task.get_examples("train")
        seconds, features = _timed(lambda: task.featurize(examples, is_training=True))
        results[name] = {"seconds": seconds, "examples": len(examples), "features": len(features)}
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmrc", default=os.path.join(ROOT, "..", "shared", "data", "cmrc2018", "trial.json"))
    parser.add_argument("--questions", type=int, default=10000)
    parser.add_argument("--sentences", type=int, default=100000)
    args = parser.parse_args()
    if not os.path.isfile(args.cmrc):
        args.cmrc = os.path.join(ROOT, "tests", "data", "cmrc2018_trial_sample.json")
    with tempfile.TemporaryDirectory() as workdir:
        rows = [("CMRC-sized QA (%d questions, 512 tokens)" % args.questions, bench_qa(args.cmrc, workdir, args.questions)),
                ("classification (%d sentences, 128 tokens)" % args.sentences, bench_classification(workdir, args.sentences))]
    print("| data | features | electra-tf (fast tokenizer) s | original algorithm s | speed-up |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['fast']['features']} | {r['fast']['seconds']:.1f} | {r['original']['seconds']:.1f} | "
              f"{r['original']['seconds'] / r['fast']['seconds']:.1f}x |")


if __name__ == "__main__":
    main()
