"""Best-model selection and early stopping on evaluations made during training.

Generic: an ``evaluate(step)`` callback returns ``{group: {metric: value}}`` (for fine-tuning a
group is a task); the selection value is the mean of ``metric`` over the groups that report it.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from electra_tf.errors import ConfigError
from electra_tf.utils.files import atomic_write_json

logger = logging.getLogger("electra_tf")

LOWER_IS_BETTER = ("loss", "mse")

Results = Dict[str, Dict[str, float]]


class BestModelSelector:
    """Evaluations during training: keep the best weights by ``metric`` (mean over the groups
    that report it; lower is better for loss and mse) and signal early stopping after
    ``patience`` evaluations without improvement. With ``model_dir`` the best weights are also
    written to ``<model_dir>/best/weights`` (a weights-only checkpoint from ``checkpoint``) with
    ``best.json``; ``restore_best`` puts them back into ``variables`` at the end of training.
    """

    def __init__(self, evaluate: Callable[[int], Results], metric: Optional[str], patience: int = 0,
                 variables: Sequence = (), model_dir: Optional[str] = None, checkpoint: Optional[Callable] = None):
        self._evaluate, self.metric, self.patience = evaluate, metric, patience
        self.variables, self.model_dir, self._checkpoint = list(variables), model_dir, checkpoint
        self.best: Optional[float] = None
        self.best_step: Optional[int] = None
        self.bad_evaluations = 0
        self._best_weights = None

    def _value(self, results: Results) -> float:
        values = [metrics[self.metric] for metrics in results.values() if self.metric in metrics]
        if not values:
            available = sorted({m for metrics in results.values() for m in metrics})
            raise ConfigError(f"hparam best_metric {self.metric!r} is not among the dev metrics: {', '.join(available)}.")
        return float(np.mean(values))

    def evaluate(self, step: int) -> bool:
        """Evaluate now; return True when training should stop early."""
        results = self._evaluate(step)
        if not self.metric:
            return False
        value = self._value(results)
        better = self.best is None or (value < self.best if self.metric in LOWER_IS_BETTER else value > self.best)
        if better:
            self.best, self.best_step, self.bad_evaluations = value, step, 0
            self._best_weights = [np.array(v.numpy()) for v in self.variables]
            if self.model_dir:
                path = os.path.join(self.model_dir, "best")
                if self._checkpoint is not None:
                    self._checkpoint().write(os.path.join(path, "weights"))
                atomic_write_json(os.path.join(path, "best.json"), {"metric": self.metric, "value": value, "step": step,
                                                                  "results": results})
            logger.info("New best dev %s %.4f at step %d", self.metric, value, step)
            return False
        self.bad_evaluations += 1
        return bool(self.patience) and self.bad_evaluations >= self.patience

    def restore_best(self) -> None:
        """Put the best weights seen back into the variables (no-op without a best)."""
        if self._best_weights is None:
            return
        for variable, value in zip(self.variables, self._best_weights):
            variable.assign(value)
        logger.info("Restored the best weights (dev %s %.4f at step %d).", self.metric, self.best, self.best_step)
