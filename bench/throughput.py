"""Training and evaluation throughput (sequences/s) and peak memory: electra-tf vs HF PyTorch.

    python bench/throughput.py                       # all configurations, a table on stdout
    python bench/throughput.py --sizes small --lengths 128 --steps 5

Each (framework, size, length, mode) runs in its own process, so the peak resident memory is
per configuration. electra-tf trains with the recipe's step (summed loss, the original AdamW with
layer-wise decay, clipping); PyTorch with transformers' ElectraForSequenceClassification and
torch.optim.AdamW. Same shapes, random token ids, CPU threads as the machine has.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {"small": "google-small", "base": "google-base"}


def _batch(size: int, length: int, vocab: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, (size, length)).astype("int32")
    return ids, np.ones_like(ids), np.zeros_like(ids), rng.integers(0, 2, size).astype("int32")


def run_ours(size: str, length: int, batch: int, steps: int, mode: str) -> float:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    import tensorflow as tf

    import electra_tf as et
    from electra_tf.training.optimization import AdamWeightDecay, layerwise_multipliers, tf_variable

    config = et.ElectraConfig.preset(SIZES[size]).replace(num_labels=2, head="electra")
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
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            opt.apply_gradients(tape.gradient(loss, variables))
            return loss
    else:
        @tf.function
        def step():
            return model(ids, attention_mask=mask, token_type_ids=types, training=False)["logits"]

    for _ in range(2):  # trace + warm-up
        step()
    start = time.perf_counter()
    for _ in range(steps):
        float(tf.reduce_sum(step()))
    return batch * steps / (time.perf_counter() - start)


def run_torch(size: str, length: int, batch: int, steps: int, mode: str) -> float:
    sys.path.insert(0, ROOT)
    import torch
    import transformers

    from electra_tf.config import PRESETS

    p = PRESETS[SIZES[size]]
    config = transformers.ElectraConfig(**{k: p[k] for k in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
                                                             "num_attention_heads", "intermediate_size")}, num_labels=2)
    model = transformers.ElectraForSequenceClassification(config)
    ids, mask, types, labels = (torch.tensor(x, dtype=torch.long) for x in _batch(batch, length, config.vocab_size))
    if mode == "train":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

        def step():
            opt.zero_grad()
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return out.loss
    else:
        model.eval()

        def step():
            with torch.no_grad():
                return model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        float(step().sum())
    return batch * steps / (time.perf_counter() - start)


def measure(args) -> None:
    fn = run_ours if args.framework == "electra-tf" else run_torch
    seq_per_s = fn(args.size, args.length, args.batch, args.steps, args.mode)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps({"framework": args.framework, "size": args.size, "length": args.length, "mode": args.mode,
                                  "batch": args.batch, "steps": args.steps, "seq_per_s": seq_per_s, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "base"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--modes", nargs="+", default=["train", "eval"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--framework", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        measure(args)
        return
    rows = []
    print("| model | length | mode | batch | electra-tf seq/s | PyTorch seq/s | ratio | electra-tf peak MB | PyTorch peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for length in args.lengths:
            for mode in args.modes:
                batch = {("small", 128): 16, ("small", 512): 8, ("base", 128): 8, ("base", 512): 2}[(size, length)]
                if mode == "eval":
                    batch *= 2
                result = {}
                for framework in ("electra-tf", "pytorch"):
                    cmd = [sys.executable, __file__, "--one", "--framework", framework, "--size", size, "--length", str(length),
                           "--mode", mode, "--batch", str(batch), "--steps", str(args.steps)]
                    out = subprocess.run(cmd, capture_output=True, text=True)
                    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
                    if line is None:
                        raise SystemExit(f"{framework} {size} {length} {mode} failed:\n{out.stderr[-2000:]}")
                    result[framework] = json.loads(line[7:])
                ours, theirs = result["electra-tf"], result["pytorch"]
                rows.append(result)
                print(f"| {size} | {length} | {mode} | {batch} | {ours['seq_per_s']:.2f} | {theirs['seq_per_s']:.2f} | "
                      f"{ours['seq_per_s'] / theirs['seq_per_s']:.2f} | {ours['peak_mb']:.0f} | {theirs['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
