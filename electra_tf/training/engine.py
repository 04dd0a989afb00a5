"""The task-agnostic training engine: train a Keras model for a number of optimizer steps under a
tf.distribute strategy, with checkpoints and exact resume, evaluations, best-model selection and
early stopping, progress and TensorBoard.

It knows nothing of tasks: a runner (fine-tuning today, pre-training tomorrow) builds the model,
the optimizer and the input pipeline and hands them over. The contracts:

* model: a keras.Model called as ``model(features, training=...)`` on each dataset element;
* ``per_example_loss(outputs, features) -> [batch]`` (default ``model.per_example_loss``); the
  training loss is its sum over the global batch, as the original;
* ``example_weights(features) -> [batch]`` (default ``model.example_weights`` when the model has
  one): 1 for real examples, 0 for padding rows. Given one, the per-example losses are losses
  of examples, and TensorBoard's ``loss`` is the per-example mean (comparable with the dev
  loss) beside the original's batch sum (``loss_batch_sum``); without one (pre-training, whose
  per-example values are shares of the step's total loss) ``loss`` is the step's loss as is;
* named weights: (name, variable) pairs, or a callable returning them, that name every weight in
  the checkpoint (fine-tuning passes its HF-style canonical names; default: variable paths);
* optimizer: ``apply_gradients(gradients of variables) -> global norm``, ``iterations``,
  ``learning_rate()``, optionally ``loss_scale`` (see optimization.AdamWeightDecay), built over
  ``variables`` in the same order (default: the named weights' variables);
* dataset: a tf.data.Dataset of micro-batches (global batch / accumulation steps) in a
  deterministic order, repeated as long as training needs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from electra_tf.errors import ConfigError, ElectraError
from electra_tf.training.checkpointing import (
    NamedWeights,
    checkpoint_manager,
    remove_unfinished_saves,
    resolve_named_weights,
    restore_checkpoint,
    restore_weights,
    training_checkpoint,
)
from electra_tf.training.distribute import distributed_input
from electra_tf.training.interrupts import ClusterStopRequests, RunInterrupted, StopRequests, record_training_finished
from electra_tf.training.loop import Trainer
from electra_tf.training.runtime import is_chief, is_multi_worker, worker_directory
from electra_tf.training.selection import BestModelSelector
from electra_tf.utils.files import read_json_or_none

logger = logging.getLogger("electra_tf")

Results = Dict[str, Dict[str, float]]

#: written beside the checkpoints when training ends (also by early stopping): a rerun reuses the
#: model instead of training on from the early-stopped step
FINISHED_FILE = "training_finished.json"
#: consecutive non-finite losses tolerated when a dynamic loss scale skips overflowing steps
_LOSS_SCALE_PATIENCE = 50


class TrainingDiverged(ElectraError):
    """The training loss became NaN or infinite."""


def _non_finite(value: float) -> bool:
    import math

    return not math.isfinite(value)


@dataclasses.dataclass
class FitOptions:
    """What one call of :meth:`TrainingEngine.fit` does (all steps are optimizer steps)."""

    num_train_steps: int
    batch_size: int = 0  # global batch of one optimizer step, for the seq/s of the log
    steps_per_epoch: int = 0  # for the epoch in the progress bar and eval_each_epoch
    save_checkpoints_steps: int = 0  # 0: only the final checkpoint (and the time-based ones)
    save_checkpoints_secs: float = 0  # also save when this many seconds passed since the last save
    keep_checkpoint_max: int = 5
    resume: bool = True  # False: a model_dir that already holds checkpoints is an error
    eval_every_steps: int = 0
    eval_each_epoch: bool = False
    best_metric: Optional[str] = None  # None: evaluate only, keep the last weights
    early_stopping_patience: int = 0  # 0: never stop early
    log_every_steps: int = 10
    progress: object = False  # progress bar: True, False or "auto" (see progress.progress_enabled)
    description: str = ""  # appended to the "Training for N steps" log line


class TrainingEngine:
    """Trains and evaluates one model under one strategy (see the module docstring)."""

    def __init__(self, strategy, model, optimizer=None, *, per_example_loss: Optional[Callable] = None,
                 named_weights: NamedWeights = None, variables: Optional[List] = None, accumulation_steps: int = 1,
                 jit_compile: bool = False, example_weights: Optional[Callable] = None):
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self._named_weights = named_weights
        if variables is None:
            variables = [v for _, v in self.named_weights()] if optimizer is not None else []
        self.accumulation_steps = max(1, int(accumulation_steps))
        if example_weights is None:
            example_weights = getattr(model, "example_weights", None)
        self.per_example_mean = example_weights is not None  # see the module docstring
        self.trainer = Trainer(strategy, model, optimizer, variables, accumulation_steps=self.accumulation_steps,
                               jit_compile=jit_compile, per_example_loss=per_example_loss,
                               example_weights=example_weights)

    # ------------------------------------------------------------------ state
    def named_weights(self) -> List[Tuple[str, object]]:
        """The (name, variable) pairs that name the model's weights in checkpoints."""
        return resolve_named_weights(self.model, self._named_weights)

    def checkpoint(self, with_optimizer: bool = True):
        """The training checkpoint of the model (weights by name, RNG states) and the optimizer."""
        return training_checkpoint(self.model, self.optimizer if with_optimizer else None, self._named_weights)

    def restore(self, model_dir: str) -> Optional[int]:
        """Load the newest checkpoint's weights and RNG states (not the optimizer) from
        ``model_dir``; returns its step, or None when there is none."""
        return restore_weights(self.model, model_dir, self._named_weights)

    # ------------------------------------------------------------------ steps
    def train_step(self, iterator):
        """One optimizer step on the next global batch of a distributed ``iterator``; returns
        (batch loss sum, gradient norm)."""
        return self.trainer.train_step(iterator)

    def predict_batches(self, dataset) -> Iterator:
        """Yield, per global batch, host numpy (outputs, per-example losses, features)."""
        return self.trainer.predict_batches(dataset)

    def evaluate(self, dataset, weight_key: Optional[str] = None) -> Dict[str, float]:
        """The mean per-example loss over ``dataset`` as ``{"loss": value, "examples": n}``;
        with ``weight_key`` only the rows whose feature of that name is non-zero count (padding
        rows out). Runners with task metrics use predict_batches instead."""
        import numpy as np

        total, count = 0.0, 0.0
        for _, losses, features in self.predict_batches(dataset):
            weights = np.ones(len(losses)) if weight_key is None else (np.asarray(features[weight_key]) != 0)
            total += float(np.sum(np.asarray(losses, np.float64) * weights))
            count += float(np.sum(weights))
        return {"loss": total / max(count, 1.0), "examples": count}

    # ------------------------------------------------------------------ training
    def _learning_rate(self) -> float:
        lr = getattr(self.optimizer, "learning_rate", 0.0)
        return float(lr() if callable(lr) else lr)

    def fit(self, dataset, model_dir: str, options: FitOptions, evaluate: Optional[Callable[[int], Results]] = None,
            initialize: Optional[Callable[[], None]] = None) -> int:
        """Train to ``options.num_train_steps`` optimizer steps; returns the last step.

        Checkpoints (``ckpt-<step>``) go to ``model_dir`` (a temporary directory on non-chief
        workers, deleted at the end). If it already holds one, training resumes from it (weights,
        dropout RNG states, optimizer) and skips the batches already consumed, so the result
        equals an uninterrupted run's; otherwise ``initialize()`` (e.g. loading pre-trained
        weights) runs first. ``evaluate(step)`` is called every ``eval_every_steps`` (and/or each
        epoch); with ``best_metric`` the best weights are kept (``<model_dir>/best``), restored
        at the end, and ``early_stopping_patience`` evaluations without improvement stop training.

        The jobs, one method each: resume or initialize (:meth:`_resume`), the step loop
        (:meth:`_train_steps`, with :class:`_LossGuard`, :meth:`_checkpoint_if_due` and the
        evaluations of :meth:`_evaluate_if_due`), the final save (:meth:`_finish`).
        """
        if self.optimizer is None:
            raise ValueError("TrainingEngine.fit needs an optimizer.")
        record_training_finished(None)
        directory = worker_directory(self.strategy, model_dir)
        for leftover in remove_unfinished_saves(directory):
            logger.info("Removed %s, a checkpoint save that did not finish.", leftover)
        run = _FitRun(self, model_dir, directory, options)
        start, done = self._resume(run, initialize)
        if done:
            return start
        selector = BestModelSelector(evaluate, options.best_metric, options.early_stopping_patience,
                                     variables=[v for _, v in self.named_weights()],
                                     model_dir=model_dir if run.chief else None,
                                     checkpoint=lambda: self.checkpoint(with_optimizer=False))
        last = self._train_steps(run, dataset, start, selector if evaluate is not None else None)
        selector.restore_best()  # before the final checkpoint, so that it holds the model that is kept
        return self._finish(run, last)

    def _resume(self, run: "_FitRun", initialize: Optional[Callable[[], None]]) -> Tuple[int, bool]:
        """Continue from the newest checkpoint of the run's directory, or ``initialize()`` a new
        run; returns (start step, True when training already finished there)."""
        total, manager = run.options.num_train_steps, run.manager
        start = 0
        if manager.latest_checkpoint:
            if not run.options.resume:
                raise ConfigError(f"{run.directory} already holds checkpoints; set resume true, or overwrite_model_dir "
                                  f"true to start over.")
            restore_checkpoint(run.checkpoint, manager.latest_checkpoint, complete=True)
            start = int(self.optimizer.iterations.numpy())
            finished = read_json_or_none(run.finished_path) if os.path.isfile(run.finished_path) else {}
            if not isinstance(finished, dict) and start < total:
                # The marker is written atomically, so only a damaged disk or a hand edit gets here. A run
                # that stopped early (best_metric patience) would silently train on: say so instead.
                raise ConfigError(f"{run.finished_path} is damaged; the run in {run.directory} stopped at step {start} of "
                                  f"{total}. Delete the file to train on to step {total}, or set overwrite_model_dir "
                                  f"true to start over.")
            if isinstance(finished, dict):
                # The same job (same total) finished here, possibly stopped early: reuse it. A
                # caller asking for more steps continues training instead.
                if finished.get("step") == start and finished.get("num_train_steps") == total:
                    logger.info("Training already finished in %s (step %d).", run.directory, start)
                    record_training_finished(run.model_dir, start)
                    return start, True
            logger.info("Resuming from %s at step %d of %d", manager.latest_checkpoint, start, total)
        elif initialize is not None:
            initialize()
        if start >= total:
            logger.info("Training already finished in %s (step %d).", run.directory, start)
            record_training_finished(run.model_dir, start)
            return start, True
        return start, False

    def _train_steps(self, run: "_FitRun", dataset, start: int, selector: Optional[BestModelSelector]) -> int:
        """The step loop from ``start + 1``: train, log, checkpoint, stop on a signal, evaluate;
        returns the last step (earlier than the total when training stopped early)."""
        import time

        from electra_tf.training.progress import TrainingMonitor, progress_enabled

        options, total = run.options, run.options.num_train_steps
        # The input position is part of the state: skip the batches already consumed (the
        # shuffled order is a function of the seed, so the resumed run sees the same data).
        iterator = iter(distributed_input(self.strategy, dataset.skip(start * self.accumulation_steps)))
        monitor = TrainingMonitor(total, options.batch_size, start_step=start, every=options.log_every_steps,
                                  enabled=progress_enabled(options.progress),
                                  tensorboard_dir=os.path.join(run.directory, "tensorboard"),
                                  steps_per_epoch=options.steps_per_epoch)
        logger.info("Training for %d steps%s", total, options.description)
        guard = _LossGuard(_LOSS_SCALE_PATIENCE if getattr(self.optimizer, "loss_scale", None) is not None else 0)
        # Signals and time-based checkpoints: a multi-worker save is collective, so every step the
        # workers agree (one small all-reduce) on whether a signal reached any of them and whether the
        # chief's clock says a time-based checkpoint is due; all of them then save at the same step.
        stop = ClusterStopRequests(self.strategy, run.chief) if is_multi_worker(self.strategy) else StopRequests()
        run.last_save = time.monotonic()
        try:
            with stop:
                for step in range(start + 1, total + 1):
                    lr = self._learning_rate()
                    loss, norm, examples = self.trainer.train_step(iterator, with_examples=True)
                    loss = float(loss)
                    guard.check(loss, step, lr)
                    monitor.step(step, loss, lr, float(norm), examples=float(examples) if self.per_example_mean else None)
                    self._checkpoint_if_due(run, step, stop)
                    if stop.requested:
                        _save(run.manager, step, run.directory, check_interval=False)
                        raise RunInterrupted(stop.describe(step, total, run.directory), stop.signal_name, step,
                                             stop.exit_code)
                    if selector is not None and self._evaluate_if_due(options, step, selector):
                        return step
        except BaseException:
            remove_unfinished_saves(run.directory)  # a save cut short (full disk, second Ctrl-C) leaves no *_temp
            raise
        finally:
            monitor.close()
        return total

    @staticmethod
    def _checkpoint_if_due(run: "_FitRun", step: int, stop) -> None:
        """Save every ``save_checkpoints_steps`` steps, or when ``save_checkpoints_secs`` passed
        since the last save (agreed by every worker)."""
        import time

        options = run.options
        secs = options.save_checkpoints_secs
        time_due = stop.agree(bool(secs) and time.monotonic() - run.last_save >= secs)
        if options.save_checkpoints_steps and step % options.save_checkpoints_steps == 0:
            _save(run.manager, step, run.directory)
            run.last_save = time.monotonic()
        elif time_due:
            _save(run.manager, step, run.directory, check_interval=False)
            run.last_save = time.monotonic()

    @staticmethod
    def _evaluate_if_due(options: FitOptions, step: int, selector: BestModelSelector) -> bool:
        """Evaluate when ``step`` is an evaluation step (best-model selection); True when
        early stopping ends training here."""
        every = options.eval_every_steps
        due = (every and step % every == 0) or (options.eval_each_epoch and step % max(options.steps_per_epoch, 1) == 0)
        if due and selector.evaluate(step):
            logger.info("Early stopping at step %d: no dev improvement in %d evaluations.", step,
                        options.early_stopping_patience)
            return True
        return False

    @staticmethod
    def _finish(run: "_FitRun", last: int) -> int:
        """The final checkpoint at ``last`` and the "finished" record (the chief), or the removal of
        a non-chief worker's temporary directory; returns ``last``."""
        from electra_tf.utils.files import atomic_write_json

        try:
            _save(run.manager, last, run.directory, check_interval=False)
        except BaseException:
            remove_unfinished_saves(run.directory)
            raise
        if run.chief:
            atomic_write_json(run.finished_path, {"step": last, "num_train_steps": run.options.num_train_steps})
        else:
            shutil.rmtree(run.directory, ignore_errors=True)
        record_training_finished(run.model_dir, last)  # a signal from now on interrupts what the caller writes next
        return last


