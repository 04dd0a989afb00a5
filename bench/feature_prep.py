"""Feature preparation speed: electra-tf against the original pure-Python tokenizer algorithm.

    python bench/feature_prep.py [--questions 10000] [--sentences 100000] [--original-procedure-questions 300]

Three tables, each row checking that both sides produce the same features or records:
1. Same featurizer, two tokenizers: our featurization code (``QATask.featurize``,
   ``SentenceTask.featurize``, called on blocks of examples as ``prepare_split`` calls it) with
   our ``FullTokenizer`` and with the original tokenizer algorithm (``ReferenceTokenizer``, pure
   Python, applied as the original applied it: to each whitespace token of a QA paragraph, to
   each sentence).
2. Featurization against the original *procedure*, its tokenizer and its featurization code
   path: QA featurized one question at a time (the paragraph re-tokenized each time) with the
   cubic answer-span search, so it is timed on a subset (``--original-procedure-questions``) and
   compared per question; classification built and padded each feature one token at a time
   (``original_sentence_features``).
3. End to end, the data file to the TFRecord training reads: our ``prepare_split`` (read,
   featurize, shuffle, serialize, write) against the original's ``serialize_examples``
   procedure (read, shuffle, then per example featurize, build a ``tf.train.Example``, write).

Data, all built locally (nothing is downloaded):
- CMRC-sized QA: the CMRC 2018 trial set (``../shared/data/cmrc2018/trial.json``, or the
  sample in ``tests/data``) replicated to 10,000 questions, max_seq_length 512.
- English classification: 100,000 distinct real English sentences from the docstrings of the
  Python standard library and installed packages (a larger vocabulary than review corpora:
  more distinct words per sentence, so a harder case for our word cache), max_seq_length 128.
- Chinese classification: 100,000 sentences recombined from the clauses of the CMRC trial
  contexts (almost all distinct), max_seq_length 128.
"""

from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import platform
import random
import re
import sys
import sysconfig
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from electra_tf.finetuning.features import gc_paused  # noqa: E402


class OriginalTokenizer:
    """The original pure-Python algorithm behind the tokenizer interface the featurizers use.

    QA paragraphs are tokenized per whitespace token, as the original did; character spans are
    not computed (the original had none), so QA rows use ``answer_mode: original``.
    """

    def __init__(self, vocab_file, do_lower_case=True):
        from electra_tf.text.reference_tokenizer import ReferenceTokenizer

        self.ref = ReferenceTokenizer(vocab_file, do_lower_case)
        self.vocab = self.ref.vocab

    def tokenize(self, text):
        return self.ref.tokenize(text)

    def tokenize_batch(self, texts):
        return [self.ref.tokenize(t) for t in texts]

    def encode_batch(self, texts):
        return [self.ref.convert_tokens_to_ids(self.ref.tokenize(t)) for t in texts]

    def encode_batch_flat(self, texts):
        from electra_tf.utils.ragged import flatten_ids

        return flatten_ids(self.encode_batch(texts))

    def tokenize_with_offsets_batch(self, texts):
        return [[(token, 0, 0) for token in self.ref.tokenize(t)] for t in texts]

    def convert_tokens_to_ids(self, tokens):
        return self.ref.convert_tokens_to_ids(tokens)

    def special_id(self, token):
        return self.vocab[token]


def _vocab_for(texts, path):
    """A WordPiece vocabulary from the texts: short words whole, long ones as 3-character pieces."""
    from electra_tf.text.reference_tokenizer import basic_tokenize

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(tokens)
    for text in texts:
        for word in basic_tokenize(text):
            for piece in ([word] if len(word) < 6 else [word[:4]] + [f"##{word[i:i + 3]}" for i in range(4, len(word), 3)]):
                if piece not in seen:
                    seen.add(piece)
                    tokens.append(piece)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    return path


def english_sentences(n):
    """Up to ``n`` distinct English sentences from the docstrings of installed Python code."""
    paths = sysconfig.get_paths()
    sentences = {}
    for root in (paths["stdlib"], paths["purelib"]):
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            if "/test" in folder:
                continue
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                try:
                    with open(os.path.join(folder, name), encoding="utf-8") as f:
                        tree = ast.parse(f.read())
                except (SyntaxError, UnicodeDecodeError, ValueError):
                    continue
                for node in ast.walk(tree):
                    if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        doc = ast.get_docstring(node) or ""
                        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                            if 5 <= len(sentence.split()) <= 60:
                                sentences[sentence] = None
                if len(sentences) >= n:
                    return list(sentences)[:n]
    return list(sentences)


