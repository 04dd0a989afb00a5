"""Run a fine-tuned model on new raw text and write predictions with scores.

    python predict.py --model MODEL_DIR --input FILE --output FILE

MODEL_DIR is a fine-tuned model directory (``finetuning_models/<tasks>_model_<trial>/model``
written by run_finetuning.py, ``.../model/<task>`` of a multi-task run, the trial folder itself,
or any electra-tf / HuggingFace directory with vocab.txt). Its ``task.json`` gives every setting
training used (sequence length, QA stride and lengths, tagging segment id, scheme and CRF,
lowercasing); flags override it. The input format follows the model:

* sequence classification: one text per line, or ``text_a<TAB>text_b`` pairs; output JSON lines
  ``{"text": ..., "label": ..., "score": ..., "scores": {...}}`` (regression: ``"prediction"``);
* token classification: CoNLL-style tokens (the word in the first column, a blank line between
  sentences) or, with ``--input-format lines``, one sentence per line; output
  ``word<TAB>label<TAB>probability`` lines, tags in the training data's scheme;
* question answering: SQuAD-style JSON; output ``{question id: answer}`` JSON, with the n-best
  list (and null odds for models with the answerable classifier) beside it.

The output's extension picks between the formats a model can write (``output_format``):
``.jsonl`` / ``.ndjson`` one JSON record per line, ``.json`` one JSON document (classifiers and
taggers: a list of the records), ``.tsv`` / ``.conll`` the tagger's word-per-line table; any other
extension (``.txt``, none, ``-``) gets the model's own format above, and one that contradicts
what the model writes (``.csv``, ``.tsv`` for a classifier, ``.jsonl`` for QA) is an error.

Where it writes (electra_tf/utils/output_targets.py): never over ``--input``, the model directory's
files or ``--backend-file``; a symlink's target is written; ``/dev/null``, ``/dev/stdout`` or a
FIFO in place; ``-`` is standard output (the summary line then goes to stderr). The QA side files
``<output>_nbest.json`` / ``<output>_null_odds.json`` are written beside a file output only: with
``-``, a device or a FIFO they are not written, and a line on stderr says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

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
        from electra_tf.utils.files import invalid_utf8_message

        raise DataError(invalid_utf8_message(path, e)) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _labels(model):
    """The model's labels by id (its id2label, else the ids as strings)."""
    n = model.config.num_labels
    return [model.config.id2label[i] for i in range(n)] if model.config.id2label else [str(i) for i in range(n)]


TASK_NAME = "predict"  # the prefix of the task-specific feature names


def resolve_model_dir(path: str, task: Optional[str]) -> str:
    """The model directory to load: ``path`` itself, or inside a run's trial folder
    (``finetuning_models/<tasks>_model_<trial>``) its ``model/`` (one task) or ``model/<task>/``."""
    from electra_tf.errors import ConfigError
    from electra_tf.finetuning.model_export import MODEL_SUBDIR
    from electra_tf.model_dir.preprocessing import METADATA_FILE

    if os.path.isdir(os.path.join(path, MODEL_SUBDIR)):
        path = os.path.join(path, MODEL_SUBDIR)
    if os.path.isfile(os.path.join(path, METADATA_FILE)) or not os.path.isdir(path):
        return path
    tasks = sorted(d for d in os.listdir(path) if os.path.isfile(os.path.join(path, d, METADATA_FILE)))
    if not tasks:
        return path
    if task is None and len(tasks) == 1:
        task = tasks[0]
    if task not in tasks:
        raise ConfigError(f"{path} holds the models of tasks {', '.join(tasks)}; choose one with --task "
                          f"(or pass {os.path.join(path, tasks[0])}).")
    return os.path.join(path, task)


QA_FLAGS = ("max_query_length", "doc_stride", "n_best_size", "max_answer_length", "qa_na_threshold")


def fallback_settings() -> dict:
    """Settings for a model directory without task.json: the hparam defaults tasks get
    (TaskOptions), so predict.py and fine-tuning share one set of defaults."""
    import dataclasses

    from electra_tf.finetuning.options import TaskOptions

    return {f.name: f.default for f in dataclasses.fields(TaskOptions) if f.name in QA_FLAGS + ("max_seq_length",)}