class _FitRun:
    """The state one :meth:`TrainingEngine.fit` call shares between its jobs: where it writes,
    the checkpoint and its manager, and the time of the last save."""

    def __init__(self, engine: TrainingEngine, model_dir: str, directory: str, options: FitOptions):
        self.model_dir, self.directory, self.options = model_dir, directory, options
        self.chief = is_chief(engine.strategy)
        self.finished_path = os.path.join(self.directory, FINISHED_FILE)
        self.checkpoint = engine.checkpoint()
        self.manager = checkpoint_manager(self.checkpoint, self.directory, engine.optimizer.iterations,
                                          options.keep_checkpoint_max, options.save_checkpoints_steps)
        self.last_save = 0.0  # set when the step loop starts


class _LossGuard:
    """Stops training on a non-finite loss; with a dynamic loss scale ``tolerated`` consecutive
    ones are skipped steps (the scale shrinks), not divergence."""

    def __init__(self, tolerated: int):
        self.tolerated, self.bad = tolerated, 0

    def check(self, loss: float, step: int, lr: float) -> None:
        """Count a non-finite ``loss``; raise TrainingDiverged past the tolerated number in a row."""
        if not _non_finite(loss):
            self.bad = 0
            return
        self.bad += 1
        if self.bad > self.tolerated:
            raise TrainingDiverged(
                f"The training loss became {loss} at step {step} (learning rate {lr:.3g}); training stopped "
                f"and the last checkpoint was kept. Lower learning_rate, check the data, or use float32.")


def _save(manager, step: int, directory: str, check_interval: bool = True) -> None:
    """``manager.save`` whose failed write (full disk, size limit) names the checkpoint folder."""
    from electra_tf.utils.files import as_write_error

    try:
        manager.save(checkpoint_number=step, check_interval=check_interval)
    except Exception as e:  # noqa: BLE001  (TensorFlow raises its own error types)
        converted = as_write_error(e, os.path.join(directory, f"ckpt-{step}"))
        if converted is e:
            raise
        raise converted from None
