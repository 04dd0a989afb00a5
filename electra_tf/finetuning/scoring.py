"""Scorer base classes: accumulate model outputs, then compute a task's metrics.

Metric values are percentages (x100) as in the original's scorers, except ``mse`` and
``loss``. Every scorer also reports the mean ``loss``.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np


def format_results(results: Dict[str, float]) -> str:
    """``metric: value - metric: value`` (two decimals; non-numeric entries left out)."""
    return " - ".join(f"{k}: {v:.2f}" for k, v in results.items() if isinstance(v, (int, float)))


class Scorer:
    """Base of all scorers: ``get_results`` returns metric -> value, ``results_str`` formats it."""

    def get_results(self) -> Dict[str, float]:
        """{metric name: value} of everything seen so far, including "loss"."""
        raise NotImplementedError

    def results_str(self) -> str:
        """``get_results`` as one line for the logs."""
        return format_results(self.get_results())


class ExampleScorer(Scorer):
    """Collects (prediction, gold, loss) per example; subclasses compute ``metrics``."""

    def __init__(self):
        self.losses: List[float] = []
        self.predictions: List = []
        self.golds: List = []
        self.eids: List[int] = []

    def update(self, prediction, gold, loss: float, eid: int) -> None:
        """Record one example's prediction, gold label, loss and example id."""
        self.predictions.append(prediction)
        self.golds.append(gold)
        self.losses.append(float(loss))
        self.eids.append(int(eid))

    def metrics(self) -> Dict[str, float]:
        """The task's metrics from the recorded predictions and golds (subclasses)."""
        raise NotImplementedError

    def get_results(self) -> Dict[str, float]:
        """``metrics()`` (when anything was recorded) plus the mean loss."""
        results = self.metrics() if self.predictions else {}
        results["loss"] = float(np.mean(self.losses)) if self.losses else 0.0
        return results