def settings_from(meta, model, args):
    """The run's metadata (or, for a directory without task.json, one built from the model's
    config and defaults), with the command line's explicit flags applied on top."""
    from electra_tf.model_dir.preprocessing import MODEL_TYPE_FAMILY, TaskMetadata

    if meta is None:
        family = MODEL_TYPE_FAMILY[model.model_type]
        defaults = fallback_settings()
        settings = {"classification": {"problem": "regression" if model.config.num_labels == 1 else "single_label"},
                    "tagging": {"segment_id": 1},
                    "qa": {**{k: defaults[k] for k in QA_FLAGS}, "head": model.config.head,
                           "head_options": dict(model.config.head_options),
                           "v2": model.config.head == "electra" and model.config.head_options.get("answerable_classifier", True)},
                    }[family]
        meta = TaskMetadata(task_name=TASK_NAME, family=family, model_type=model.model_type,
                            max_seq_length=defaults["max_seq_length"],
                            labels=None if settings.get("problem") == "regression" else _labels(model),
                            tokenizer={"file": "vocab.txt", "do_lower_case": args.lower_case_default}, settings=settings)
    if args.max_seq_length is not None:
        meta.max_seq_length = args.max_seq_length
    for flag in QA_FLAGS:
        value = getattr(args, flag)
        if value is not None and meta.family == "qa":
            meta.settings[flag] = value
    return meta


def predict_classification(backend, meta, preprocessor, args):
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.classification.scorers import multi_label_decisions
    from electra_tf.finetuning.task import Example

    lines = _read_lines(args.input)
    if not any(line.strip() for line in lines):
        raise DataError(f"{args.input}: no text to classify.")
    problem = preprocessor.problem
    labels = list(meta.labels or [])
    dummy = 0.0 if problem == "regression" else ([] if problem == "multi_label" else labels[0])
    scale = float(meta.settings.get("regression_scale", 1.0))
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
        logits = backend.run(*arrays)["logits"]
        for (n, (a, b)), row in zip(batch, logits):
            record = {"line": n, "text": a} if b is None else {"line": n, "text": a, "text_b": b}
            if problem == "regression":
                # in the data's units (STS labels were divided by 5 for training, as the original)
                record["prediction"] = float(row[0]) * scale
            elif problem == "multi_label":
                probs = 1.0 / (1.0 + np.exp(-row.astype(np.float64)))
                record.update(labels=[labels[i] for i, chosen in enumerate(multi_label_decisions(row)) if chosen],
                              scores={labels[i]: float(p) for i, p in enumerate(probs)})
            else:
                probs = _softmax(row.astype(np.float64))
                best = int(np.argmax(row))
                record.update(label=labels[best], score=float(probs[best]),
                              scores={labels[i]: float(p) for i, p in enumerate(probs)})
            records[n] = record
    out = [records[n] for n in range(1, len(lines) + 1)]
    args.target.write_text(_json_records(out, args.format))
    return len(out)


def read_tagging_input(path: str, input_format: str):
    """Sentences (lists of words) of a tagging input.

    ``conll``: one word per line (the first whitespace-separated column; the rest, e.g. gold
    tags, is ignored), a blank line between sentences, ``-DOCSTART-`` lines skipped.
    ``lines``: one sentence per line, words separated by whitespace. ``auto``: CoNLL when the
    file separates sentences by blank lines or has one word per line; a file with several words
    on a line and no blank lines is ambiguous and refused (it used to keep the first word)."""
    from electra_tf.errors import DataError

    lines = _read_lines(path)
    if input_format == "auto":
        content = [i for i, line in enumerate(lines) if line.strip()]
        separated = content and any(not lines[i].strip() for i in range(content[0], content[-1])) or \
            any(line.startswith("-DOCSTART-") for line in lines)
        if not separated and any(len(lines[i].split()) > 1 for i in content):
            raise DataError(f"{path}: lines hold several words and no blank line separates sentences; pass "
                            f"--input-format lines (one sentence per line) or --input-format conll (one word per "
                            f"line, the word in the first column).")
        input_format = "conll"
    if input_format == "lines":
        return [line.split() for line in lines if line.strip()]
    sentences, current = [], []
    for line in lines + [""]:
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
        elif not line.startswith("-DOCSTART-"):
            current.append(line.split()[0])
    return sentences


