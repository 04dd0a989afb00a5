"""Command line: export a model directory as a TensorFlow SavedModel, an ONNX file or a LiteRT file.

    python -m electra_tf.export --model DIR --output OUT [--format saved_model|onnx|litert]
        [--quantize int8] [--id-dtype int32|int64] [--length N] [--max-seq-length N]

* ``saved_model`` (the default, as before): electra_tf/export/saved_model.py's signatures; OUT is a folder.
* ``onnx`` (``pip install electra-tf[onnx]``): electra_tf/export/onnx.py; OUT is a ``.onnx`` file
  (or a folder, which gets ``model.onnx``); ``--quantize int8`` applies onnxruntime's dynamic
  quantization.
* ``litert``: electra_tf/export/litert.py; OUT is a ``.tflite`` file (or a folder, which gets
  ``model.tflite``); ``--length N`` fixes the sequence length (dynamic by default); ``--quantize
  int8`` stores dynamic-range int8 weights. Running it needs ``pip install electra-tf[litert]``.

Taggers' ONNX/LiteRT graphs take ``labeled_positions`` (``--no-labeled-positions``: per-token logits).
TensorFlow is imported only after the arguments are parsed, so --help answers at once.

Where it writes (electra_tf/utils/output_targets.py): the output is never the model directory or one
of its files, nor a folder holding it. A SavedModel replaces its folder as a whole, so an existing
folder is written only when it is empty or holds a SavedModel and nothing else (an earlier
export); any other folder needs ``--overwrite``, and a model directory (``config.json``,
``task.json``, weights, ``vocab.txt``) is never replaced. An ONNX / LiteRT file follows the
file rules: a symlink's target is written, ``/dev/null`` or a FIFO in place, ``-`` is stdout.
"""

from __future__ import annotations

import argparse
import os

from electra_tf.cli.process_exit import as_command
from electra_tf.export.formats import DEFAULT_FILES, FORMATS
from electra_tf.model_dir.layout import METADATA_FILE, RUN_TASKS_FILE


#: What a SavedModel folder holds (tf.saved_model.save); a folder with only these is an export's.
_SAVED_MODEL_ENTRIES = ("saved_model.pb", "saved_model.pbtxt", "fingerprint.pb", "variables", "assets", "assets.extra")
#: Files that make a folder a model directory, which an export never replaces.
_MODEL_FILES = ("config.json", METADATA_FILE, RUN_TASKS_FILE, "vocab.txt", "*.weights.h5", "model.safetensors",
                "tf_model.h5", "pytorch_model.bin", "*.index", "checkpoint", "discriminator.json")


def _output_file(fmt: str, output: str) -> str:
    """OUT itself, or the format's default file name inside OUT when OUT is a folder."""
    if output != "-" and (os.path.isdir(output) or output.endswith(os.sep)):
        return os.path.join(output, DEFAULT_FILES[fmt])
    return output


def _holds_only_a_saved_model(folder: str) -> bool:
    """Whether ``folder`` is an earlier export: a SavedModel and nothing else."""
    entries = os.listdir(folder)
    return "saved_model.pb" in entries and set(entries) <= set(_SAVED_MODEL_ENTRIES)


def _model_directory(folder: str):
    """Why ``folder`` must not be replaced (it holds a model), or None."""
    from electra_tf.utils.output_targets import names_in

    found = names_in(folder, _MODEL_FILES)
    return f"is a model directory ({', '.join(found[:3])})" if found else None


