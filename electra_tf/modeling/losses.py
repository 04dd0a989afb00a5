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
