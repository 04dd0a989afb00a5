"""Inference latency and throughput of ELECTRA-small on this CPU, per backend.

    python bench/inference_latency.py            # the table for bench/RESULTS.md (about 10-15 min)
    python bench/inference_latency.py --quick    # a few iterations: checks that every backend runs

A sequence classifier with ELECTRA-small's shapes (google-small preset, random weights) is written
once as an HF directory; from it: a TF SavedModel (electra_tf/export/saved_model.py), ONNX fp32 and int8 and a
LiteRT file (electra_tf/export/), and transformers' PyTorch ElectraForSequenceClassification
(fp32, and bf16 autocast). Each backend runs in its own process: latency is the median time of one
batch of 1 x 128 tokens, throughput the sequences/s of batches of 32 x 128. One markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tf_saved_model", "onnx_fp32", "onnx_int8", "litert", "torch_fp32", "torch_bf16")
LENGTH = 128


def _inputs(batch: int, vocab: int = 30522):
    import numpy as np

    rng = np.random.default_rng(0)
    ids = rng.integers(5, vocab, (batch, LENGTH)).astype("int32")
    return ids, np.ones_like(ids), np.zeros_like(ids)


def prepare(folder: str) -> None:
    """The HF directory and every export of the same random ELECTRA-small classifier."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    import electra_tf as et  # before keras (TensorFlow), as every command: it picks the oneDNN kernels

    import keras
    from electra_tf.export.litert import export_litert
    from electra_tf.export.onnx import export_onnx, quantize_int8
    from electra_tf.export.saved_model import export_saved_model

    keras.utils.set_random_seed(0)
    config = et.ElectraConfig.preset("google-small").replace(num_labels=2, head="hf")
    model = et.TFElectraForSequenceClassification(config).build_with_dummy_inputs()
    model.save_pretrained(os.path.join(folder, "hf"), format="hf")
    export_saved_model(model, os.path.join(folder, "saved_model"))
    export_onnx(model, os.path.join(folder, "model.onnx"))
    quantize_int8(os.path.join(folder, "model.onnx"), os.path.join(folder, "model.int8.onnx"))
    export_litert(model, os.path.join(folder, "model.tflite"))


def _runner(kind: str, folder: str):
    """A function ids, mask, types -> logits for ``kind``."""
    if kind == "tf_saved_model":
        import tensorflow as tf

        serve = tf.saved_model.load(os.path.join(folder, "saved_model")).signatures["serving_default"]
        return lambda i, m, t: serve(input_ids=tf.constant(i), attention_mask=tf.constant(m),
                                     token_type_ids=tf.constant(t))["logits"].numpy()
    if kind.startswith("torch"):
        import torch
        import transformers

        model = transformers.ElectraForSequenceClassification.from_pretrained(os.path.join(folder, "hf")).eval()

        def run(i, m, t):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=kind == "torch_bf16"):
                return model(input_ids=torch.from_numpy(i).long(), attention_mask=torch.from_numpy(m).long(),
                             token_type_ids=torch.from_numpy(t).long()).logits.float().numpy()

        return run
    sys.path.insert(0, ROOT)
    from electra_tf.export.backends import LiteRTBackend, OnnxBackend

    if kind == "litert":
        backend = LiteRTBackend(os.path.join(folder, "model.tflite"))
    else:
        backend = OnnxBackend(os.path.join(folder, "model.int8.onnx" if kind == "onnx_int8" else "model.onnx"))
    return lambda i, m, t: backend.run(i, m, t)["logits"]


def measure(kind: str, folder: str, iterations: int, warmup: int) -> dict:
    """Median batch-1 latency (ms) and batch-32 throughput (sequences/s) of ``kind``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    run = _runner(kind, folder)
    one, many = _inputs(1), _inputs(32)
    for _ in range(warmup):
        run(*one)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        run(*one)
        times.append(time.perf_counter() - start)
    run(*many)  # warm-up at batch 32
    start = time.perf_counter()
    batches = max(1, iterations // 10)
    for _ in range(batches):
        run(*many)
    throughput = 32 * batches / (time.perf_counter() - start)
    return {"backend": kind, "latency_ms": 1000 * statistics.median(times), "throughput": throughput}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations (checks that it runs)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: one backend
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    iterations = args.iterations or (10 if args.quick else 200)
    warmup = 2 if args.quick else 20
    if args.worker:
        print(json.dumps(measure(args.worker, args.folder, iterations, warmup)))
        return 0
    with tempfile.TemporaryDirectory(prefix="electra_inference_bench_") as folder:
        started = time.time()
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {ROOT!r}); "
                        f"from bench.inference_latency import prepare; prepare({folder!r})"], check=True)
        print(f"exports written in {time.time() - started:.0f} s", file=sys.stderr)
        rows = []
        for kind in args.backends.split(","):
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--folder", folder,
                   "--iterations", str(iterations)] + (["--quick"] if args.quick else [])
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                rows.append({"backend": kind, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]})
            else:
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"{kind} done", file=sys.stderr)
    print(f"ELECTRA-small (random weights), {LENGTH} tokens, {os.cpu_count()} CPU threads, "
          f"{iterations} iterations{' (quick)' if args.quick else ''}\n")
    print("| backend | latency, batch 1 (ms) | throughput, batch 32 (seq/s) |")
    print("|---|---:|---:|")
    for row in rows:
        if "error" in row:
            print(f"| {row['backend']} | failed: {row['error'][:80]} | |")
        else:
            print(f"| {row['backend']} | {row['latency_ms']:.1f} | {row['throughput']:.1f} |")
    ours = [r for r in rows if "error" not in r and not r["backend"].startswith("torch")]
    torch_rows = [r for r in rows if "error" not in r and r["backend"].startswith("torch")]
    if ours and torch_rows:
        best, ref = min(r["latency_ms"] for r in ours), min(r["latency_ms"] for r in torch_rows)
        print(f"\nfastest of ours vs fastest PyTorch (batch-1 latency): {ref / best:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
