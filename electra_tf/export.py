"""Command line: export a model directory as a TensorFlow SavedModel (see electra_tf/serving.py).

    python -m electra_tf.export --model DIR --output DIR [--max-seq-length 128]

TensorFlow is imported only after the arguments are parsed, so --help answers at once.
"""

from __future__ import annotations

import argparse
import sys

from electra_tf.errors import ElectraError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Export an ELECTRA model directory as a SavedModel.")
    parser.add_argument("--model", required=True, help="electra-tf, HuggingFace or TF1 model directory")
    parser.add_argument("--output", required=True, help="SavedModel directory to write")
    parser.add_argument("--model-type", default=None, help="model class (default: the directory's own)")
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args(argv)
    from electra_tf.startup import start_tensorflow

    start_tensorflow()
    from electra_tf.checkpoints.hf import read_tokenizer_files
    from electra_tf.serving import export_saved_model
    from electra_tf.checkpoints.loading import default_model_type
    from electra_tf.modeling.models import MODEL_CLASSES

    try:
        model_type = args.model_type or default_model_type(args.model)
        model = MODEL_CLASSES[model_type].from_pretrained(args.model)
        vocab, lower = read_tokenizer_files(args.model)
        export_saved_model(model, args.output, vocab, lower, args.max_seq_length)
    except ElectraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"SavedModel written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
