"""Pre-training step throughput: electra-tf against a HuggingFace PyTorch equivalent, measured side
by side (interleaved) in one run, then dataset-building throughput against the original algorithm.

    python bench/pretraining_throughput.py            # ELECTRA-small shape, 128 tokens, batch 16
    python bench/pretraining_throughput.py --quick    # 2 layers, batch 4: checks that it runs
    python bench/pretraining_throughput.py --skip-data --precisions float32 --baseline /tmp/old-checkout

Model: ELECTRA-small as the original pre-trains it (hidden 256, 12 layers, 4 heads, FFN 1024,
embeddings 128, vocabulary 30522; generator 1/4 hidden: 64, 1 head, FFN 256, 12 layers, sharing
the embedding block), sequences of 128 tokens, 19 masked slots.

Configurations (each a worker process of its own, per precision):

- ``electra-tf``: ``PretrainingModel`` trained by the training engine exactly as
  ``run_pretraining.py`` does (masking, generator, Gumbel sampling, discriminator, the original
  AdamW with clipping), in its default configuration; ``--baseline DIR`` adds the same worker
  running the code of another checkout (e.g. ``git worktree add /tmp/base <commit>``), to show
  the gain of a change;
- ``pytorch``: transformers' ``ElectraForMaskedLM`` generator + ``ElectraForPreTraining``
  discriminator sharing the embedding module, the same masking (k = round(0.15 n) slots drawn
  with replacement, 85 % [MASK]), generator head on the masked slots only, Gumbel-max sampling,
  the same losses (MLM + 50 x discriminator), clipping 1.0 and ``torch.optim.AdamW``
  (``foreach``, PyTorch's default multi-tensor update); bf16 under
  ``torch.autocast("cpu", dtype=torch.bfloat16)``. Three thread settings, since the best one
  depends on how busy the machine is: all cores with libgomp's default spin-waiting
  (``pytorch``), all cores with ``OMP_WAIT_POLICY=PASSIVE`` (``pytorch-passive``: on a shared
  machine the spinning threads of the default made a step up to 20x slower) and one thread
  (``pytorch-1thread``, ``torch.set_num_threads(1)`` in the passive worker's process);
- ``pytorch-compile`` (``--compile``; its compilation takes minutes): the forward and loss under
  ``torch.compile`` (inductor) and a compiled clipping + optimizer step, ``OMP_WAIT_POLICY=PASSIVE``.

"Best PyTorch" is, in each round, the fastest PyTorch configuration of that round.

electra-tf runs as the commands do: ``import electra_tf`` before TensorFlow, so with oneDNN's kernels on
every x86-64 host (utils/onednn.py). On a host where TensorFlow would keep them off by itself (no AVX-512
VNNI / BF16, AVX-VNNI or AMX: AVX2-only CPUs) an extra row runs TensorFlow's own default there
(``TF_ENABLE_ONEDNN_OPTS=0``, Eigen kernels).

``--emulate-avx2`` runs both frameworks as on a CPU without AVX-512, with that extra row; oneDNN, MKL and ATen
limited to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``, ``MKL_ENABLE_INSTRUCTIONS=AVX2``,
``ATEN_CPU_CAPABILITY=avx2``). TensorFlow's own (Eigen) kernels are compiled for AVX in the
wheel, so they are the same code on both kinds of host.

Interleaving: all workers of a precision are started, traced / compiled and warmed up (2 steps)
first; then, for ``--rounds`` rounds, each worker in turn runs ``--steps`` timed steps while the
others wait idle, so every configuration sees the same state of a shared machine. The table gives
the median sequences per second over the rounds, the ratio of electra-tf to the best PyTorch
configuration (median over the rounds of the per-round ratio) and each process's peak resident
memory. PyTorch uses all cores (``torch.get_num_threads()``), TensorFlow its defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.emulation import AVX2_ENV, tensorflow_picks_onednn  # noqa: E402

VOCAB, CLS, SEP, MASK = 30522, 101, 102, 103
SMALL = dict(hidden_size=256, num_attention_heads=4, intermediate_size=1024, embedding_size=128)
GENERATOR = dict(hidden_size=64, num_attention_heads=1, intermediate_size=256)


def _batch(size: int, length: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, VOCAB, (size, length)).astype("int32")
    ids[:, 0] = CLS
    ids[:, length // 2] = SEP
    ids[:, -1] = SEP
    types = np.zeros_like(ids)
    types[:, length // 2 + 1:] = 1
    return ids, np.ones_like(ids), types


def make_ours(args, root: str):
    """A function running one electra-tf pre-training step (the code of checkout ``root``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, root)
    import electra_tf  # noqa: F401  before TensorFlow, as every command: it picks the oneDNN kernels

    import tensorflow as tf

    from electra_tf.pretraining.config import PretrainingConfig, model_configs
    from electra_tf.pretraining.model import PretrainingModel
    from electra_tf.training.engine import TrainingEngine
    from electra_tf.training.optimization import AdamWeightDecay
    from electra_tf.training.precision import apply_precision

    config = PretrainingConfig("bench", "/nonexistent", model_size="small", vocab_size=VOCAB, max_seq_length=args.length,
                               train_batch_size=args.batch, mixed_precision=args.precision, seed=1,
                               model_hparam_overrides={"num_hidden_layers": args.layers})
    apply_precision(args.precision, None)  # "float32" or "mixed_bfloat16": no strategy needed
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    disc, gen = model_configs(config)
    with strategy.scope():
        model = PretrainingModel(config, disc, gen, {"[CLS]": CLS, "[SEP]": SEP, "[MASK]": MASK}, seed=1)
        model.build_for(args.length)
        pairs = model.tf1_weights()
        optimizer = AdamWeightDecay([v for _, v in pairs], [n for n, _ in pairs], base_lr=5e-4, num_train_steps=10 ** 6,
                                    warmup_proportion=0.0, warmup_steps=10000, decay_power=1.0, weight_decay_rate=0.01)
    engine = TrainingEngine(strategy, model, optimizer, per_example_loss=model.per_example_loss,
                            named_weights=model.tf1_weights)
    ids, mask, types = _batch(args.batch, args.length)
    dataset = tf.data.Dataset.from_tensors({"input_ids": ids, "input_mask": mask, "segment_ids": types}).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    return lambda: float(engine.train_step(iterator)[0])


