"""Command line: export a model directory as a TensorFlow SavedModel, an ONNX file or a LiteRT file.

    python -m electra_tf.export --model DIR --output OUT [--format saved_model|onnx|litert]
        [--quantize int8] [--id-dtype int32|int64] [--length N] [--max-seq-length N]

* ``saved_model`` (the default, as before): electra_tf/serving.py's signatures; OUT is a folder.
* ``onnx`` (``pip install electra-tf[onnx]``): electra_tf/exporters/onnx.py; OUT is a ``.onnx`` file
  (or a folder, which gets ``model.onnx``); ``--quantize int8`` applies onnxruntime's dynamic
  quantization.
* ``litert``: electra_tf/exporters/litert.py; OUT is a ``.tflite`` file (or a folder, which gets
  ``model.tflite``); ``--length N`` fixes the sequence length (dynamic by default); ``--quantize
  int8`` stores dynamic-range int8 weights. Running it needs ``pip install electra-tf[litert]``.

Taggers' ONNX/LiteRT graphs take ``labeled_positions`` (``--no-labeled-positions``: per-token logits).
TensorFlow is imported only after the arguments are parsed, so --help answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys

FORMATS = ("saved_model", "onnx", "litert")
_FILES = {"onnx": "model.onnx", "litert": "model.tflite"}  # = inference.backends.DEFAULT_FILES


def _output_file(fmt: str, output: str) -> str:
    """OUT itself, or the format's default file name inside OUT when OUT is a folder."""
    if os.path.isdir(output) or output.endswith(os.sep):
        return os.path.join(output, _FILES[fmt])
    return output


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
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    args = parser.parse_args(argv)
    from electra_tf.cli_support import run_command

    def action():
        from electra_tf.errors import ConfigError

        if args.quantize and args.format == "saved_model":
            raise ConfigError("--quantize applies to --format onnx or litert.")
        if args.length is not None and args.format != "litert":
            raise ConfigError("--length applies to --format litert (ONNX graphs take any length).")
        if args.format == "onnx":  # before loading the model: name a missing extra at once
            from electra_tf.extras import require

            require("tf2onnx")
            require("onnxruntime" if args.quantize else "onnx")
        from electra_tf.startup import start_tensorflow

        start_tensorflow(verbose=args.verbose)
        from electra_tf.checkpoints.hf import read_tokenizer_files
        from electra_tf.checkpoints.registry import default_model_type
        from electra_tf.modeling.models import MODEL_CLASSES

        from electra_tf.cli.predict import resolve_model_dir
        from electra_tf.model_metadata import metadata_for

        args.model = resolve_model_dir(args.model, args.task)  # a run's trial folder -> its model/ (or model/<task>)
        meta = metadata_for(args.model, args.task)
        model_type = args.model_type or (meta.model_type if meta else default_model_type(args.model))
        model = MODEL_CLASSES[model_type].from_pretrained(args.model, task_name=args.task)
        positions = False if args.no_labeled_positions else None
        if args.format == "saved_model":
            from electra_tf.serving import export_saved_model

            vocab, lower = read_tokenizer_files(args.model if os.path.isdir(args.model) else os.path.dirname(args.model))
            export_saved_model(model, args.output, vocab, None if meta else lower, args.max_seq_length)
            print(f"SavedModel written to {args.output}")
        elif args.format == "onnx":
            from electra_tf.exporters.onnx import export_onnx

            path = export_onnx(model, _output_file("onnx", args.output), args.id_dtype, positions, args.quantize)
            print(f"ONNX model written to {path}")
        else:
            from electra_tf.exporters.litert import export_litert

            path = export_litert(model, _output_file("litert", args.output), args.id_dtype, args.length, positions,
                                 args.quantize)
            print(f"LiteRT model written to {path}")

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
