"""Training and evaluation throughput of electra-tf against the best PyTorch configuration, with
the machine's matmul ceilings and the fraction of them each configuration reaches.

    python bench/throughput.py --quick        # ELECTRA-small, 128 tokens only (~15 min on 2 quiet cores)
    python bench/throughput.py                # small and base, 128 and 512 tokens (~1.5 h)
    python bench/throughput.py --quick --no-epoch --configs tf-fp32 torch-fp32   # a subset

Every measurement (each matmul ceiling, each configuration at each size/length/mode, each epoch)
runs alone in its own subprocess, one after another, so peak memory is per configuration and no
two compete for the cores. Run it on an otherwise idle machine: figures measured while other
work shares the CPU say nothing.

Configurations (those the machine cannot run are reported as failed, not hidden):

* ``tf-fp32``, ``tf-bf16``: electra-tf's ``TFElectraForSequenceClassification`` (original head)
  under the float32 / mixed_bfloat16 Keras policy, trained with the recipe's step (summed loss,
  the original AdamWeightDecay with layer-wise decay and clipping) in a ``tf.function``;
  evaluation is the forward pass in a ``tf.function``. ``-onednn`` variants set
  ``TF_ENABLE_ONEDNN_OPTS=1`` (TensorFlow turns its oneDNN graph rewrites on by default only on
  some x86 CPUs, e.g. those with AVX-512 VNNI/BF16; with them MatMul+BiasAdd+GELU run as one
  fused kernel; results differ by float rounding).
* ``torch-fp32``, ``torch-bf16`` (``torch.autocast`` bfloat16), ``torch-compile`` (float32,
  ``torch.compile``), ``torch-compile-bf16``: transformers' ``ElectraForSequenceClassification``
  (sdpa attention) with ``torch.optim.AdamW`` and gradient clipping.

FLOP per sequence come from the model shape (matmuls only: Q/K/V/output projections,
attention scores and context, the feed-forward network, the embedding projection; training
counts 3x the forward pass). ``%ceil`` is the configuration's achieved matmul FLOP/s over the
2048x2048 matmul ceiling of its own framework and compute dtype; ``%best`` over the machine's
best ceiling (any framework, any dtype).

The ``epoch`` table trains one real epoch of a random-weights ELECTRA-small on an SST-style
TSV file: ``run_finetuning.py`` (its data pipeline, logging and checkpoint included) against an
equivalent PyTorch loop (tokenize the same file with the same vocabulary, pad to 128, shuffle,
AdamW with warm-up/decay and clipping), each in the precision ``mixed_precision: auto`` picks on
this machine (float32 or bfloat16 autocast).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZES = {"small": "google-small", "base": "google-base"}
#: tiny: only for checking that the script runs (not a benchmark)
TINY = {"vocab_size": 1000, "embedding_size": 32, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 128}
BATCH = {128: {"small": 16, "base": 8, "tiny": 8}, 512: {"small": 8, "base": 2, "tiny": 4}}
TF_CONFIGS = ("tf-fp32", "tf-bf16", "tf-fp32-onednn", "tf-bf16-onednn")
TORCH_CONFIGS = ("torch-fp32", "torch-bf16", "torch-compile", "torch-compile-bf16")
CONFIGS = TF_CONFIGS + TORCH_CONFIGS


def shape_of(size: str) -> dict:
    """The encoder sizes of ``size`` (small, base, tiny)."""
    if size == "tiny":
        return dict(TINY)
    from electra_tf.config import PRESETS

    return dict(PRESETS[SIZES[size]])


def flop_per_sequence(shape: dict, length: int, mode: str) -> float:
    """Matmul FLOP of one sequence: forward, or forward + backward (3x) for training."""
    H, I, E, n = shape["hidden_size"], shape["intermediate_size"], shape["embedding_size"], shape["num_hidden_layers"]
    L = length
    per_layer = 2 * L * H * H * 4 + 2 * L * L * H * 2 + 2 * L * H * I * 2  # q,k,v,out; scores, context; ffn
    forward = n * per_layer + (2 * L * E * H if E != H else 0)
    return float(forward * (3 if mode == "train" else 1))


def _batch(size: int, length: int, vocab: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, (size, length)).astype("int32")
    return ids, np.ones_like(ids), np.zeros_like(ids), rng.integers(0, 2, size).astype("int32")


def _timed(step, batch: int, steps: int) -> float:
    for _ in range(2):  # trace / compile + warm-up
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


# ---------------------------------------------------------------------------- one measurement
def run_tf(config_name: str, size: str, length: int, batch: int, steps: int, mode: str) -> float:
    import keras
    import tensorflow as tf

    import electra_tf as et
    from electra_tf.training.optimization import AdamWeightDecay, layerwise_multipliers, tf_variable

    keras.mixed_precision.set_dtype_policy("mixed_bfloat16" if "bf16" in config_name else "float32")
    config = et.ElectraConfig(**shape_of(size)).replace(num_labels=2, head="electra")
    model = et.TFElectraForSequenceClassification(config).build_with_dummy_inputs()
    ids, mask, types, labels = (tf.constant(x) for x in _batch(batch, length, config.vocab_size))
    if mode == "train":
        refs = model.hf_weights()
        variables = [tf_variable(r.variable) for r in refs]
        opt = AdamWeightDecay(variables, [r.name for r in refs], 1e-4, 1000,
                              lr_multipliers=layerwise_multipliers(model.canonical_depths(), config.num_hidden_layers, 0.8))

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                logits = model(ids, attention_mask=mask, token_type_ids=types, training=True)["logits"]
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(logits, tf.float32)))
            opt.apply_gradients(tape.gradient(loss, variables))
            return loss
    else:
        @tf.function
        def step():
            return model(ids, attention_mask=mask, token_type_ids=types, training=False)["logits"]

    return _timed(lambda: float(tf.reduce_sum(step())), batch, steps)


def run_torch(config_name: str, size: str, length: int, batch: int, steps: int, mode: str) -> float:
    import contextlib

    import torch
    import transformers

    config = transformers.ElectraConfig(**shape_of(size), num_labels=2)
    model = transformers.ElectraForSequenceClassification(config)
    ids, mask, types, labels = (torch.tensor(x, dtype=torch.long) for x in _batch(batch, length, config.vocab_size))
    bf16 = config_name.endswith("bf16")
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    forward = torch.compile(model) if "compile" in config_name else model
    if mode == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

        def step():
            opt.zero_grad()
            with autocast():
                out = forward(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return float(out.loss.detach())
    else:
        model.eval()

        def step():
            with torch.no_grad(), autocast():
                return float(forward(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.float().sum())

    return _timed(step, batch, steps)


def run_ceiling(framework: str, dtype: str, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of the best of ``repeats`` n x n matmuls (fewer when one takes over 10 s: an
    emulated dtype)."""
    best = float("inf")
    if framework == "tf":
        import tensorflow as tf

        dt = {"fp32": tf.float32, "bf16": tf.bfloat16}[dtype]
        a, b = (tf.cast(tf.random.normal((n, n), seed=s), dt) for s in (1, 2))
        matmul = tf.function(lambda: tf.matmul(a, b))
        matmul().numpy()
        for _ in range(repeats):
            start = time.perf_counter()
            matmul().numpy()
            best = min(best, time.perf_counter() - start)
            if best > 10:
                break
    else:
        import torch

        dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        a, b = (torch.randn(n, n).to(dt) for _ in range(2))
        torch.mm(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
            if best > 10:
                break
    return 2.0 * n ** 3 / best / 1e9


def measure(args) -> None:
    """One measurement in this process; prints a RESULT line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.one == "ceiling":
        value = {"gflops": run_ceiling(args.framework, args.dtype)}
    else:
        fn = run_tf if args.config.startswith("tf-") else run_torch
        value = {"seq_per_s": fn(args.config, args.size, args.length, args.batch, args.steps, args.mode)}
    value["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps(value), flush=True)


def subprocess_result(extra_args, env=None, timeout=3600):
    """Run this script with ``--one ...`` in a fresh process; the parsed RESULT, or the error text."""
    cmd = [sys.executable, os.path.abspath(__file__)] + extra_args
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        tail = [l for l in (out.stderr or "").strip().splitlines() if l.strip()][-1:] or ["no output"]
        return None, tail[0][:160]
    return json.loads(line[7:]), None


def config_env(name: str) -> dict:
    """The TensorFlow rows' oneDNN setting, explicit: ``import electra_tf`` (which this script does) would
    otherwise turn oneDNN on for the plain rows too (utils/onednn.py), and they measure TensorFlow's own
    default kernels (Eigen on AVX2-only CPUs)."""
    return {"TF_ENABLE_ONEDNN_OPTS": "1" if name.endswith("-onednn") else "0"}


# ---------------------------------------------------------------------------- the tables
def ceilings(quick_dtypes=("fp32", "bf16")) -> dict:
    """{(framework, dtype): GFLOP/s}, printed as a table."""
    found = {}
    print("\n## Matmul ceilings (2048x2048, best of 5, GFLOP/s)\n")
    print("| framework | float32 | bfloat16 |\n|---|---|---|")
    for framework, label in (("tf", "TensorFlow"), ("torch", "PyTorch")):
        cells = []
        for dtype in quick_dtypes:
            result, error = subprocess_result(["--one", "ceiling", "--framework", framework, "--dtype", dtype])
            if result:
                found[(framework, dtype)] = result["gflops"]
                gflops = result["gflops"]
                cells.append(f"{gflops:.0f}" if gflops >= 10 else f"{gflops:.2g}")  # emulated bf16 can be < 1
            else:
                cells.append(f"failed ({error})")
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
    return found


def throughput_table(args, ceil: dict) -> None:
    best_ceiling = max(ceil.values()) if ceil else 0.0
    for size in args.sizes:
        for length in args.lengths:
            for mode in args.modes:
                batch = BATCH[length][size] * (2 if mode == "eval" else 1)
                flop = flop_per_sequence(shape_of(size), length, mode)
                print(f"\n### {size}, {length} tokens, {mode}, batch {batch} ({flop / 1e9:.2f} GFLOP per sequence)\n")
                print("| configuration | seq/s | matmul GFLOP/s | %ceil | %best | peak MB |\n|---|---|---|---|---|---|")
                results = {}
                for name in args.configs:
                    result, error = subprocess_result(
                        ["--one", "config", "--config", name, "--size", size, "--length", str(length), "--mode", mode,
                         "--batch", str(batch), "--steps", str(args.steps)], env=config_env(name), timeout=args.timeout)
                    if result is None:
                        print(f"| {name} | failed: {error} | | | | |", flush=True)
                        continue
                    results[name] = result["seq_per_s"]
                    achieved = result["seq_per_s"] * flop / 1e9
                    own = ceil.get(("tf" if name.startswith("tf-") else "torch", "bf16" if "bf16" in name else "fp32"))
                    pct_own = f"{100 * achieved / own:.0f}%" if own else "-"
                    pct_best = f"{100 * achieved / best_ceiling:.0f}%" if best_ceiling else "-"
                    print(f"| {name} | {result['seq_per_s']:.2f} | {achieved:.0f} | {pct_own} | {pct_best} | "
                          f"{result['peak_mb']:.0f} |", flush=True)
                ours = {k: v for k, v in results.items() if k.startswith("tf-")}
                theirs = {k: v for k, v in results.items() if k.startswith("torch-")}
                if ours and theirs:
                    a, b = max(ours, key=ours.get), max(theirs, key=theirs.get)
                    print(f"\nBest electra-tf ({a}) / best PyTorch ({b}): **{ours[a] / theirs[b]:.2f}x**", flush=True)


# ---------------------------------------------------------------------------- one real epoch
def torch_epoch(data_dir: str, model_name: str, bf16: bool, batch: int, length: int, lr: float) -> None:
    """An equivalent PyTorch fine-tuning epoch; prints RESULT with the timings."""
    import contextlib
    import csv

    start = time.perf_counter()
    import torch
    import transformers

    vocab = os.path.join(data_dir, "models", model_name, "vocab.txt")
    tokenizer = transformers.BertTokenizerFast(vocab=vocab, do_lower_case=True)
    with open(os.path.join(data_dir, "finetuning_data", "sst", "train.tsv"), encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    enc = tokenizer([r[0] for r in rows], padding="max_length", truncation=True, max_length=length, return_tensors="pt")
    labels = torch.tensor([int(r[1]) for r in rows])
    data = torch.utils.data.TensorDataset(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], labels)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    config = transformers.ElectraConfig(**shape_of("small"), num_labels=2)
    model = transformers.ElectraForSequenceClassification(config)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total = len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, s / max(1, 0.1 * total)) * (1 - s / total))
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    first = steady = None
    warm = min(10, total - 1)  # steady state: after this many steps
    for i, (ids, mask, types, y) in enumerate(loader):
        opt.zero_grad()
        with autocast():
            loss = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        float(loss.detach())
        if i == 0:
            first = time.perf_counter() - start
        if i == warm - 1:
            steady = time.perf_counter()
    end = time.perf_counter()
    print("RESULT " + json.dumps({"first_step_s": first, "total_s": end - start, "steps": total,
                                  "steady_seq_per_s": (total - warm) * batch / (end - steady)}), flush=True)


def ours_epoch(data_dir: str, model_name: str, precision: str, batch: int, length: int, lr: float) -> dict:
    """One run_finetuning epoch in a subprocess, timed from its log lines as they arrive."""
    settings = {"task_names": ["sst"], "max_seq_length": length, "train_batch_size": batch, "num_train_epochs": 1,
                "learning_rate": lr, "log_every_steps": 1, "progress": False, "seed": 1, "do_eval": False,
                "overwrite_model_dir": True, "mixed_precision": precision}
    cmd = [sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--data-dir", data_dir, "--model-name", model_name,
           "--hparams", json.dumps(settings)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    marks, lines = {}, []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"step (\d+)/(\d+)", line)
        if found:
            marks[int(found.group(1))] = time.perf_counter() - start
            marks["total_steps"] = int(found.group(2))
    proc.wait()
    end = time.perf_counter() - start
    n = marks.get("total_steps")
    if proc.returncode or not n or n < 2 or n not in marks:
        raise SystemExit("run_finetuning failed:\n" + "".join(lines[-30:]))
    warm = min(10, n - 1)  # steady state: after this many steps
    return {"first_step_s": marks[1], "total_s": end, "steps": n,
            "steady_seq_per_s": (n - warm) * batch / (marks[n] - marks[warm])}


def epoch_table(args) -> None:
    from bench.first_step import MODEL, write_workspace
    from electra_tf.training.precision import resolve_precision

    precision, reason = resolve_precision("auto")
    folder = tempfile.mkdtemp(prefix="electra_epoch_")
    try:
        write_workspace(folder, n_train=args.epoch_examples)
        ours = ours_epoch(folder, MODEL, precision, 16, 128, 1e-4)
        result, error = subprocess_result(["--one", "torch-epoch", "--data-dir", folder, "--bf16", str(precision != "float32")])
        if result is None:
            raise SystemExit(f"PyTorch epoch failed: {error}")
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    print(f"\n## One real fine-tuning epoch (ELECTRA-small, random weights, {args.epoch_examples} examples, batch 16, "
          f"128 tokens; precision {precision}: {reason})\n")
    print("| | process start to first step s | whole epoch s (process start to end) | steady seq/s (after 10 steps) |")
    print("|---|---|---|---|")
    for name, r in (("electra-tf run_finetuning.py", ours), ("PyTorch loop", result)):
        print(f"| {name} | {r['first_step_s']:.1f} | {r['total_s']:.1f} | {r['steady_seq_per_s']:.2f} |")
    print(f"\nSteady-state ratio: **{ours['steady_seq_per_s'] / result['steady_seq_per_s']:.2f}x**; whole epoch: "
          f"**{result['total_s'] / ours['total_s']:.2f}x**", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="ELECTRA-small at 128 tokens only")
    parser.add_argument("--sizes", nargs="+", default=["small", "base"], choices=["small", "base", "tiny"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[128, 512], choices=[128, 512])
    parser.add_argument("--modes", nargs="+", default=["train", "eval"], choices=["train", "eval"])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration (after 2 warm-up steps)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one configuration may take")
    parser.add_argument("--no-epoch", action="store_true", help="skip the real-epoch comparison")
    parser.add_argument("--no-ceilings", action="store_true", help="skip the matmul ceilings (no fractions then)")
    parser.add_argument("--epoch-examples", type=int, default=800)
    parser.add_argument("--one", choices=["ceiling", "config", "torch-epoch"], help=argparse.SUPPRESS)
    for hidden in ("--framework", "--dtype", "--config", "--size", "--mode", "--data-dir", "--bf16"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one == "torch-epoch":
        from bench.first_step import MODEL

        torch_epoch(args.data_dir, MODEL, args.bf16 == "True", 16, 128, 1e-4)
        return
    if args.one:
        measure(args)
        return
    if args.quick:
        args.sizes, args.lengths = ["small"], [128]
    from electra_tf.training.precision import CPU_BF16_FLAGS
    from electra_tf.utils.cpu import cpu_flags, cpu_model

    model = cpu_model()

    flags = set(cpu_flags())
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags]
    print(f"# electra-tf throughput\n\nCPU: {model}, {os.cpu_count()} cores, ISA: {' '.join(isa) or 'unknown'} "
          f"(native bfloat16: {'yes' if flags & set(CPU_BF16_FLAGS) else 'no'}); {time.strftime('%Y-%m-%d %H:%M')}")
    ceil = {} if args.no_ceilings else ceilings()
    throughput_table(args, ceil)
    if not args.no_epoch:
        epoch_table(args)


if __name__ == "__main__":
    main()