def make_torch(args, compiled: bool):
    """A function running one step of the HuggingFace PyTorch equivalent (see the module docstring)."""
    import torch
    import transformers

    torch.manual_seed(0)
    common = dict(vocab_size=VOCAB, embedding_size=128, num_hidden_layers=args.layers, max_position_embeddings=512,
                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    disc = transformers.ElectraForPreTraining(transformers.ElectraConfig(**common, **{k: v for k, v in SMALL.items()
                                                                                      if k != "embedding_size"}))
    gen = transformers.ElectraForMaskedLM(transformers.ElectraConfig(**common, **GENERATOR))
    gen.electra.embeddings = disc.electra.embeddings  # the generator shares the whole embedding block
    gen.generator_lm_head.weight = disc.electra.embeddings.word_embeddings.weight
    params = list({id(p): p for p in list(disc.parameters()) + list(gen.parameters())}.values())
    optimizer = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    disc.train()
    gen.train()
    ids, mask, types = (torch.tensor(x, dtype=torch.long) for x in _batch(args.batch, args.length))
    n_pred = int((0.15 + 0.005) * args.length)
    rows = torch.arange(args.batch)[:, None]
    bf16 = args.precision == "mixed_bfloat16"

    def masking():
        # k = round(0.15 n) slots per row, drawn with replacement among real tokens
        candidates = (mask.bool() & (ids != CLS) & (ids != SEP)).float()
        k = torch.clamp(torch.round(mask.sum(1).float() * 0.15), 1, n_pred).long()
        positions = torch.multinomial(candidates, n_pred, replacement=True)
        weights = (torch.arange(n_pred)[None] < k[:, None]).float()
        positions = positions * weights.long()
        targets = ids[rows, positions]
        replace = (torch.rand(args.batch, n_pred) < 0.85).long() * weights.long()
        masked = ids.clone()
        masked[rows, positions] = torch.where(replace.bool(), torch.full_like(targets, MASK), targets)
        return masked, positions, targets, weights

    def losses(masked, positions, targets, weights):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            # generator on the masked slots only, as the original
            hidden = gen.electra(input_ids=masked, attention_mask=mask, token_type_ids=types).last_hidden_state
            logits = gen.generator_lm_head(gen.generator_predictions(hidden[rows, positions])).float()
            nll = -torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0]
            mlm = (weights * nll).sum() / (weights.sum() + 1e-6)
            # Gumbel-max sampling, no gradient; fake tokens where the sample differs
            with torch.no_grad():
                uniform = torch.rand_like(logits)
                sampled = torch.argmax(logits - torch.log(-torch.log(uniform + 1e-9) + 1e-9), -1)
            fake = ids.clone()
            fake[rows, positions] = torch.where(weights.bool(), sampled, targets)
            labels = (fake != ids).long()
            disc_loss = disc(input_ids=fake, attention_mask=mask, token_type_ids=types, labels=labels).loss
            return mlm + 50.0 * disc_loss

    def update():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    if compiled:
        losses = torch.compile(losses)
        update = torch.compile(update)

    def step():
        optimizer.zero_grad()
        loss = losses(*masking())
        loss.backward()
        update()
        return float(loss)

    return step


