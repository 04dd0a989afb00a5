"""Pre-training step throughput: electra-tf (float32, mixed_bfloat16) against a PyTorch equivalent,
then dataset-building throughput against the original algorithm.

    python bench/pretraining_throughput.py            # ELECTRA-small shape, 128 tokens, batch 16
    python bench/pretraining_throughput.py --quick    # 2 layers, batch 4, 2 steps: checks that it runs

Model: ELECTRA-small as the original pre-trains it (hidden 256, 12 layers, 4 heads, FFN 1024,
embeddings 128, vocabulary 30522; generator 1/4 hidden: 64, 1 head, FFN 256, 12 layers, sharing
the embedding block), sequences of 128 tokens, 19 masked slots.

- electra-tf: ``PretrainingModel`` trained by the training engine exactly as ``run_pretraining.py``
  does (masking, generator, Gumbel sampling, discriminator, the original AdamW with clipping);
- PyTorch: transformers' ``ElectraForMaskedLM`` generator + ``ElectraForPreTraining``
  discriminator sharing the embedding module, the same masking (k = round(0.15 n) slots drawn with
  replacement, 85 % [MASK]), generator head on the masked slots only, Gumbel-max sampling, the
  same losses (MLM + 50 x discriminator), clipping 1.0 and ``torch.optim.AdamW``; bf16 under
  ``torch.autocast("cpu", dtype=torch.bfloat16)``.

Each configuration runs in its own process (after 2 warm-up steps: tracing, allocation); the table
gives sequences per second of the timed steps and the peak resident memory. The dataset-building
part runs ``bench/pretrain_data.py`` (the original builder transcribed in the tests against ours).
The machine may be shared: run it on a quiet machine for figures worth recording.
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


def run_ours(args) -> float:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    import tensorflow as tf

    from electra_tf.pretraining.config import PretrainingConfig, model_configs
    from electra_tf.pretraining.model import PretrainingModel
    from electra_tf.training.engine import TrainingEngine
    from electra_tf.training.optimization import AdamWeightDecay
    from electra_tf.training.precision import apply_precision

    config = PretrainingConfig("bench", "/nonexistent", model_size="small", vocab_size=VOCAB, max_seq_length=args.length,
                               train_batch_size=args.batch, mixed_precision=args.precision, seed=1,
                               model_hparam_overrides={"num_hidden_layers": args.layers})
    apply_precision(config)
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
    for _ in range(2):  # tracing + warm-up
        float(engine.train_step(iterator)[0])
    start = time.perf_counter()
    for _ in range(args.steps):
        float(engine.train_step(iterator)[0])
    return args.batch * args.steps / (time.perf_counter() - start)


def run_torch(args) -> float:
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

    def step():
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "mixed_bfloat16"):
            # masking: k = round(0.15 n) slots per row, drawn with replacement among real tokens
            candidates = (mask.bool() & (ids != CLS) & (ids != SEP)).float()
            k = torch.clamp(torch.round(mask.sum(1).float() * 0.15), 1, n_pred).long()
            positions = torch.multinomial(candidates, n_pred, replacement=True)
            weights = (torch.arange(n_pred)[None] < k[:, None]).float()
            positions = positions * weights.long()
            targets = ids[rows, positions]
            replace = (torch.rand(args.batch, n_pred) < 0.85).long() * weights.long()
            masked = ids.clone()
            masked[rows, positions] = torch.where(replace.bool(), torch.full_like(targets, MASK), targets)
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
            loss = mlm + 50.0 * disc_loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return loss

    for _ in range(2):
        float(step())
    start = time.perf_counter()
    for _ in range(args.steps):
        float(step())
    return args.batch * args.steps / (time.perf_counter() - start)


def measure(args) -> None:
    seq_per_s = (run_ours if args.framework == "electra-tf" else run_torch)(args)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("RESULT " + json.dumps({"seq_per_s": seq_per_s, "peak_mb": peak_mb}))


def one(framework: str, precision: str, args) -> dict:
    cmd = [sys.executable, __file__, "--one", "--framework", framework, "--precision", precision,
           "--length", str(args.length), "--batch", str(args.batch), "--steps", str(args.steps), "--layers", str(args.layers)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{framework} {precision} failed:\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 layers, batch 4, 2 steps, one small data run")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--skip-data", action="store_true", help="Only the training steps.")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--framework", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        measure(args)
        return
    if args.quick:
        args.layers, args.batch, args.steps = 2, 4, 2
    print(f"Pre-training step, ELECTRA-small shape ({args.layers} layers, generator 1/4 hidden), {args.length} tokens, "
          f"batch {args.batch}, {args.steps} timed steps\n")
    print("| precision | electra-tf seq/s | PyTorch seq/s | ratio | electra-tf peak MB | PyTorch peak MB |")
    print("|---|---|---|---|---|---|")
    for precision in ("float32", "mixed_bfloat16"):
        ours, theirs = one("electra-tf", precision, args), one("pytorch", precision, args)
        label = precision if precision == "float32" else "bf16 (mixed_bfloat16 / autocast)"
        print(f"| {label} | {ours['seq_per_s']:.2f} | {theirs['seq_per_s']:.2f} | "
              f"{ours['seq_per_s'] / theirs['seq_per_s']:.2f} | {ours['peak_mb']:.0f} | {theirs['peak_mb']:.0f} |",
              flush=True)
    if args.skip_data:
        return
    print("\nDataset building (bench/pretrain_data.py)\n", flush=True)
    data_args = ["--files", "2", "--repeats", "1", "--vocab-size", "4000"] if args.quick else []
    code = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "pretrain_data.py"), *data_args]).returncode
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
