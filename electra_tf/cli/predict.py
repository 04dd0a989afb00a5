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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _softmax(x):
    import numpy as np

    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _batches(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _read_lines(path):
    """The lines of ``path``: only "\\n" (or "\\r\\n") ends a line, unlike str.splitlines, which
    also splits on \\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029 and so would shift every
    prediction after such a character. A UTF-8 byte-order mark is dropped."""
    from electra_tf.errors import DataError

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"Input file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"Input {path} is a folder; give a text file.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        from electra_tf.io_utils import invalid_utf8_message

        raise DataError(invalid_utf8_message(path, e)) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _labels(model):
    """The model's labels by id (its id2label, else the ids as strings)."""
    n = model.config.num_labels
    return [model.config.id2label[i] for i in range(n)] if model.config.id2label else [str(i) for i in range(n)]


def build_preprocessor(model_type, model, tokenizer, args):
    """The preprocessor fine-tuning used for this kind of model, built from the saved model's
    settings and the command line (no data folder, no FinetuningConfig)."""
    if model_type == "sequence-classification":
        from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor

        problem = "regression" if model.config.num_labels == 1 else "single_label"
        return SentencePreprocessor(tokenizer, args.max_seq_length, TASK_NAME, None if problem == "regression" else _labels(model),
                                    problem)
    if model_type == "token-classification":
        from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor, word_tokenizer

        return TaggingPreprocessor(word_tokenizer(tokenizer, args.do_lower_case), args.max_seq_length, TASK_NAME,
                                   _labels(model), lowercase=args.do_lower_case)
    from electra_tf.finetuning.qa.preprocessor import QAPreprocessor

    return QAPreprocessor(tokenizer, args.max_seq_length, args.max_query_length, args.doc_stride, TASK_NAME)


TASK_NAME = "predict"  # the prefix of the task-specific feature names


def predict_classification(model, preprocessor, args):
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.task import Example
    from electra_tf.io_utils import atomic_write_text

    lines = _read_lines(args.input)
    if not any(line.strip() for line in lines):
        raise DataError(f"{args.input}: no text to classify.")
    labels = model.config.id2label or {i: str(i) for i in range(model.config.num_labels)}
    dummy = 0.0 if preprocessor.problem == "regression" else preprocessor.labels[0]
    # One output record per input line, in order, with its 1-based line number; blank lines give
    # a record flagged "empty" so that outputs and inputs stay aligned.
    numbered = [(n, line.split("\t", 1) if "\t" in line else [line, None]) for n, line in enumerate(lines, 1)
                if line.strip()]
    records = {n: {"line": n, "text": line, "empty": True} for n, line in enumerate(lines, 1) if not line.strip()}
    for batch in _batches(numbered, args.batch_size):
        examples = [Example(eid=i, task_name=TASK_NAME, fields={"text_a": a, "text_b": b or None, "label": dummy})
                    for i, (_, (a, b)) in enumerate(batch)]
        features = preprocessor.featurize(examples, is_training=False)
        arrays = [np.array([f[k] for f in features], "int32") for k in ("input_ids", "input_mask", "segment_ids")]
        logits = np.asarray(model(arrays[0], attention_mask=arrays[1], token_type_ids=arrays[2])["logits"])
        for (n, (a, b)), row in zip(batch, logits):
            record = {"line": n, "text": a} if b is None else {"line": n, "text": a, "text_b": b}
            if model.config.num_labels == 1:
                record["prediction"] = float(row[0])
            else:
                probs = _softmax(row)
                best = int(np.argmax(probs))
                record.update(label=labels[best], score=float(probs[best]),
                              scores={labels[i]: float(p) for i, p in enumerate(probs)})
            records[n] = record
    out = [json.dumps(records[n], ensure_ascii=False) for n in range(1, len(lines) + 1)]
    atomic_write_text(args.output, "\n".join(out) + "\n")
    return len(out)


def predict_tagging(model, preprocessor, args):
    import numpy as np

    from electra_tf.finetuning.tagging.scorer import TaggingScorer
    from electra_tf.finetuning.task import Example
    from electra_tf.io_utils import atomic_write_text

    sentences, current = [], []
    for line in _read_lines(args.input) + [""]:
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
        elif not line.startswith("-DOCSTART-"):
            current.append(line.split()[0])
    examples = [Example(eid=i, task_name=TASK_NAME, fields={"words": words, "labels": [0] * len(words)})
                for i, words in enumerate(sentences)]
    features = preprocessor.featurize(examples, is_training=False)
    # The exported model has no CRF (CRF taggers are not exported): argmax decoding.
    scorer = TaggingScorer(TASK_NAME, preprocessor.label_list)
    probabilities = {}
    n = TASK_NAME
    for batch in _batches(features, args.batch_size):
        arrays = {k: np.array([f[k] for f in batch]) for k in batch[0]}
        logits = np.asarray(model(arrays["input_ids"].astype("int32"), attention_mask=arrays["input_mask"].astype("int32"),
                                  token_type_ids=arrays["segment_ids"].astype("int32"),
                                  labeled_positions=arrays[f"{n}_labeled_positions"].astype("int32"))["logits"])
        for feature, row in zip(batch, logits):
            scorer.update(row, feature, 0.0)
            probs = _softmax(row)
            eid, offset = feature[f"{n}_eid"], feature[f"{n}_word_offset"]
            for j, keep in enumerate(feature[f"{n}_score_mask"]):
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


def predict_qa(model, preprocessor, args):
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.qa.decoding import QADecoder
    from electra_tf.finetuning.qa.reader import QAReader
    from electra_tf.io_utils import atomic_write_json

    options = dict(model.config.head_options)
    v2 = model.config.head == "electra" and options.get("answerable_classifier", True)
    examples = QAReader(TASK_NAME, "squad", v2).read(args.input, is_training=False, what=args.input)
    features = preprocessor.featurize(examples, is_training=False, for_eval=True)
    results = {}
    for batch in _batches(features, args.batch_size):
        ids = np.array([f["input_ids"] for f in batch], "int32")
        mask = np.array([f["input_mask"] for f in batch], "int32")
        types = np.array([f["segment_ids"] for f in batch], "int32")
        outputs = {k: np.asarray(v) for k, v in model(ids, attention_mask=mask, token_type_ids=types).items()}
        for i, f in enumerate(batch):
            results[f[f"{TASK_NAME}_eid"]] = {k: v[i] for k, v in outputs.items()}
    decoder = QADecoder.for_head(TASK_NAME, model.config.head, options, v2=v2, do_lower_case=args.do_lower_case)
    decoded = decoder.decode(examples, features, results)
    if not decoded.predictions:
        raise DataError(f"{args.input}: no questions found.")
    answers = dict(decoded.predictions)
    if v2:
        answers = {q: ("" if decoded.null_odds[q] > args.qa_na_threshold else a) for q, a in answers.items()}
        atomic_write_json(os.path.splitext(args.output)[0] + "_null_odds.json", decoded.null_odds)
    atomic_write_json(args.output, answers)
    atomic_write_json(os.path.splitext(args.output)[0] + "_nbest.json", decoded.nbest)
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
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    args = parser.parse_args(argv)

    from electra_tf.cli_support import run_command

    def action():
        from electra_tf.startup import start_tensorflow

        start_tensorflow(verbose=args.verbose)
        from electra_tf.checkpoints.hf import read_tokenizer_files
        from electra_tf.checkpoints.registry import default_model_type
        from electra_tf.errors import ConfigError
        from electra_tf.modeling.models import MODEL_CLASSES
        from electra_tf.text.tokenizer import build_tokenizer

        from electra_tf.errors import DataError

        if not os.path.exists(args.input):
            raise DataError(f"Input file not found: {args.input}")
        if not os.path.exists(args.model):
            raise ConfigError(f"Model directory not found: {args.model}")
        model_type = default_model_type(args.model)
        handlers = {"sequence-classification": predict_classification, "token-classification": predict_tagging,
                    "question-answering": predict_qa}
        if model_type not in handlers:
            raise ConfigError(f"{args.model} holds a {model_type} model; prediction needs a fine-tuned classifier, tagger or QA model.")
        model = MODEL_CLASSES[model_type].from_pretrained(args.model)
        if args.max_seq_length > model.config.max_position_embeddings:
            raise ConfigError(f"--max-seq-length {args.max_seq_length} exceeds the model's "
                              f"{model.config.max_position_embeddings} position embeddings; lower it.")
        args.vocab, args.do_lower_case = read_tokenizer_files(args.model)
        if args.vocab is None:
            raise ConfigError(f"{args.model} has no vocab.txt; copy the model's vocabulary there.")
        tokenizer = build_tokenizer(args.vocab, args.do_lower_case)
        count = handlers[model_type](model, build_preprocessor(model_type, model, tokenizer, args), args)
        print(f"Wrote {count} predictions to {args.output}")

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