def worker(args) -> None:
    """One configuration: build, warm up, then run timed steps on the parent's requests."""
    if args.framework == "electra-tf":
        step = make_ours(args, args.root or ROOT)
    else:
        step = make_torch(args, compiled=args.framework == "pytorch-compile")
    start = time.perf_counter()
    for _ in range(2):  # tracing / compilation + warm-up
        step()
    print("READY " + json.dumps({"warmup_s": time.perf_counter() - start}), flush=True)
    for line in sys.stdin:
        if not line.startswith("RUN"):
            break
        words = line.split()
        if len(words) > 2:  # a thread count for this run (PyTorch: torch.set_num_threads)
            import torch

            torch.set_num_threads(int(words[2]))
        start = time.perf_counter()
        for _ in range(int(words[1])):
            step()
        print("TIME " + json.dumps({"seconds": time.perf_counter() - start}), flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("DONE " + json.dumps({"peak_mb": peak_mb}), flush=True)


class Worker:
    """A configuration's worker process, driven over its stdin/stdout."""

    def __init__(self, label: str, framework: str, precision: str, args, root: str = "", env=None, threads: int = 0,
                 share: "Worker" = None):
        """``share``: run in that worker's process (with ``threads`` PyTorch threads) instead of a new one."""
        self.label, self.threads, self.owner = label, threads, share is None
        self.times = []
        if share is not None:
            self.proc = share.proc
            return
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--framework", framework, "--precision", precision,
               "--length", str(args.length), "--batch", str(args.batch), "--layers", str(args.layers)]
        if root:
            cmd += ["--root", root]
        env = dict(os.environ, **(env or {}))
        # stderr to a file: a pipe nobody reads would block a chatty worker once it is full
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=env)

    def _read(self, tag: str) -> dict:
        for line in self.proc.stdout:
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1:])
        log = getattr(self, "log", None)
        if log is not None:
            log.seek(0)
        raise SystemExit(f"{self.label} failed (exit code {self.proc.poll()}):\n{log.read()[-3000:] if log else ''}")

    def ready(self) -> dict:
        return self._read("READY")

    def run(self, steps: int) -> float:
        self.proc.stdin.write(f"RUN {steps} {self.threads}\n" if self.threads else f"RUN {steps}\n")
        self.proc.stdin.flush()
        seconds = self._read("TIME")["seconds"]
        self.times.append(seconds)
        return seconds

    def finish(self) -> float:
        if not self.owner:
            return float("nan")  # the owner's process reports the peak
        self.proc.stdin.write("QUIT\n")
        self.proc.stdin.flush()
        peak = self._read("DONE")["peak_mb"]
        self.proc.wait()
        return peak