def predict_tagging(backend, meta, preprocessor, args, crf=None):
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.tagging.schemes import output_tags
    from electra_tf.finetuning.tagging.scorer import TaggingScorer
    from electra_tf.finetuning.task import Example

    sentences = read_tagging_input(args.input, args.input_format)
    if not sentences:
        raise DataError(f"{args.input}: no words to tag.")
    examples = [Example(eid=i, task_name=TASK_NAME, fields={"words": words, "labels": [0] * len(words)})
                for i, words in enumerate(sentences)]
    features = preprocessor.featurize(examples, is_training=False)
    # As the run's own evaluation: argmax per word, or the CRF's Viterbi path when it has one.
    scorer = TaggingScorer(TASK_NAME, preprocessor.label_list, crf=crf)
    probabilities = {}
    n = TASK_NAME
    for batch in _batches(features, args.batch_size):
        arrays = {k: np.array([f[k] for f in batch]) for k in batch[0]}
        logits = backend.run(arrays["input_ids"].astype("int32"), arrays["input_mask"].astype("int32"),
                             arrays["segment_ids"].astype("int32"),
                             labeled_positions=arrays[f"{n}_labeled_positions"].astype("int32"))["logits"]
        for feature, row in zip(batch, logits):
            scorer.update(row, feature, 0.0)
            probs = _softmax(row.astype(np.float64))
            eid, offset = feature[f"{n}_eid"], feature[f"{n}_word_offset"]
            for j, keep in enumerate(feature[f"{n}_score_mask"]):
                if keep:
                    probabilities[(eid, offset + j)] = float(probs[j].max())
    eids, _, preds = scorer.sentences()
    s = meta.settings
    lines, records = [], []
    for eid, pred in zip(eids, preds):
        pred = output_tags(pred, s)  # the one decoder serve_words shares (serving_decode.scheme_tags)
        words = sentences[eid]
        for i, (word, tag) in enumerate(zip(words, pred)):
            lines.append(f"{word}\t{tag}\t{probabilities[(eid, i)]:.4f}")
        lines.append("")
        records.append({"sentence": eid + 1, "words": list(words), "labels": list(pred[:len(words)]),
                        "probabilities": [round(probabilities[(eid, i)], 4) for i in range(min(len(words), len(pred)))]})
    text = "\n".join(lines) + "\n" if args.format == "tsv" else _json_records(records, args.format)
    args.target.write_text(text)
    return len(sentences)


def predict_qa(backend, meta, preprocessor, args):
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.qa.decoding import QADecoder
    from electra_tf.finetuning.qa.reader import QAReader

    s = meta.settings
    v2 = bool(s.get("v2", False))
    examples = QAReader(TASK_NAME, "squad", v2).read(args.input, is_training=False, what=args.input)
    features = preprocessor.featurize(examples, is_training=False, for_eval=True)
    results = {}
    for batch in _batches(features, args.batch_size):
        ids, mask, types = (np.array([f[k] for f in batch], "int32") for k in ("input_ids", "input_mask", "segment_ids"))
        outputs = backend.run(ids, mask, types)
        for i, f in enumerate(batch):
            results[f[f"{TASK_NAME}_eid"]] = {k: v[i] for k, v in outputs.items()}
    decoder = QADecoder.for_head(TASK_NAME, s.get("head", "electra"), s.get("head_options", {}),
                                 n_best_size=s.get("n_best_size", 20), max_answer_length=s.get("max_answer_length", 30),
                                 v2=v2, answer_mode=s.get("answer_mode", "offset"), do_lower_case=meta.do_lower_case)
    decoded = decoder.decode(examples, features, results)
    if not decoded.predictions:
        raise DataError(f"{args.input}: no questions found.")
    answers = dict(decoded.predictions)
    if v2:
        threshold = s.get("qa_na_threshold", fallback_settings()["qa_na_threshold"])
        answers = {q: ("" if decoded.null_odds[q] > threshold else a) for q, a in answers.items()}
    sides = args.side_targets
    if v2 and sides:
        sides["_null_odds.json"].write_text(_json_document(decoded.null_odds))
    args.target.write_text(_json_document(answers))
    if sides:
        sides["_nbest.json"].write_text(_json_document(decoded.nbest))
    else:
        print(f"N-best lists{' and null odds' if v2 else ''} not written: --output {args.output} is not a file "
              f"(give a file path to get them beside it).", file=sys.stderr)
    return len(answers)


