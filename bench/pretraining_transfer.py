"""Does pre-training help? Fine-tune the same classifier from a pre-trained discriminator and from
random initialisation on held-out Shakespeare, and print both scores side by side.

    python bench/pretraining_transfer.py --steps 3000          # about 6 min of pre-training on 2 cores
    python bench/pretraining_transfer.py --steps 20000 --hidden-size 128 --work-dir /tmp/transfer

Pre-training: ``build_pretraining_dataset.py`` on ``examples/pretraining_corpus`` (the first 300 KB of
tinyshakespeare) with the quick-start vocabulary, then ``run_pretraining.py`` (a tiny model: 2 layers,
``--hidden-size``, embeddings half of it) and its evaluation. Transfer tasks, built from the part of
``../shared/data/tinyshakespeare/input.txt`` that pre-training never saw (from line 30,000; speaker
lines dropped), 400 training and 400 dev lines each:

- ``replaced``: tag the words replaced by a random word of the held-out text (each word with
  probability 0.2): replaced-token detection, the discriminator's own objective (entity F1);
- ``corrupted``: is a line intact or has a third of its words replaced (accuracy);
- ``shuffled``: is a line intact or are its words shuffled (accuracy).

Each task is fine-tuned twice with the same hparams and seed: from the pre-trained discriminator and
with ``"init_checkpoint": null`` (the same shape, random weights). Everything is written under
``--work-dir`` (a fresh temporary folder by default); pre-training is reused when it is already there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "examples", "pretraining_corpus")
VOCAB = os.path.join(ROOT, "examples", "data", "vocab.txt")
HELD_OUT = os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare", "input.txt")
FIRST_HELD_OUT_LINE = 30000  # the pre-training corpus is the first 11,121 lines
TASKS = ("replaced", "corrupted", "shuffled")


def held_out_lines(path: str):
    """Lines of at least 5 words from the unseen part of tinyshakespeare, shuffled with seed 0."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[FIRST_HELD_OUT_LINE:]
    kept = [line.strip() for line in lines if line.strip() and not line.strip().endswith(":")]
    kept = [line for line in kept if len(line.split()) >= 5]
    random.Random(0).shuffle(kept)
    return kept


def replace_words(words, pool, rate, rng):
    """Replace each word with probability ``rate`` by a different word drawn from ``pool``;
    returns the new words and a replaced flag per word."""
    out, flags = [], []
    for word in words:
        if rng.random() < rate:
            other = rng.choice(pool)
            if other != word:
                out.append(other)
                flags.append(True)
                continue
        out.append(word)
        flags.append(False)
    return out, flags


def write_tasks(data_dir: str, lines, n: int = 400):
    """The three transfer tasks under ``<data_dir>/finetuning_data/<task>/``."""
    rng = random.Random(1)
    pool = [w for line in lines for w in line.split()]
    splits = {"train": lines[:n], "dev": lines[n:2 * n]}
    for task in TASKS:
        os.makedirs(os.path.join(data_dir, "finetuning_data", task), exist_ok=True)
    for split, chosen in splits.items():
        with open(os.path.join(data_dir, "finetuning_data", "replaced", f"{split}.txt"), "w", encoding="utf-8") as f:
            for line in chosen:
                words, flags = replace_words(line.split(), pool, 0.2, rng)
                f.writelines(f"{w} {'B-REP' if r else 'O'}\n" for w, r in zip(words, flags))
                f.write("\n")
        for task in ("corrupted", "shuffled"):
            with open(os.path.join(data_dir, "finetuning_data", task, f"{split}.tsv"), "w", encoding="utf-8") as f:
                f.write("sentence\tlabel\n")
                for i, line in enumerate(chosen):
                    words = line.split()
                    if i % 2 == 0:
                        f.write(f"{line}\t0\n")
                        continue
                    changed = list(words)
                    while changed == words:
                        if task == "shuffled":
                            rng.shuffle(changed)
                        else:
                            changed, _ = replace_words(words, pool, 1 / 3, rng)
                    f.write(" ".join(changed) + "\t1\n")


