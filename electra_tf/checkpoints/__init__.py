"""Reading and writing checkpoints: one class per format (HuggingFace, original TF1, our Keras
format, the fine-tuning training checkpoint) in one registry (``registry.py``).

Import what you need from the submodules (``electra_tf.checkpoints.registry``, ``.state``, ...);
this package's own import loads nothing, so reading one format does not import the others."""