#: Output formats by extension; any other extension (or none) gets the model's own format.
EXTENSION_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".tsv": "tsv", ".conll": "tsv",
                     ".csv": "csv"}
#: Per family: (its own format, the formats it can write, what it writes in words).
FAMILY_FORMATS = {"classification": ("jsonl", ("jsonl", "json"), "JSON records"),
                  "tagging": ("tsv", ("tsv", "jsonl", "json"), "a word<TAB>label<TAB>probability table or JSON records"),
                  "qa": ("json", ("json",), "one JSON object {question id: answer}")}
_SUGGEST = {"classification": ".jsonl (one record per line) or .json (one list)",
            "tagging": ".tsv or .conll (the word-per-line table), .jsonl or .json (records)",
            "qa": ".json"}
QA_SIDE_FILES = ("_nbest.json", "_null_odds.json")


def output_format(path: str, family: str) -> str:
    """The format predict writes to ``path`` for a model of ``family``: the one its extension
    names (see EXTENSION_FORMATS), else the family's own; ConfigError when the extension names a
    format the family does not write."""
    from electra_tf.errors import ConfigError

    own, allowed, described = FAMILY_FORMATS[family]
    ext = os.path.splitext(path)[1].lower() if path != "-" else ""
    fmt = EXTENSION_FORMATS.get(ext)
    if fmt is None:
        return own
    if fmt not in allowed:
        raise ConfigError(f"--output {path}: a {ext} file, but a {family} model writes {described}; name the "
                          f"output {_SUGGEST[family]}.")
    return fmt


