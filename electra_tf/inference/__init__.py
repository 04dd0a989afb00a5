"""Inference backends: one ``run`` interface over a Keras model, an ONNX Runtime session and a
LiteRT interpreter (``backends.py``), so predict.py runs the same preprocessing and decoding on each."""
