"""Loss functions shared by the heads and the fine-tuning tasks."""

from __future__ import annotations

from keras import ops


def per_example_cross_entropy(logits, labels):
    """Softmax cross-entropy of integer ``labels`` under ``logits`` [..., C], per position.

    Written as the original (``-sum(one_hot * log_softmax)``), so the numbers are the same as
    the original's losses to the last bit on the same backend.
    """
    num_classes = ops.shape(logits)[-1]
    one_hot = ops.one_hot(ops.cast(labels, "int32"), num_classes)
    return -ops.sum(one_hot * ops.log_softmax(logits, axis=-1), axis=-1)


def sigmoid_cross_entropy(logits, labels):
    """Element-wise sigmoid cross-entropy of 0/1 ``labels`` under ``logits`` (the original's
    ``tf.nn.sigmoid_cross_entropy_with_logits``), in its numerically stable form
    ``max(x, 0) - x * z + log(1 + exp(-|x|))``."""
    labels = ops.cast(labels, "float32")
    return ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def span_cross_entropy(start_logits, end_logits, start_positions, end_positions):
    """The original QA span loss per example: the mean of the start and end position
    cross-entropies."""
    return (per_example_cross_entropy(start_logits, start_positions)
            + per_example_cross_entropy(end_logits, end_positions)) / 2.0