def _json_records(records, fmt: str) -> str:
    """``records`` as JSON lines (``jsonl``) or as one JSON list (``json``)."""
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _json_document(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def check_output(args, model_dir: str) -> None:
    """Check where predict may write (electra_tf/utils/output_targets.py) before anything runs: never
    over ``--input``, a file of the model directory or ``--backend-file``. Sets ``args.target``
    and ``args.inputs``."""
    from electra_tf.utils.output_targets import folder_inputs, output_file

    files_dir = model_dir if os.path.isdir(model_dir) else os.path.dirname(os.path.abspath(model_dir))
    args.inputs = [("the --input file", args.input), ("the --model directory", files_dir)] + folder_inputs(
        files_dir, "a file of the --model directory")
    if args.backend_file:
        args.inputs.append(("the --backend-file", args.backend_file))
    args.target = output_file(args.output, args.inputs)


def choose_format(args, family: str) -> None:
    """Set ``args.format`` (``output_format``) and, for QA, ``args.side_targets`` (suffix ->
    checked target; empty when the output is not a file)."""
    from electra_tf.utils.output_targets import side_file

    args.format = output_format(args.output, family)
    args.side_targets = {}
    if family == "qa" and args.target.is_file:
        args.side_targets = {suffix: side_file(args.target, suffix, args.inputs) for suffix in QA_SIDE_FILES}


def build_parser() -> argparse.ArgumentParser:
    """The command line: the model directory's task.json gives every setting; flags override."""
    parser = argparse.ArgumentParser(description="Predict with a fine-tuned ELECTRA model on raw text.")
    parser.add_argument("--model", required=True,
                        help="model directory (finetuning_models/<tasks>_model_<trial>/model, its run folder, or any "
                             "electra-tf / HuggingFace directory with vocab.txt)")
    parser.add_argument("--task", default=None, help="which task's model, for a multi-task run")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True,
                        help="file to write (- for standard output); its extension picks the format: .jsonl, .json, "
                             ".tsv/.conll where the model writes it, else the model's own")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-format", choices=("auto", "conll", "lines"), default="auto",
                        help="taggers: CoNLL (one word per line) or one sentence per line (default: auto)")
    override = "default: the model's task.json (the training value), else %(default)s"
    for name, fallback in fallback_settings().items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(fallback), default=None,
                            help=override.replace("%(default)s", str(fallback)))
    parser.add_argument("--backend", choices=("tf", "onnx", "litert"), default="tf",
                        help="run the model with TensorFlow (default), ONNX Runtime or LiteRT (same preprocessing "
                             "and decoding; export first with python -m electra_tf.export --format onnx|litert)")
    parser.add_argument("--backend-file", default=None,
                        help="the exported .onnx / .tflite file (default: model.onnx / model.tflite in the model directory)")
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    from electra_tf.cli.support import run_command

    def action():
        from electra_tf.errors import ConfigError, DataError

        # Checked before TensorFlow starts (none of this imports it): a mistyped path fails at once.
        if not os.path.exists(args.input):
            raise DataError(f"Input file not found: {args.input}")
        if not (os.path.exists(args.model) or os.path.exists(args.model + ".index")):
            raise ConfigError(f"Model directory not found: {args.model}")
        model_dir = resolve_model_dir(args.model, args.task)
        check_output(args, model_dir)
        from electra_tf.cli.startup import start_tensorflow

        start_tensorflow(verbose=args.verbose)
        from electra_tf.checkpoints.hf import read_tokenizer_files
        from electra_tf.checkpoints.registry import default_model_type
        from electra_tf.model_dir.preprocessing import MODEL_TYPE_FAMILY, build_preprocessor
        from electra_tf.model_dir.metadata import metadata_for
        from electra_tf.modeling.models import MODEL_CLASSES
        from electra_tf.text.tokenizer import build_tokenizer

        meta = metadata_for(model_dir, args.task)  # task.json, or a training checkpoint's run tasks.json
        model_type = meta.model_type if meta else default_model_type(model_dir)
        handlers = {"sequence-classification": predict_classification, "token-classification": predict_tagging,
                    "question-answering": predict_qa}
        if model_type not in handlers:
            raise ConfigError(f"{model_dir} holds a {model_type} model; prediction needs a fine-tuned classifier, "
                              f"tagger or QA model.")
        choose_format(args, MODEL_TYPE_FAMILY[model_type])  # before the model loads: fail fast
        model = MODEL_CLASSES[model_type].from_pretrained(model_dir, task_name=args.task)
        files_dir = model_dir if os.path.isdir(model_dir) else os.path.dirname(model_dir)  # a ckpt-N prefix
        vocab, lower = read_tokenizer_files(files_dir)
        args.lower_case_default = lower
        meta = settings_from(meta, model, args)
        if meta.max_seq_length > model.config.max_position_embeddings:
            raise ConfigError(f"--max-seq-length {meta.max_seq_length} exceeds the model's "
                              f"{model.config.max_position_embeddings} position embeddings; lower it.")
        vocab = meta.tokenizer_path(files_dir) or vocab
        if vocab is None:
            raise ConfigError(f"{model_dir} has no vocab.txt; copy the model's vocabulary there.")
        tokenizer = build_tokenizer(vocab, meta.do_lower_case, space_token=meta.tokenizer.get("space_token"),
                                    strip_accents=meta.tokenizer.get("strip_accents"),
                                    tokenize_chinese_chars=bool(meta.tokenizer.get("tokenize_chinese_chars", True)))
        preprocessor = build_preprocessor(meta, tokenizer, TASK_NAME)
        from electra_tf.export.backends import TFBackend, load_backend

        backend = TFBackend(model) if args.backend == "tf" else load_backend(args.backend, args.backend_file or model_dir)
        if model_type == "token-classification":
            count = predict_tagging(backend, meta, preprocessor, args, crf=model.crf_params())
        else:
            count = handlers[model_type](backend, meta, preprocessor, args)
        print(f"Wrote {count} predictions to {args.output}", file=args.target.console)

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