def model_inputs(model: str):
    """What the export reads: the model path and the files of its folder (``(label, path)``
    pairs for electra_tf.utils.output_targets), except the exports' own ``.onnx`` / ``.tflite``, which
    a rerun replaces."""
    from electra_tf.utils.output_targets import folder_inputs

    if os.path.isdir(model):
        folder = model
    elif os.path.isfile(model) or os.path.exists(model + ".index"):  # a weights file, a checkpoint prefix
        folder = os.path.dirname(os.path.abspath(model))
    else:
        return [("--model", model)]  # missing: loading it says so
    return [("the --model directory", folder), ("--model", model)] + folder_inputs(
        folder, "a file of the --model directory", skip=lambda name: name.endswith((".onnx", ".tflite")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Export an ELECTRA model directory as a SavedModel, ONNX or LiteRT.")
    parser.add_argument("--model", required=True,
                        help="model directory (a run's model/, its trial folder, or an electra-tf / HF / TF1 checkpoint)")
    parser.add_argument("--task", default=None, help="which task's model, for a multi-task run")
    parser.add_argument("--output", required=True, help="SavedModel folder, or the .onnx / .tflite file to write")
    parser.add_argument("--format", choices=FORMATS, default="saved_model")
    parser.add_argument("--quantize", choices=("int8",), default=None, help="onnx/litert: int8 weights")
    parser.add_argument("--id-dtype", choices=("int32", "int64"), default="int32",
                        help="onnx/litert: dtype of the token-id inputs")
    parser.add_argument("--length", type=int, default=None, help="litert: fixed sequence length (default dynamic)")
    parser.add_argument("--no-labeled-positions", action="store_true",
                        help="onnx/litert taggers: per-token logits, no labeled_positions input")
    parser.add_argument("--model-type", default=None, help="model class (default: the directory's own)")
    parser.add_argument("--max-seq-length", type=int, default=None,
                        help="saved_model: raw-text signature length (default: the model's task.json, else 128)")
    parser.add_argument("--overwrite", action="store_true",
                        help="saved_model: replace an existing folder that holds other files (never a model directory)")
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    args = parser.parse_args(argv)
    from electra_tf.cli.support import run_command

    def action():
        from electra_tf.errors import ConfigError

        if args.quantize and args.format == "saved_model":
            raise ConfigError("--quantize applies to --format onnx or litert.")
        if args.length is not None and args.format != "litert":
            raise ConfigError("--length applies to --format litert (ONNX graphs take any length).")
        from electra_tf.model_dir.layout import resolve_model_dir
        from electra_tf.utils.output_targets import output_directory, output_file

        args.model = resolve_model_dir(args.model, args.task)  # a run's trial folder -> its model/ (or model/<task>)
        inputs = model_inputs(args.model)
        if args.format == "saved_model":
            target = output_directory(args.output, inputs, overwrite=args.overwrite, owned=_holds_only_a_saved_model,
                                      protected=_model_directory, what="a SavedModel")
        else:
            target = output_file(_output_file(args.format, args.output), inputs)
        # TensorFlow first (quietly): tf2onnx imports it, which would print its start-up notices.
        from electra_tf.cli.startup import start_tensorflow

        start_tensorflow(verbose=args.verbose)
        if args.format == "onnx":  # before loading the model: name a missing extra at once
            from electra_tf.export.extras import require

            require("tf2onnx")
            require("onnxruntime" if args.quantize else "onnx")
        from electra_tf.model_dir.loader import open_model_directory

        # args.model is resolved already (the output checks needed it): no second resolution
        directory = open_model_directory(args.model, args.task, args.model_type, resolve=False)
        model = directory.load_model()
        positions = False if args.no_labeled_positions else None
        if args.format == "saved_model":
            from electra_tf.export.saved_model import export_saved_model

            vocab, lower = directory.tokenizer_files()
            export_saved_model(model, target, vocab, None if directory.metadata else lower, args.max_seq_length)
            print(f"SavedModel written to {args.output}")
        elif args.format == "onnx":
            from electra_tf.export.onnx import export_onnx

            export_onnx(model, target, args.id_dtype, positions, args.quantize)
            print(f"ONNX model written to {target.given}", file=target.console)
        else:
            from electra_tf.export.litert import export_litert

            export_litert(model, target, args.id_dtype, args.length, positions, args.quantize)
            print(f"LiteRT model written to {target.given}", file=target.console)

    return run_command(action)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
