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

The TF backend computes under the policy the run trained and evaluated with (``--precision
trained``: task.json's ``trained.mixed_precision``, float32 where absent), in one tf.function as
the run's evaluation, so a bf16-trained run predicts exactly its own test outputs;
``--precision float32|mixed_bfloat16|auto`` overrides it.

Where it writes (electra_tf/utils/output_targets.py): never over ``--input``, the model directory's
files or ``--backend-file``; a symlink's target is written; ``/dev/null``, ``/dev/stdout`` or a
FIFO in place; ``-`` is standard output (the summary line then goes to stderr). The QA side files
``<output>_nbest.json`` / ``<output>_null_odds.json`` are written beside a file output only: with
``-``, a device or a FIFO they are not written, and a line on stderr says so.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from electra_tf.cli.process_exit import as_command  # noqa: E402
from electra_tf.finetuning.prediction import TASK_NAME  # noqa: E402  (imports neither TensorFlow nor NumPy)
from electra_tf.model_dir.layout import resolve_model_dir  # noqa: E402,F401  (kept importable from here)


def fallback_settings() -> dict:
    """The defaults of predict's setting flags, for a model directory without task.json: the
    hparam defaults tasks get (TaskOptions: max_seq_length, the QA settings)."""
    import dataclasses

    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.finetuning.qa.settings import QA_FLAGS

    return {f.name: f.default for f in dataclasses.fields(TaskOptions) if f.name in QA_FLAGS + ("max_seq_length",)}


def apply_flags(meta, args):
    """The metadata with the command line's explicit setting flags applied on top."""
    from electra_tf.finetuning.qa.settings import QA_FLAGS

    if args.max_seq_length is not None:
        meta.max_seq_length = args.max_seq_length
    for flag in QA_FLAGS:
        value = getattr(args, flag)
        if value is not None and meta.family == "qa":
            meta.settings[flag] = value
    return meta


#: Output formats by extension; any other extension (or none) gets the model's own format.
EXTENSION_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".tsv": "tsv", ".conll": "tsv",
                     ".csv": "csv"}


def output_format(path: str, family: str) -> str:
    """The format predict writes to ``path`` for a model of ``family``: the one its extension
    names (see EXTENSION_FORMATS), else the family's own; ConfigError when the extension names a
    format the family does not write."""
    from electra_tf.errors import ConfigError
    from electra_tf.finetuning.prediction import predictor

    own, allowed, described, suggest = predictor(family).OUTPUT_FORMATS
    ext = os.path.splitext(path)[1].lower() if path != "-" else ""
    fmt = EXTENSION_FORMATS.get(ext)
    if fmt is None:
        return own
    if fmt not in allowed:
        raise ConfigError(f"--output {path}: a {ext} file, but a {family} model writes {described}; name the "
                          f"output {suggest}.")
    return fmt


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
    from electra_tf.finetuning.prediction import predictor
    from electra_tf.utils.output_targets import side_file

    args.format = output_format(args.output, family)
    args.side_targets = {}
    sides = getattr(predictor(family), "SIDE_FILES", ())
    if sides and args.target.is_file:
        args.side_targets = {suffix: side_file(args.target, suffix, args.inputs) for suffix in sides}


#: --precision values: the model directory's own policy, or one named (auto: resolved for this host)
PRECISIONS = ("trained", "float32", "mixed_bfloat16", "auto")


def choose_precision(requested: str, meta, backend: str):
    """(the Keras dtype policy predict computes with, why): for ``trained`` the one ``meta``
    records (``trained.mixed_precision`` of task.json; float32 for a directory without it, which
    its run evaluated in), else ``requested`` with ``auto`` resolved for this host. Only the TF
    backend computes under it: an exported ONNX / LiteRT file computes in the precision it was
    exported with, and asking it for another is a ConfigError."""
    from electra_tf.errors import ConfigError
    from electra_tf.training.precision import resolve_precision

    if backend != "tf":
        if requested not in ("trained", "float32"):
            raise ConfigError(f"--precision {requested} applies to the tf backend only; the {backend} file computes in "
                              f"the precision it was exported with. Drop --precision or use --backend tf.")
        return "float32", f"the exported {backend} file's own precision"
    if requested == "trained":
        if meta is None or not meta.trained.get("mixed_precision"):
            return "float32", "the model directory records no trained.mixed_precision: float32, what such runs evaluated in"
        return resolve_precision(meta.trained_precision)[0], "the run's own: trained.mixed_precision of task.json"
    policy, why = resolve_precision(requested)
    return policy, f"--precision {requested}" + (f": {why}" if requested == "auto" else "")


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
    parser.add_argument("--precision", choices=PRECISIONS, default="trained",
                        help="compute policy of the TF backend: trained (default: the one the run trained and "
                             "evaluated with, task.json's trained.mixed_precision; float32 for directories that do "
                             "not record it), so that predictions are exactly the run's own; or float32, "
                             "mixed_bfloat16, auto (bfloat16 where the CPU/GPU computes it natively)")
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
        from electra_tf.model_dir.loader import open_model_directory
        from electra_tf.model_dir.preprocessing import build_preprocessor

        # task.json, or a training checkpoint's run tasks.json; the class from it or the checkpoint
        directory = open_model_directory(model_dir, args.task, resolve=False)  # resolved above
        family = directory.family
        if family is None:
            raise ConfigError(f"{model_dir} holds a {directory.model_type} model; prediction needs a fine-tuned "
                              f"classifier, tagger or QA model.")
        choose_format(args, family)  # before the model loads: fail fast
        # The model is built under the policy its run evaluated with (--precision trained): a
        # bf16-trained run predicts exactly its own bf16 outputs, an older directory in float32.
        policy, why = choose_precision(args.precision, directory.metadata, args.backend)
        from electra_tf.training.precision import compute_policy

        with compute_policy(policy):
            model = directory.load_model()
        meta = apply_flags(directory.task_metadata(model), args)
        if policy != "float32" or args.precision != "trained":  # an older run's float32 by default: one summary line only
            print(f"predict: computing in {policy} ({why})", file=sys.stderr)
        if meta.max_seq_length > model.config.max_position_embeddings:
            raise ConfigError(f"--max-seq-length {meta.max_seq_length} exceeds the model's "
                              f"{model.config.max_position_embeddings} position embeddings; lower it.")
        preprocessor = build_preprocessor(meta, directory.tokenizer(meta), TASK_NAME)
        from electra_tf.export.backends import load_backend
        from electra_tf.finetuning.prediction import GraphBackend, predictor

        backend = GraphBackend(model) if args.backend == "tf" else load_backend(args.backend, args.backend_file or model_dir)
        count = predictor(family).predict(backend, meta, preprocessor, args, model)
        print(f"Wrote {count} predictions to {args.output}", file=args.target.console)

    return run_command(action)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
