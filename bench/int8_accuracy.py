"""Accuracy of a fine-tuned sentence classifier on a dev file: Keras fp32 vs ONNX fp32 vs ONNX int8
(onnxruntime dynamic quantization) vs LiteRT (and LiteRT with int8 weights).

    python bench/int8_accuracy.py --model RUN/model --dev DATA/finetuning_data/sst/dev.tsv [--max-seq-length 128]

The dev file is the GLUE/SST layout: a header line, then ``sentence<TAB>label``. Featurization is
the fine-tuning preprocessor's (the same as predict.py's). Prints one markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dev", required=True)
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    import numpy as np

    from electra_tf.checkpoints.hf import read_tokenizer_files
    from electra_tf.export.litert import export_litert
    from electra_tf.export.onnx import export_onnx, quantize_int8
    from electra_tf.finetuning.features import encode_pair
    from electra_tf.export.backends import LiteRTBackend, OnnxBackend, TFBackend
    from electra_tf.modeling.models import TFElectraForSequenceClassification
    from electra_tf.text.tokenizer import build_tokenizer

    model = TFElectraForSequenceClassification.from_pretrained(args.model)
    vocab, lower = read_tokenizer_files(args.model)
    tok = build_tokenizer(vocab, lower)
    label_ids = {v: k for k, v in model.config.id2label.items()} if model.config.id2label else {}
    with open(args.dev, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f.read().splitlines()[1:] if line.strip()]
    encoded = [encode_pair(tok, tok.tokenize(text), None, args.max_seq_length)[:3] for text, _ in rows]
    arrays = [np.array([e[k] for e in encoded], "int32") for k in range(3)]
    gold = np.array([label_ids.get(label, int(label) if label.isdigit() else -1) for _, label in rows])
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = export_onnx(model, os.path.join(tmp, "m.onnx"))
        backends = {"Keras fp32 (tf)": TFBackend(model), "ONNX Runtime fp32": OnnxBackend(onnx_file),
                    "ONNX Runtime int8": OnnxBackend(quantize_int8(onnx_file, os.path.join(tmp, "m.int8.onnx"))),
                    "LiteRT fp32": LiteRTBackend(export_litert(model, os.path.join(tmp, "m.tflite"))),
                    "LiteRT int8 weights": LiteRTBackend(export_litert(model, os.path.join(tmp, "m8.tflite"), quantize="int8"))}
        reference = None
        print(f"{args.model} on {args.dev} ({len(rows)} examples)\n")
        print("| backend | accuracy | predictions equal to Keras fp32 |")
        print("|---|---:|---:|")
        for name, backend in backends.items():
            preds = np.concatenate([backend.run(*(a[i:i + 32] for a in arrays))["logits"].argmax(-1)
                                    for i in range(0, len(rows), 32)])
            reference = preds if reference is None else reference
            print(f"| {name} | {100 * (preds == gold).mean():.2f}% | {100 * (preds == reference).mean():.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
