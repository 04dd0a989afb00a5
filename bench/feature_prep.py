"""Feature preparation speed: electra-tf against the original pure-Python tokenizer algorithm.

    python bench/feature_prep.py [--questions 10000] [--sentences 100000] [--original-procedure-questions 300]

Every row runs the same featurization code (``QATask.featurize``, ``SentenceTask.featurize``)
twice, once with our ``FullTokenizer`` and once with the original tokenizer algorithm
(``ReferenceTokenizer``, pure Python, applied as the original applied it: to each whitespace
token of a QA paragraph, to each sentence), and checks that both give identical features.
A second table times the original *procedure*, its tokenizer and its featurization code path:
for QA it featurized one question at a time (re-tokenizing the paragraph each time) and
searched the answer span with a cubic loop, so it is timed on a subset
(``--original-procedure-questions``) and compared per question; for classification it built
and padded each feature one token at a time (``original_sentence_features``).

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


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _same_features(a, b):
    keys = [k for k in a[0] if k not in ("example", "tokens", "token_to_orig_map", "token_is_max_context", "char_spans")]
    return len(a) == len(b) and all([list(x[k]) if hasattr(x[k], "__len__") else x[k] for k in keys] ==
                                    [list(y[k]) if hasattr(y[k], "__len__") else y[k] for k in keys] for x, y in zip(a, b))


def bench_qa(cmrc_path, workdir, questions, procedure_questions):
    """CMRC-sized QA features: ours, the original tokenizer, and the original procedure (on a subset)."""
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.tasks import qa as qa_module
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
        return qa_module.QATask(config, "cmrc2018", tokenizer, {}, metric="cmrc2018")

    examples = task_with(FullTokenizer(vocab)).get_examples("train")[:questions]
    seconds, ours = _timed(lambda: task_with(FullTokenizer(vocab)).featurize(examples, is_training=True))
    original_seconds, theirs = _timed(lambda: task_with(OriginalTokenizer(vocab)).featurize(examples, is_training=True))
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
        procedure_seconds, procedure = _timed(lambda: [f for ex in subset for f in task.featurize([ex], is_training=True)])
    finally:
        qa_module.first_matching_span = fast_search
    assert _same_features(ours[:len(procedure)], procedure), "the original procedure gave different QA features"
    return {"items": len(examples), "features": len(ours), "ours": seconds, "original": original_seconds,
            "procedure_items": len(subset), "procedure": procedure_seconds}


def original_sentence_features(examples, tokenizer, max_seq_length):
    """The original's per-example featurization, step by step as it ran it (``featurize`` in
    finetune/classification/classification_tasks.py): tokenize, truncate, build the lists one
    token at a time, convert to ids, pad one position at a time. Single sentences only."""
    features = []
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
        features.append({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})
    return features


def bench_classification(workdir, task_name, sentences):
    """Sentence-classification features: ours against the original tokenizer algorithm."""
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.tasks import get_task
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
    examples = get_task(config, task_name, FullTokenizer(vocab)).get_examples("train")
    seconds, ours = _timed(lambda: get_task(config, task_name, FullTokenizer(vocab)).featurize(examples, is_training=True))
    original_seconds, theirs = _timed(lambda: get_task(config, task_name, OriginalTokenizer(vocab)).featurize(examples, is_training=True))
    assert _same_features(ours, theirs), f"the two tokenizers gave different {task_name} features"
    procedure_seconds, procedure = _timed(lambda: original_sentence_features(examples, OriginalTokenizer(vocab), 128))
    assert all(a[k] == b[k] for a, b in zip(ours, procedure) for k in procedure[0]), "the original procedure differs"
    return {"items": len(examples), "features": len(ours), "ours": seconds, "original": original_seconds,
            "procedure_items": len(examples), "procedure": procedure_seconds}


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

if __name__ == "__main__":
    main()