def compare(precision: str, args) -> None:
    """Start this precision's workers one after another, then time them in interleaved rounds."""
    avx2 = dict(AVX2_ENV)
    tf_env = dict(avx2) if args.emulate_avx2 else {}
    passive = {"OMP_WAIT_POLICY": "PASSIVE"}
    torch_env = avx2 if args.emulate_avx2 else {}
    configs = [("electra-tf", "electra-tf", "", tf_env)]
    if args.emulate_avx2 or not tensorflow_picks_onednn():
        configs.append(("electra-tf, Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0, TensorFlow's own default here)",
                        "electra-tf", "", dict(tf_env, TF_ENABLE_ONEDNN_OPTS="0")))
    if args.baseline:
        configs.append((f"electra-tf baseline ({os.path.basename(os.path.normpath(args.baseline))})", "electra-tf",
                        os.path.abspath(args.baseline), tf_env))
    configs += [("pytorch", "pytorch", "", torch_env), ("pytorch-passive", "pytorch", "", dict(torch_env, **passive))]
    if args.compile:
        configs.append(("pytorch-compile", "pytorch-compile", "", dict(torch_env, **passive)))
    workers = []
    for label, framework, root, env in configs:  # one at a time: tracing / compiling does not overlap
        w = Worker(label, framework, precision, args, root, env, threads=os.cpu_count() if label == "pytorch-passive" else 0)
        w.warmup = w.ready()["warmup_s"]
        workers.append(w)
        if label == "pytorch-passive":  # one thread, in the same process (one model fewer in memory)
            single = Worker("pytorch-1thread", framework, precision, args, threads=1, share=w)
            single.warmup = float("nan")
            workers.append(single)
    for r in range(args.rounds):
        order = workers[r % len(workers):] + workers[:r % len(workers)]  # rotate who goes first
        for w in order:
            w.run(args.steps)
    peaks = {w.label: w.finish() for w in workers}
    seq = {w.label: [args.batch * args.steps / t for t in w.times] for w in workers}
    torch_labels = [w.label for w in workers if w.label.startswith("pytorch")]
    best_torch = [max(seq[l][r] for l in torch_labels) for r in range(args.rounds)]
    print(f"\n{precision}: median over {args.rounds} rounds of {args.steps} steps (min-max), peak resident memory, "
          f"first 2 steps (tracing / compiling + warm-up)\n")
    print("| configuration | seq/s | range | vs best PyTorch (median of per-round ratios) | peak MB | first 2 steps s |")
    print("|---|---:|---:|---:|---:|---:|")
    for w in workers:
        values = seq[w.label]
        ratio = statistics.median(v / b for v, b in zip(values, best_torch))
        peak = "same process" if peaks[w.label] != peaks[w.label] else f"{peaks[w.label]:.0f}"  # NaN: shared
        warmup = "" if w.warmup != w.warmup else f"{w.warmup:.1f}"
        print(f"| {w.label} | {statistics.median(values):.2f} | {min(values):.2f}-{max(values):.2f} | {ratio:.2f}x | "
              f"{peak} | {warmup} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 layers, batch 4, 2 rounds of 2 steps, small data run")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per worker and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--precisions", default="float32,mixed_bfloat16")
    parser.add_argument("--baseline", default="", help="another checkout whose electra-tf runs beside this one")
    parser.add_argument("--compile", action="store_true", help="add the torch.compile configuration (slow to compile)")
    parser.add_argument("--emulate-avx2", action="store_true", help="both frameworks as on an AVX2-only CPU")
    parser.add_argument("--skip-data", action="store_true", help="Only the training steps.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--framework", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--root", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.layers, args.batch, args.steps, args.rounds = 2, 4, 2, 2
    print(f"Pre-training step, ELECTRA-small shape ({args.layers} layers, generator 1/4 hidden), {args.length} tokens, "
          f"batch {args.batch}; {os.cpu_count()} CPUs{', AVX2 emulated' if args.emulate_avx2 else ''}", flush=True)
    for precision in args.precisions.split(","):
        compare(precision, args)
    if args.skip_data:
        return
    print("\nDataset building (bench/pretrain_data.py)\n", flush=True)
    data_args = ["--files", "2", "--repeats", "1", "--vocab-size", "4000"] if args.quick else []
    code = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "pretrain_data.py"), *data_args]).returncode
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
