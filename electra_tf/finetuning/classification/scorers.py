"""Scorers of sentence-level tasks: classification, regression and multi-label metrics."""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from electra_tf.errors import ConfigError
from electra_tf.finetuning.scoring import ExampleScorer, Scorer


def multi_label_decisions(logits) -> np.ndarray:
    """Which labels a multi-label classifier predicts: those with a positive logit, i.e.
    sigmoid > 0.5 without the rounding of a float32 or float64 sigmoid. The run's scorer and
    prediction files, predict.py (every backend) and the serving signature all decide with this
    rule, so they agree even for logits within a rounding error of 0."""
    return np.asarray(logits) > 0


def _f1s(preds: np.ndarray, golds: np.ndarray, n_labels: int) -> Dict[str, float]:
    """Per-class F1 (single-label), macro and micro averages over the label set."""
    from sklearn.metrics import f1_score

    labels = list(range(n_labels))
    return {
        "macro_f1": 100.0 * f1_score(golds, preds, labels=labels, average="macro", zero_division=0),
        "micro_f1": 100.0 * f1_score(golds, preds, labels=labels, average="micro", zero_division=0),
    }


class ClassificationScorer(ExampleScorer):
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


class RegressionScorer(ExampleScorer):
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


class MultiLabelScorer(ExampleScorer):
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


class WindowScorer(Scorer):
    """A sentence task's scorer with ``text_windows``: collects every window's output (logits,
    or a regression's prediction) per example, and scores the examples on the aggregate of their
    windows (``windows.aggregate``: mean or max) with a fresh ``make_scorer()``; ``feed(scorer,
    value, gold, loss, eid)`` adds one aggregated example to it. An example's loss is the mean
    of its windows' losses."""

    def __init__(self, make_scorer, feed, aggregation: str = "mean"):
        self.make_scorer = make_scorer
        self.feed = feed
        self.aggregation = aggregation
        self.windows: Dict[int, list] = {}  # eid -> [values]
        self.golds: Dict[int, object] = {}
        self.losses: Dict[int, list] = {}

    def update_window(self, eid: int, value, gold, loss: float) -> None:
        """Record one window of example ``eid``: its output ``value``, the example's gold and the window's loss."""
        eid = int(eid)
        self.windows.setdefault(eid, []).append(np.asarray(value))
        self.golds[eid] = gold
        self.losses.setdefault(eid, []).append(float(loss))

    def example_values(self) -> Dict[int, np.ndarray]:
        """{eid: the aggregate of its windows' outputs}, by eid."""
        from electra_tf.finetuning.windows import aggregate

        return {eid: aggregate(self.windows[eid], self.aggregation) for eid in sorted(self.windows)}

    def scorer(self):
        """The inner scorer fed with every example's aggregate (its ``predictions`` and ``eids``)."""
        inner = self.make_scorer()
        for eid, value in self.example_values().items():
            self.feed(inner, value, self.golds[eid], float(np.mean(self.losses[eid])), eid)
        return inner

    def get_results(self) -> Dict[str, float]:
        return self.scorer().get_results()
