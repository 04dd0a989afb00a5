"""The original pre-training evaluation metrics (``run_pretraining.py:111-161``), streamed in NumPy.

Names and definitions are the original's TF1 streaming metrics, accumulated over all evaluated
batches:

* ``masked_lm_accuracy`` / ``sampled_masked_lm_accuracy``: argmax / sampled token vs the target,
  weighted by ``masked_lm_weights`` (a duplicated position counts once per slot);
* ``masked_lm_loss``: per-slot NLL weighted by ``masked_lm_weights``;
* ``disc_loss``: unweighted mean over sequences of each sequence's token-mean loss;
* ``disc_auc``: ``tf.metrics.auc`` defaults (ROC, 200 thresholds, trapezoidal rule) on
  labels·mask and probs·mask with NO weights: padding enters as negatives with probability 0,
  as the original (it inflates the AUC a little on short sequences);
* ``disc_accuracy`` (weights: input_mask), ``disc_precision`` (weights: preds·mask),
  ``disc_recall`` (weights: labels·mask);
* ``loss``: mean total loss per batch (the Estimator's).
"""

from __future__ import annotations

from typing import Dict

import numpy as np

AUC_THRESHOLDS = 200
_EPSILON = 1e-7  # tf.metrics.auc's


def auc_thresholds(num_thresholds: int = AUC_THRESHOLDS) -> np.ndarray:
    """TF1's: [-eps, 1/(n-1), ..., (n-2)/(n-1), 1 + eps]."""
    inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    return np.asarray([0.0 - _EPSILON] + inner + [1.0 + _EPSILON], np.float32)


class PretrainingMetrics:
    """Accumulates the original's metrics over evaluation batches (``update`` then ``results``)."""

    def __init__(self, with_discriminator: bool = True):
        self.with_discriminator = with_discriminator
        self.sums: Dict[str, float] = {}
        self.thresholds = auc_thresholds()
        self.confusion = np.zeros((4, len(self.thresholds)), np.float64)  # tp, fn, tn, fp
        self.loss_sum = 0.0
        self.batches = 0

    def _add(self, name: str, numerator: float, denominator: float) -> None:
        n, d = self.sums.get(name, (0.0, 0.0))
        self.sums[name] = (n + float(numerator), d + float(denominator))

    def update(self, outputs: Dict[str, np.ndarray], batch_loss: float) -> None:
        """Add one batch (numpy outputs of ``PretrainingModel.call``) with its total loss."""
        weights = np.asarray(outputs["masked_lm_weights"], np.float64)
        ids = np.asarray(outputs["masked_lm_ids"])
        self._add("masked_lm_accuracy", np.sum(weights * (np.asarray(outputs["masked_lm_preds"]) == ids)), weights.sum())
        self._add("masked_lm_loss", np.sum(weights * np.asarray(outputs["mlm_loss"], np.float64)), weights.sum())
        self.loss_sum += float(batch_loss)
        self.batches += 1
        if not self.with_discriminator:
            return
        self._add("sampled_masked_lm_accuracy", np.sum(weights * (np.asarray(outputs["sampled_tokids"]) == ids)),
                  weights.sum())
        disc_loss = np.asarray(outputs["disc_loss"], np.float64)
        self._add("disc_loss", disc_loss.sum(), disc_loss.size)
        mask = np.asarray(outputs["input_mask"], np.float64)
        labels = np.asarray(outputs["disc_labels"]).astype(np.int64)
        preds = np.asarray(outputs["disc_preds"]).astype(np.int64)
        correct = (labels == preds).astype(np.float64)
        self._add("disc_accuracy", np.sum(correct * mask), mask.sum())
        self._add("disc_precision", np.sum(correct * preds * mask), np.sum(preds * mask))
        self._add("disc_recall", np.sum(correct * labels * mask), np.sum(labels * mask))
        # AUC on labels * mask and probs * mask, unweighted (padding = negatives at probability 0).
        auc_labels = (labels * mask).reshape(-1) > 0
        auc_probs = (np.asarray(outputs["disc_probs"], np.float64) * mask).reshape(-1).astype(np.float32)
        above = auc_probs[None, :] > self.thresholds[:, None]  # [T, n]
        self.confusion[0] += np.sum(above & auc_labels[None, :], axis=1)
        self.confusion[1] += np.sum(~above & auc_labels[None, :], axis=1)
        self.confusion[2] += np.sum(~above & ~auc_labels[None, :], axis=1)
        self.confusion[3] += np.sum(above & ~auc_labels[None, :], axis=1)

    def auc(self) -> float:
        """ROC AUC by the trapezoidal rule over the thresholds (tf.metrics.auc's computation)."""
        tp, fn, tn, fp = self.confusion
        tpr = (tp + _EPSILON) / (tp + fn + _EPSILON)
        fpr = fp / (fp + tn + _EPSILON)
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2.0))

    def results(self) -> Dict[str, float]:
        """Metric name -> value (a metric without any weight is 0, as TF1's accuracy)."""
        out = {name: (n / d if d > 0 else 0.0) for name, (n, d) in self.sums.items()}
        if self.with_discriminator and self.batches:
            out["disc_auc"] = self.auc()
        out["loss"] = self.loss_sum / max(self.batches, 1)
        order = ("masked_lm_accuracy", "masked_lm_loss", "sampled_masked_lm_accuracy", "disc_loss", "disc_auc",
                 "disc_accuracy", "disc_precision", "disc_recall", "loss")
        return {k: out[k] for k in order if k in out}