def chinese_sentences(cmrc_path, n):
    """``n`` sentences of 2-4 clauses drawn from the CMRC contexts' clauses."""
    with open(cmrc_path, encoding="utf-8") as f:
        trial = json.load(f)
    clauses = sorted({c for a in trial["data"] for p in a["paragraphs"] for c in re.split(r"[，。！？；]", p["context"])
                      if 3 <= len(c) <= 40})
    rng = random.Random(0)
    return ["，".join(rng.sample(clauses, rng.randint(2, 4))) + "。" for _ in range(n)]


def featurize_in_blocks(task, examples, is_training=True):
    """``task.featurize`` as ``prepare_split`` calls it: FEATURIZE_CHUNK examples at a time."""
    from electra_tf.finetuning.data import FEATURIZE_CHUNK

    return gc_paused(lambda: [f for start in range(0, len(examples), FEATURIZE_CHUNK)
                              for f in task.featurize(examples[start:start + FEATURIZE_CHUNK], is_training)])()


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _values(value):
    return [int(v) for v in value] if hasattr(value, "__len__") else value


def _same_features(a, b, keys=None):
    keys = keys or [k for k in a[0] if k not in ("example", "tokens", "token_to_orig_map", "token_is_max_context", "char_spans")]
    return len(a) == len(b) and all([_values(x[k]) for k in keys] == [_values(y[k]) for k in keys] for x, y in zip(a, b))


def original_make_tf_example(spec, feature):
    """The original's ``_make_tf_example`` and ``SerializeToString`` (finetune/preprocessing.py):
    every feature name of the spec, its value or zeros, as one proto per record."""
    import numpy as np
    import tensorflow as tf

    fields = collections.OrderedDict()
    for name, (shape, dtype) in spec.items():
        values = feature[name] if name in feature else np.zeros(shape, np.int64 if dtype == "int64" else np.float32)
        if isinstance(values, (int, bool, float, np.float32)) or (isinstance(values, np.ndarray) and values.size == 1):
            values = [values]
        if dtype == "int64":
            fields[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))
        else:
            fields[name] = tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))
    return tf.train.Example(features=tf.train.Features(feature=fields)).SerializeToString()


def original_serialize(spec, featurized, path, n_tasks, batch_size):
    """The original's ``serialize_examples``: each example's features made into protos and
    written, then padding records up to a multiple of the batch size. ``featurized`` yields the
    features example by example, so featurization is interleaved as in the original."""
    import tensorflow as tf

    n = 0
    with tf.io.TFRecordWriter(path) as writer:
        for features in featurized:
            for feature in features:
                writer.write(original_make_tf_example(spec, feature))
                n += 1
        while n % batch_size:
            writer.write(original_make_tf_example(spec, {"task_id": n_tasks}))
            n += 1
    return n


def _records(path):
    import tensorflow as tf

    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def end_to_end(config, task, workdir, original_featurized):
    """Raw data file -> TFRecord, as run_finetuning prepares the training split: electra-tf's
    ``prepare_split`` against the original procedure (read, shuffle, featurize and serialize
    example by example). Both files are checked to hold the same records."""
    from electra_tf.finetuning import data

    spec = data.full_feature_spec([task], config.max_seq_length)
    seconds, (path, meta) = _timed(lambda: data.prepare_split(config, [task], [task], "train", True, 32,
                                                              task.data_files("train")))

    def original():
        examples = task.get_examples("train")
        random.Random(config.seed if config.seed is not None else 0).shuffle(examples)
        target = os.path.join(workdir, "original.tfrecord")
        return target, original_serialize(spec, original_featurized(examples), target, 1, 32)

    original_seconds, (original_path, _) = _timed(original)
    ours, theirs = _records(path), _records(original_path)
    def canonical(records):  # the two shuffles differ: compare the records as sorted sets
        return sorted(r.SerializeToString(deterministic=True) for r in records)

    assert canonical(ours) == canonical(theirs), "the two TFRecord files differ"
    return {"records": meta["n_examples"], "e2e_ours": seconds, "e2e_original": original_seconds}