def model_hparams(hidden: int) -> dict:
    return {"model_size": "small", "model_hparam_overrides": {"hidden_size": hidden, "num_hidden_layers": 2},
            "embedding_size": hidden // 2, "vocab_size": 2000, "max_seq_length": 32}


def pretrain(data_dir: str, steps: int, hidden: int, lr: float) -> dict:
    """Build the records and pre-train (skipped when the run's final checkpoint exists); returns
    the evaluation metrics."""
    sys.path.insert(0, ROOT)
    import run_pretraining
    from electra_tf.pretraining.dataset import BuildOptions, Progress, build_pretraining_dataset

    records = os.path.join(data_dir, "pretrain_tfrecords")
    if not os.path.isdir(records):
        shutil.copyfile(VOCAB, os.path.join(data_dir, "vocab.txt"))
        options = BuildOptions(max_seq_length=32, blanks_separate_docs=False, num_out_files=3, seed=1)
        with open(os.devnull, "w") as sink:
            build_pretraining_dataset(CORPUS, os.path.join(data_dir, "vocab.txt"), records, 1, options,
                                      Progress(stream=sink))
    hparams = dict(model_hparams(hidden), train_batch_size=32, eval_batch_size=32, learning_rate=lr,
                   num_warmup_steps=min(100, steps // 10), num_train_steps=steps, num_eval_steps=10, seed=5,
                   progress=False, log_every_steps=max(1, steps // 10))
    args = ["--data-dir", data_dir, "--model-name", "pretrained"]
    reused = os.path.exists(os.path.join(data_dir, "models", "pretrained", f"model.ckpt-{steps}.index"))
    start = time.perf_counter()
    assert run_pretraining.main(args + ["--hparams", json.dumps(hparams)]) == 0
    seconds = time.perf_counter() - start
    assert run_pretraining.main(args + ["--hparams", json.dumps(dict(hparams, do_train=False, do_eval=True))]) == 0
    with open(os.path.join(data_dir, "models", "pretrained", "results", "unsup_results.txt"), encoding="utf-8") as f:
        metrics = {k: float(v) for k, v in (line.split(": ") for line in f.read().splitlines())}
    metrics["pretraining_seconds"] = "reused" if reused else f"{seconds:.1f} s"
    return metrics


def finetune(data_dir: str, task: str, hidden: int, pretrained: bool, epochs: int, lr: float, trials: int = 1) -> dict:
    """Fine-tune ``task`` (``trials`` times, seeds 1, 2, ...); returns the mean dev metrics of
    run_finetuning's results file."""
    import run_finetuning

    if task == "replaced":
        config = {"type": "tagging", "files": {"train": "train.txt", "dev": "dev.txt"}, "format": "conll",
                  "scheme": "iob2"}
    else:
        config = {"type": "tsv", "files": {"train": "train.tsv", "dev": "dev.tsv"}, "text_a": "sentence",
                  "label": "label"}
    hparams = dict(model_hparams(hidden), task_names=[task], task_config={task: config}, train_batch_size=16,
                   learning_rate=lr, num_train_epochs=epochs, seed=1, num_trials=trials, progress=False,
                   overwrite_model_dir=True,
                   results_txt=os.path.join(data_dir, f"{task}_{'pre' if pretrained else 'random'}.txt"),
                   results_pkl=os.path.join(data_dir, f"{task}_{'pre' if pretrained else 'random'}.pkl"))
    if not pretrained:
        hparams["init_checkpoint"] = None
    assert run_finetuning.main(["--data-dir", data_dir, "--model-name", "pretrained",
                                "--hparams", json.dumps(hparams)]) == 0
    with open(hparams["results_txt"].replace(".txt", ".json"), encoding="utf-8") as f:
        summary = json.load(f)["summary"][task]
    return {metric: values["mean"] for metric, values in summary.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="pre-training steps (batch 32, 32 tokens)")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--pretraining-lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs")
    parser.add_argument("--finetuning-lr", type=float, default=1e-3)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--trials", type=int, default=1, help="fine-tuning trials per task (mean reported)")
    parser.add_argument("--work-dir", default=None, help="kept between calls: pre-training is reused")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    data_dir = args.work_dir or tempfile.mkdtemp(prefix="electra_transfer_")
    os.makedirs(data_dir, exist_ok=True)
    write_tasks(data_dir, held_out_lines(HELD_OUT))
    metrics = pretrain(data_dir, args.steps, args.hidden_size, args.pretraining_lr)
    rows = []
    for task in args.tasks.split(","):
        scores = [finetune(data_dir, task, args.hidden_size, pretrained, args.epochs, args.finetuning_lr, args.trials)
                  for pretrained in (True, False)]
        key = "f1" if task == "replaced" else "accuracy"
        rows.append((task, key, scores[0].get(key), scores[1].get(key)))
    print(f"\npre-training: {args.steps} steps, hidden {args.hidden_size}, {metrics['pretraining_seconds']}; "
          f"masked_lm_accuracy {metrics['masked_lm_accuracy']:.3f}, disc_auc {metrics['disc_auc']:.3f}")
    print(f"fine-tuning: {args.epochs} epochs, lr {args.finetuning_lr}, mean dev score of {args.trials} trial(s)\n")
    print("| task | metric | from pre-trained | from random init |\n|---|---|---:|---:|")
    for task, key, pre, rand in rows:
        print(f"| {task} | {key} | {pre:.2f} | {rand:.2f} |")
    print(f"\n(work dir: {data_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
