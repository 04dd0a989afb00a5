"""Scorers: accumulate predictions per example, then compute the task's metrics.

Metric values are percentages (x100) as in the original's scorers, except ``mse`` and
``loss``. Every scorer also reports the mean per-example ``loss``.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np

from electra_tf.errors import ConfigError


class Scorer:
    """Collects (prediction, gold, loss) per example; ``get_results`` returns metric -> value."""

    def __init__(self):
        self.losses: List[float] = []
        self.predictions: List = []
        self.golds: List = []
        self.eids: List[int] = []

    def update(self, prediction, gold, loss: float, eid: int) -> None:
        self.predictions.append(prediction)
        self.golds.append(gold)
        self.losses.append(float(loss))
        self.eids.append(int(eid))

    def metrics(self) -> Dict[str, float]:
        raise NotImplementedError

    def get_results(self) -> Dict[str, float]:
        results = self.metrics() if self.predictions else {}
        results["loss"] = float(np.mean(self.losses)) if self.losses else 0.0
        return results

    def results_str(self) -> str:
        return " - ".join(f"{k}: {v:.2f}" for k, v in self.get_results().items())


def _f1s(preds: np.ndarray, golds: np.ndarray, n_labels: int) -> Dict[str, float]:
    """Per-class F1 (single-label), macro and micro averages over the label set."""
    from sklearn.metrics import f1_score

    labels = list(range(n_labels))
    return {
        "macro_f1": 100.0 * f1_score(golds, preds, labels=labels, average="macro", zero_division=0),
        "micro_f1": 100.0 * f1_score(golds, preds, labels=labels, average="micro", zero_division=0),
    }


class ClassificationScorer(Scorer):
    """Accuracy, MCC, macro/micro F1 from argmax predictions."""

    def __init__(self, n_labels: int, metrics: Sequence[str] = ("accuracy",)):
        super().__init__()
        self.n_labels = n_labels
        self.wanted = tuple(metrics)

    def metrics(self):
        preds, golds = np.asarray(self.predictions), np.asarray(self.golds)
        out: Dict[str, float] = {}
        for metric in self.wanted:
            if metric == "accuracy":
                out["accuracy"] = 100.0 * float(np.mean(preds == golds))
            elif metric == "mcc":
                from sklearn.metrics import matthews_corrcoef

                out["mcc"] = 100.0 * float(matthews_corrcoef(golds, preds))
            elif metric in ("macro_f1", "micro_f1", "f1"):
                f1 = _f1s(preds, golds, self.n_labels)
                out.update({k: v for k, v in f1.items() if metric == "f1" or k == metric})
            else:
                raise ConfigError(f"Unknown classification metric {metric!r}; use accuracy, mcc, macro_f1 or micro_f1.")
        return out


class RegressionScorer(Scorer):
    """Pearson and Spearman correlations (x100) and mean squared error."""

    def metrics(self):
        from scipy.stats import pearsonr, spearmanr

        preds, golds = np.asarray(self.predictions, float), np.asarray(self.golds, float)
        if len(preds) < 2 or np.std(preds) == 0 or np.std(golds) == 0:
            pearson = spearman = 0.0
        else:
            pearson = 100.0 * float(pearsonr(preds, golds)[0])
            spearman = 100.0 * float(spearmanr(preds, golds)[0])
        return {"pearson": pearson, "spearman": spearman, "mse": float(np.mean((preds - golds) ** 2))}


class MultiLabelScorer(Scorer):
    """Multi-label classification (sigmoid > 0.5): micro and macro F1, exact-match accuracy."""

    def __init__(self, n_labels: int, metrics: Sequence[str] = ("micro_f1", "macro_f1")):
        super().__init__()
        self.n_labels = n_labels
        self.wanted = tuple(metrics)

    def metrics(self):
        from sklearn.metrics import f1_score

        preds, golds = np.asarray(self.predictions, int), np.asarray(self.golds, int)
        out = {
            "micro_f1": 100.0 * f1_score(golds, preds, average="micro", zero_division=0),
            "macro_f1": 100.0 * f1_score(golds, preds, average="macro", zero_division=0),
            "accuracy": 100.0 * float(np.mean(np.all(preds == golds, axis=1))),
        }
        return {k: v for k, v in out.items() if k in self.wanted or not self.wanted}


def pick_metric(results: Dict[str, float], preferred: Optional[str] = None) -> float:
    """The headline metric of a results dict (for best-trial summaries)."""
    for key in ([preferred] if preferred else []) + ["f1", "micro_f1", "accuracy", "mcc", "spearman", "pearson"]:
        if key in results:
            return results[key]
    return next(iter(results.values()))
