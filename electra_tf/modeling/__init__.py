"""ELECTRA models as Keras 3 layers: encoder, heads and task models."""
