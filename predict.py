"""Run a fine-tuned model on new raw text and write predictions with scores.

    python predict.py --model MODEL_DIR --input FILE --output FILE

MODEL_DIR is a fine-tuned model directory (``finetuning_models/<tasks>_model_<trial>/model``
written by run_finetuning.py, or any electra-tf / HuggingFace directory with vocab.txt). The
input format follows the model:

* sequence classification: one text per line, or ``text_a<TAB>text_b`` pairs; output JSON lines
  ``{"text": ..., "label": ..., "score": ..., "scores": {...}}`` (regression: ``"prediction"``);
* token classification: CoNLL-style tokens (the word in the first column, a blank line between
  sentences); output ``word<TAB>label<TAB>probability`` lines;
* question answering: SQuAD-style JSON; output ``{question id: answer}`` JSON, with the n-best
  list (and null odds for models with the answerable classifier) beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _softmax(x):
    import numpy as np

    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _batches(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _read_lines(path):
    from electra_tf.errors import DataError

    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise DataError(f"Input file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: byte {e.start} is not valid UTF-8; convert the file to UTF-8.") from None


def predict_classification(model, tokenizer, args):
    import numpy as np

    from electra_tf.finetuning.tasks.base import encode_pair
    from electra_tf.io_utils import atomic_write_text

    lines = [l for l in _read_lines(args.input) if l.strip()]
    if not lines:
        from electra_tf.errors import DataError

        raise DataError(f"{args.input}: no text to classify.")
    pairs = [l.split("\t", 1) if "\t" in l else [l, None] for l in lines]
    labels = model.config.id2label or {i: str(i) for i in range(model.config.num_labels)}
    out = []
    for batch in _batches(pairs, args.batch_size):
        encoded = [encode_pair(tokenizer, tokenizer.tokenize(a), tokenizer.tokenize(b) if b else None, args.max_seq_length)
                   for a, b in batch]
        arrays = [np.array([e[k] for e in encoded], "int32") for k in range(3)]
        logits = np.asarray(model(arrays[0], attention_mask=arrays[1], token_type_ids=arrays[2])["logits"])
        for (a, b), row in zip(batch, logits):
            record = {"text": a} if b is None else {"text": a, "text_b": b}
            if model.config.num_labels == 1:
                record["prediction"] = float(row[0])
            else:
                probs = _softmax(row)
                best = int(np.argmax(probs))
                record.update(label=labels[best], score=float(probs[best]),
                              scores={labels[i]: float(p) for i, p in enumerate(probs)})
            out.append(json.dumps(record, ensure_ascii=False))
    atomic_write_text(args.output, "\n".join(out) + "\n")
    return len(out)


def _scratch_config(workdir, task_name, model, args, **extra):
    from electra_tf.finetuning.hparams import FinetuningConfig

    return FinetuningConfig("predict", workdir, task_names=[task_name], vocab_file=args.vocab,
                            do_lower_case=args.do_lower_case, max_seq_length=args.max_seq_length,
                            eval_batch_size=args.batch_size, head=model.config.head, progress=False, **extra)


def predict_tagging(model, tokenizer, args):
    import numpy as np

    from electra_tf.finetuning.tasks import get_task
    from electra_tf.io_utils import atomic_write_text

    sentences, current = [], []
    for line in _read_lines(args.input) + [""]:
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
        elif not line.startswith("-DOCSTART-"):
            current.append(line.split()[0])
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)] if model.config.id2label else \
        [str(i) for i in range(model.config.num_labels)]
    with tempfile.TemporaryDirectory() as workdir:
        folder = os.path.join(workdir, "finetuning_data", "predict")
        os.makedirs(folder)
        with open(os.path.join(folder, "dev.txt"), "w", encoding="utf-8") as f:
            f.write("".join("".join(f"{w}\t{labels[0]}\n" for w in s) + "\n" for s in sentences))
        config = _scratch_config(workdir, "predict", model, args, task_config={"predict": {
            "type": "tagging", "separator": "\t", "labels": labels, "encoding": "keep", "token_level": True}})
        task = get_task(config, "predict", tokenizer)
        examples = task.get_examples("dev")
        features = task.featurize(examples, is_training=False)
        scorer = task.get_scorer("dev")
        probabilities = {}
        for batch in _batches(features, args.batch_size):
            arrays = {k: np.array([f[k] for f in batch]) for k in batch[0]}
            logits = np.asarray(model(arrays["input_ids"].astype("int32"), attention_mask=arrays["input_mask"].astype("int32"),
                                      token_type_ids=arrays["segment_ids"].astype("int32"),
                                      labeled_positions=arrays["predict_labeled_positions"].astype("int32"))["logits"])
            for feature, row in zip(batch, logits):
                task.update_scorer(scorer, {"logits": row}, feature, 0.0)
                probs = _softmax(row)
                eid, offset = feature["predict_eid"], feature["predict_word_offset"]
                for j, keep in enumerate(feature["predict_score_mask"]):
                    if keep:
                        probabilities[(eid, offset + j)] = float(probs[j].max())
        eids, _, preds = scorer.sentences()
    lines = []
    for eid, pred in zip(eids, preds):
        for i, (word, tag) in enumerate(zip(sentences[eid], pred)):
            lines.append(f"{word}\t{tag}\t{probabilities[(eid, i)]:.4f}")
        lines.append("")
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    return len(sentences)


def predict_qa(model, tokenizer, args):
    import shutil

    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.tasks import get_task
    from electra_tf.finetuning.tasks.qa import QAScorer
    from electra_tf.io_utils import atomic_write_json

    options = dict(model.config.head_options)
    v2 = model.config.head == "electra" and options.get("answerable_classifier", True)
    task_name = "squad" if v2 else "squadv1"
    with tempfile.TemporaryDirectory() as workdir:
        folder = os.path.join(workdir, "finetuning_data", task_name)
        os.makedirs(folder)
        shutil.copyfile(args.input, os.path.join(folder, "dev.json"))
        extra = {k: options[k] for k in ("joint_prediction", "beam_size", "answerable_classifier",
                                           "answerable_uses_start_logits") if k in options}
        config = _scratch_config(workdir, task_name, model, args, max_query_length=args.max_query_length,
                                 doc_stride=args.doc_stride, **extra)
        task = get_task(config, task_name, tokenizer)
        task.head = getattr(model, "qa_head", None)
        examples = task.get_examples("dev")
        features = task.featurize(examples, is_training=False)
        scorer = QAScorer(task, "dev")
        for batch in _batches(features, args.batch_size):
            ids = np.array([f["input_ids"] for f in batch], "int32")
            mask = np.array([f["input_mask"] for f in batch], "int32")
            types = np.array([f["segment_ids"] for f in batch], "int32")
            outputs = {k: np.asarray(v) for k, v in model(ids, attention_mask=mask, token_type_ids=types).items()}
            for i, f in enumerate(batch):
                scorer.update({k: v[i] for k, v in outputs.items()}, f[f"{task_name}_eid"], 0.0)
        task.decode(scorer)
    if not scorer.predictions:
        raise DataError(f"{args.input}: no questions found.")
    answers = dict(scorer.predictions)
    if v2:
        answers = {q: ("" if scorer.null_odds[q] > args.qa_na_threshold else a) for q, a in answers.items()}
        atomic_write_json(os.path.splitext(args.output)[0] + "_null_odds.json", scorer.null_odds)
    atomic_write_json(args.output, answers)
    atomic_write_json(os.path.splitext(args.output)[0] + "_nbest.json", scorer.nbest)
    return len(answers)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Predict with a fine-tuned ELECTRA model on raw text.")
    parser.add_argument("--model", required=True, help="fine-tuned model directory")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--max-query-length", type=int, default=64)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--qa-na-threshold", type=float, default=-2.75)
    args = parser.parse_args(argv)

    from electra_tf.checkpoints.loading import default_model_type
    from electra_tf.errors import ConfigError, ElectraError
    from electra_tf.checkpoints.hf import read_tokenizer_files
    from electra_tf.modeling.models import MODEL_CLASSES
    from electra_tf.text.tokenizer import build_tokenizer

    try:
        model_type = default_model_type(args.model)
        handlers = {"sequence-classification": predict_classification, "token-classification": predict_tagging,
                    "question-answering": predict_qa}
        if model_type not in handlers:
            raise ConfigError(f"{args.model} holds a {model_type} model; prediction needs a fine-tuned classifier, tagger or QA model.")
        model = MODEL_CLASSES[model_type].from_pretrained(args.model)
        args.vocab, args.do_lower_case = read_tokenizer_files(args.model)
        if args.vocab is None:
            raise ConfigError(f"{args.model} has no vocab.txt; copy the model's vocabulary there.")
        tokenizer = build_tokenizer(args.vocab, args.do_lower_case)
        count = handlers[model_type](model, tokenizer, args)
    except ElectraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {count} predictions to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
