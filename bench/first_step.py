"""Time to the first training step of an ELECTRA-small fine-tuning run, by phase.

    python bench/first_step.py                    # ELECTRA-small, 128 tokens, batch 16, float32
    python bench/first_step.py --hparams '{"mixed_precision": "auto"}' --repeats 3

Writes a fresh random ELECTRA-small checkpoint (the original TF1 format, as a downloaded
``electra_small`` folder) and a small SST-style data set to a scratch folder, then runs
``run_finetuning.py`` in a subprocess and timestamps its log lines as they arrive: process start
-> start-up done and inputs featurized -> model built and pre-trained weights loaded -> first
training step logged (``log_every_steps`` 1). The model build, checkpoint load and graph
tracing all fall before the first step; nothing is cached between repeats (a fresh run folder
and feature cache each time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "electra_small"
WORDS = ("the a film movie good bad great boring plot actor story is was very not an and of to it this that "
         "funny dull moving slow fast dark bright long short").split()

#: (phase name, the log text that ends it); phases are measured from the previous one
PHASES = (
    ("start-up (imports, hparams, tokenizer, tasks, inputs featurized)", "Trial 1"),
    ("model built, pre-trained weights loaded", "Loaded"),
    ("optimizer, input pipeline", "Training for"),
    ("first step (tracing + one step)", "step 1/"),
)


def write_workspace(folder: str, n_train: int = 64, seed: int = 0) -> str:
    """A data dir with a random ELECTRA-small TF1 checkpoint, its vocab and an SST-style task."""
    sys.path.insert(0, ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import electra_tf as et

    rng = random.Random(seed)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + [f"w{i}" for i in range(1000)]
    model_dir = os.path.join(folder, "models", MODEL)
    os.makedirs(model_dir, exist_ok=True)
    vocab_file = os.path.join(model_dir, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    config = et.ElectraConfig.preset("google-small")
    et.TFElectraForPreTraining(config).build_with_dummy_inputs().save_pretrained(model_dir, format="tf1", vocab_file=vocab_file)
    task_dir = os.path.join(folder, "finetuning_data", "sst")
    os.makedirs(task_dir, exist_ok=True)
    for split, n in (("train", n_train), ("dev", 32)):
        with open(os.path.join(task_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            for _ in range(n):
                f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40))) + f"\t{rng.randint(0, 1)}\n")
    return folder


def time_first_step(data_dir: str, hparams: dict) -> dict:
    """Run run_finetuning once; seconds from process start to the end of each phase."""
    settings = {"task_names": ["sst"], "max_seq_length": 128, "train_batch_size": 16, "eval_batch_size": 32,
                "num_train_epochs": 1, "log_every_steps": 1, "progress": False, "seed": 1, "do_eval": False,
                "overwrite_model_dir": True, "save_checkpoints_secs": 0, **hparams}
    for leftover in ("finetuning_models", "finetuning_tfrecords", "results"):
        shutil.rmtree(os.path.join(data_dir, leftover), ignore_errors=True)
    cmd = [sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--data-dir", data_dir, "--model-name", MODEL,
           "--hparams", json.dumps(settings)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    marks, lines = {}, []
    for line in proc.stdout:
        lines.append(line)
        now = time.perf_counter() - start
        marks.setdefault("first log line", now)
        for _, text in PHASES:
            if text in line and text not in marks:
                marks[text] = now
        if "step 1/" in line:
            proc.kill()
            break
    proc.wait()
    if "step 1/" not in marks:
        raise SystemExit("run_finetuning did not reach its first step:\n" + "".join(lines[-40:]))
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hparams", default="{}", help="JSON hparams added to the benchmark's")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", help="use (and keep) this scratch folder instead of a temporary one")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="electra_first_step_")
    try:
        if not os.path.isdir(os.path.join(folder, "models", MODEL)):
            t = time.perf_counter()
            write_workspace(folder)
            print(f"(random ELECTRA-small checkpoint written in {time.perf_counter() - t:.1f} s, not counted)")
        runs = [time_first_step(folder, json.loads(args.hparams)) for _ in range(args.repeats)]
        print("| phase | " + " | ".join(f"run {i + 1} s" for i in range(len(runs))) + " |")
        print("|---|" + "---|" * len(runs))
        previous = [0.0] * len(runs)
        for name, text in PHASES:
            row = []
            for i, marks in enumerate(runs):
                if text in marks:
                    row.append(f"{marks[text] - previous[i]:.1f}")
                    previous[i] = marks[text]
                else:
                    row.append("-")
            print(f"| {name} | " + " | ".join(row) + " |")
        print("| **time to the first step** | " + " | ".join(f"**{m['step 1/']:.1f}**" for m in runs) + " |")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
