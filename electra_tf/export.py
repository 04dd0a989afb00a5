"""Command line: export a model directory as a TensorFlow SavedModel (see electra_tf/serving.py).

    python -m electra_tf.export --model DIR --output DIR [--max-seq-length 128]

TensorFlow is imported only after the arguments are parsed, so --help answers at once.
"""

from __future__ import annotations

import argparse
import sys



def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Export an ELECTRA model directory as a SavedModel.")
    parser.add_argument("--model", required=True, help="electra-tf, HuggingFace or TF1 model directory")
    parser.add_argument("--output", required=True, help="SavedModel directory to write")
    parser.add_argument("--model-type", default=None, help="model class (default: the directory's own)")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    args = parser.parse_args(argv)
    from electra_tf.cli_support import run_command

    def action():
        from electra_tf.startup import start_tensorflow

        start_tensorflow(verbose=args.verbose)
        from electra_tf.checkpoints.hf import read_tokenizer_files
        from electra_tf.checkpoints.registry import default_model_type
        from electra_tf.modeling.models import MODEL_CLASSES
        from electra_tf.serving import export_saved_model

        model_type = args.model_type or default_model_type(args.model)
        model = MODEL_CLASSES[model_type].from_pretrained(args.model)
        vocab, lower = read_tokenizer_files(args.model)
        export_saved_model(model, args.output, vocab, lower, args.max_seq_length)
        print(f"SavedModel written to {args.output}")

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