def bench_qa(cmrc_path, workdir, questions, procedure_questions):
    """CMRC-sized QA features: ours, the original tokenizer, and the original procedure (on a subset)."""
    import tensorflow as tf

    from electra_tf.finetuning import data as data_module
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.records import serialize_features
    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.finetuning.qa import preprocessor as qa_module
    from electra_tf.finetuning.qa.task import QATask
    from electra_tf.text.tokenizer import FullTokenizer

    with open(cmrc_path, encoding="utf-8") as f:
        trial = json.load(f)
    paragraphs = [p for a in trial["data"] for p in a["paragraphs"]]
    n = sum(len(p["qas"]) for p in paragraphs)
    copies = -(-questions // n)
    data = {"data": [{"paragraphs": [dict(p, context=p["context"] + " " * c,  # distinct paragraphs per copy
                                          qas=[dict(q, id=f"{q['id']}-{c}") for q in p["qas"]]) for p in paragraphs]}
                     for c in range(copies)]}
    folder = os.path.join(workdir, "finetuning_data", "cmrc2018")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    vocab = _vocab_for([p["context"] for p in paragraphs] + [q["question"] for p in paragraphs for q in p["qas"]],
                       os.path.join(workdir, "vocab_zh.txt"))
    config = FinetuningConfig("m", workdir, task_names=["cmrc2018"], vocab_file=vocab, max_seq_length=512,
                              task_config={"cmrc2018": {"answer_mode": "original"}}, progress=False)

    def task_with(tokenizer):
        return QATask(TaskOptions.from_config(config, "cmrc2018"), "cmrc2018", tokenizer, {}, metric="cmrc2018")

    examples = task_with(FullTokenizer(vocab)).get_examples("train")[:questions]
    seconds, ours = _timed(lambda: featurize_in_blocks(task_with(FullTokenizer(vocab)), examples))
    original_seconds, theirs = _timed(lambda: featurize_in_blocks(task_with(OriginalTokenizer(vocab)), examples))
    assert _same_features(ours, theirs), "the two tokenizers gave different QA features"

    def literal_search(pieces, tok_start, tok_end, answer_pieces):  # the original's loop, as written
        target = " ".join(answer_pieces)
        for new_start in range(tok_start, tok_end + 1):
            for new_end in range(tok_end, new_start - 1, -1):
                if " ".join(pieces[new_start:new_end + 1]) == target:
                    return new_start, new_end
        return tok_start, tok_end

    subset = examples[:procedure_questions]
    task = task_with(OriginalTokenizer(vocab))
    fast_search, qa_module.first_matching_span = qa_module.first_matching_span, literal_search
    try:
        procedure_seconds, procedure = _timed(gc_paused(lambda: [f for ex in subset for f in task.featurize([ex], is_training=True)]))
    finally:
        qa_module.first_matching_span = fast_search
    assert _same_features(ours[:len(procedure)], procedure), "the original procedure gave different QA features"

    # End to end. The original procedure on the subset: its features above, made into protos and
    # written as the original did (timed on its own and added; the original interleaved the two).
    spec = data_module.full_feature_spec([task], config.max_seq_length)
    procedure = [dict(f, task_id=0) for f in procedure]
    target = os.path.join(workdir, "original_qa.tfrecord")
    serialize_seconds, _ = _timed(lambda: original_serialize(spec, [procedure], target, 1, 1))
    ours_records = [tf.train.Example.FromString(r) for r in serialize_features(procedure, spec)]
    assert ours_records == _records(target), "electra-tf and the original serialize QA features differently"
    qa_task = task_with(FullTokenizer(vocab))
    e2e_seconds, (_, meta) = _timed(lambda: data_module.prepare_split(config, [qa_task], [qa_task], "train", True, 32,
                                                                      qa_task.data_files("train")))
    return {"items": len(examples), "features": len(ours), "ours": seconds, "original": original_seconds,
            "procedure_items": len(subset), "procedure": procedure_seconds,
            "e2e_items": meta["counts"]["cmrc2018"]["examples"], "e2e_ours": e2e_seconds,
            "e2e_original_items": len(subset), "e2e_original": procedure_seconds + serialize_seconds}


def original_sentence_features(examples, tokenizer, max_seq_length, task):
    """The original's per-example featurization, step by step as it ran it (``featurize`` in
    finetune/classification/classification_tasks.py): tokenize, truncate, build the lists one
    token at a time, convert to ids, pad one position at a time. Single sentences only. Yields
    each example's features (one), as the original's featurize returned them."""
    for ex in examples:
        tokens_a = tokenizer.tokenize(ex.fields["text_a"])
        if len(tokens_a) > max_seq_length - 2:
            tokens_a = tokens_a[:max_seq_length - 2]
        tokens, segment_ids = ["[CLS]"], [0]
        for token in tokens_a:
            tokens.append(token)
            segment_ids.append(0)
        tokens.append("[SEP]")
        segment_ids.append(0)
        input_ids = tokenizer.convert_tokens_to_ids(tokens)
        input_mask = [1] * len(input_ids)
        while len(input_ids) < max_seq_length:
            input_ids.append(0)
            input_mask.append(0)
            segment_ids.append(0)
        yield [{"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids, "task_id": 0,
                f"{task.name}_eid": ex.eid, f"{task.name}_label_ids": task.label_map[ex.fields["label"]]}]


def bench_classification(workdir, task_name, sentences):
    """Sentence-classification features: ours against the original tokenizer algorithm and procedure."""
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.builtin_tasks import get_task
    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.text.tokenizer import FullTokenizer

    rng = random.Random(0)
    folder = os.path.join(workdir, "finetuning_data", task_name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train.tsv"), "w", encoding="utf-8") as f:
        f.write("label\tsentence\n" if task_name == "chnsenticorp" else "sentence\tlabel\n")
        for s in sentences:
            s = s.replace("\t", " ")
            f.write(f"{rng.randint(0, 1)}\t{s}\n" if task_name == "chnsenticorp" else f"{s}\t{rng.randint(0, 1)}\n")
    vocab = _vocab_for(sentences[: len(sentences) // 5], os.path.join(workdir, f"vocab_{task_name}.txt"))
    config = FinetuningConfig("m", workdir, task_names=[task_name], vocab_file=vocab, max_seq_length=128, progress=False)

    def task_with(tokenizer):
        return get_task(TaskOptions.from_config(config, task_name), task_name, tokenizer)

    examples = task_with(FullTokenizer(vocab)).get_examples("train")
    seconds, ours = _timed(lambda: featurize_in_blocks(task_with(FullTokenizer(vocab)), examples))
    original_seconds, theirs = _timed(lambda: featurize_in_blocks(task_with(OriginalTokenizer(vocab)), examples))
    assert _same_features(ours, theirs), f"the two tokenizers gave different {task_name} features"
    task = task_with(OriginalTokenizer(vocab))
    # Collecting 100k features: the collector paused, as on our side (gc_paused).
    procedure_seconds, procedure = _timed(gc_paused(
        lambda: [f for fs in original_sentence_features(examples, task.tokenizer, 128, task) for f in fs]))
    assert _same_features(ours, procedure, ["input_ids", "input_mask", "segment_ids"]), "the original procedure differs"
    del ours, theirs, procedure

    def original_featurized(examples):  # a fresh tokenizer: nothing cached from the runs above
        return original_sentence_features(examples, OriginalTokenizer(vocab), 128, task)

    e2e = end_to_end(config, task_with(FullTokenizer(vocab)), workdir, original_featurized)
    return dict(e2e, items=len(examples), features=len(examples), ours=seconds, original=original_seconds,
                procedure_items=len(examples), procedure=procedure_seconds, e2e_items=len(examples),
                e2e_original_items=len(examples))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmrc", default=os.path.join(ROOT, "..", "shared", "data", "cmrc2018", "trial.json"))
    parser.add_argument("--questions", type=int, default=10000)
    parser.add_argument("--original-procedure-questions", type=int, default=300)
    parser.add_argument("--sentences", type=int, default=100000)
    args = parser.parse_args()
    if not os.path.isfile(args.cmrc):
        args.cmrc = os.path.join(ROOT, "tests", "data", "cmrc2018_trial_sample.json")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
          flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        qa = bench_qa(args.cmrc, workdir, args.questions, args.original_procedure_questions)
        english = bench_classification(workdir, "sst", english_sentences(args.sentences))
        chinese = bench_classification(workdir, "chnsenticorp", chinese_sentences(args.cmrc, args.sentences))
    rows = (("CMRC-sized QA, 512 tokens", "questions", qa), ("English classification, 128 tokens", "sentences", english),
            ("Chinese classification, 128 tokens", "sentences", chinese))
    print("\nSame featurizer, only the tokenizer differs:\n")
    print("| data | items | features | electra-tf s | original tokenizer algorithm s | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, unit, r in rows:
        print(f"| {name} | {r['items']} {unit} | {r['features']} | {r['ours']:.2f} | {r['original']:.2f} | "
              f"{r['original'] / r['ours']:.1f}x |")
    print("\nAgainst the original procedure (its tokenizer and its featurization code path):\n")
    print("| data | original: items timed | original s | original ms/item | electra-tf ms/item | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, unit, r in rows:
        theirs, ours = r["procedure"] / r["procedure_items"], r["ours"] / r["items"]
        print(f"| {name} | {r['procedure_items']} {unit} | {r['procedure']:.1f} | {theirs * 1000:.3f} | "
              f"{ours * 1000:.3f} | {theirs / ours:.0f}x |")
    print("\nEnd to end, data file to TFRecord (electra-tf: prepare_split; the original: read, shuffle, then "
          "featurize, make a tf.train.Example and write, example by example):\n")
    print("| data | electra-tf: items | electra-tf s | original: items timed | original s | original ms/item | "
          "electra-tf ms/item | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, unit, r in rows:
        theirs, ours = r["e2e_original"] / r["e2e_original_items"], r["e2e_ours"] / r["e2e_items"]
        print(f"| {name} | {r['e2e_items']} {unit} | {r['e2e_ours']:.2f} | {r['e2e_original_items']} {unit} | "
              f"{r['e2e_original']:.1f} | {theirs * 1000:.3f} | {ours * 1000:.3f} | {theirs / ours:.0f}x |")


if __name__ == "__main__":
    main()
