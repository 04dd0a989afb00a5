"""Progress display and TensorBoard summaries for training and evaluation.

A progress bar (tqdm) is shown on a terminal (``progress: "auto"``), or when asked (``true``),
and never in batch jobs or CI (``false``, or stderr not a terminal). The original's log line
(step, %, seq/s, elapsed, ETA, loss, lr, gradient norm) goes to the log file always, and to the
console when there is no bar. TensorBoard scalars go to ``<model_dir>/tensorboard/{train,dev}``.

The training loss in TensorBoard: when the engine knows how many examples a step's loss is
summed over (fine-tuning), ``train/loss`` is the per-example mean, on the scale of the dev
``<task>/loss`` beside it, and ``train/loss_batch_sum`` is the batch sum the original logs (its
Estimator's ``loss``; the log line keeps printing that sum, as the original's). Otherwise
(pre-training) ``train/loss`` is the step's loss as computed.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Dict, Optional

logger = logging.getLogger("electra_tf")
file_logger = logging.getLogger("electra_tf.file")  # the log file only (see run_finetuning.setup_logging)


def progress_enabled(setting) -> bool:
    """Whether to show progress bars for the ``progress`` setting ("auto": only on a terminal)."""
    if isinstance(setting, str):
        setting = setting.lower()
        if setting == "auto":
            return sys.stderr.isatty()
        return setting in ("true", "1", "yes")
    return bool(setting)


def progress_bar(total: int, desc: str, enabled: bool, initial: int = 0, unit: str = "it"):
    """A tqdm bar on stderr (disabled unless ``enabled``) that disappears when closed."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, leave=False)


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TrainingMonitor:
    """Per-step progress, periodic log lines and TensorBoard scalars of one training run."""

    def __init__(self, total_steps: int, batch_size: int, start_step: int = 0, every: int = 10,
                 enabled: bool = False, tensorboard_dir: Optional[str] = None, steps_per_epoch: int = 0):
        self.total = total_steps
        self.batch_size = batch_size
        self.every = max(1, every)
        self.start_step = start_step
        self.start = time.time()
        self.enabled = enabled
        self.bar = progress_bar(total_steps, "train", enabled, initial=start_step, unit="step")
        self.writers = {}
        self.tensorboard_dir = tensorboard_dir
        self.steps_per_epoch = steps_per_epoch
        if start_step > 0:
            self._purge_rerun_steps()

    def _purge_rerun_steps(self) -> None:
        """A resumed run re-runs the steps after its checkpoint, which the interrupted run may have
        logged already: tell TensorBoard to drop them (else it shows two points per step).

        TensorBoard's marker for this is a SessionLog START event: a restart drops every point at a
        step >= the event's step in that run (train, dev, ...). TensorBoard takes the first START
        of a run as its start, not a restart, and runs write none at their start, so the marker is
        written twice; a second resume then purges again at its own step, as it should.
        """
        if not self.tensorboard_dir or not os.path.isdir(self.tensorboard_dir):
            return
        import tensorflow as tf

        marker = tf.compat.v1.Event(step=self.start_step + 1, wall_time=time.time(),
                                    session_log=tf.compat.v1.SessionLog(status=tf.compat.v1.SessionLog.START))
        for name in sorted(os.listdir(self.tensorboard_dir)):
            if not os.path.isdir(os.path.join(self.tensorboard_dir, name)):
                continue
            writer = self._writer(name)  # the same file as this run's own summaries for "train"
            for _ in range(2):
                tf.raw_ops.ImportEvent(writer=writer._resource, event=marker.SerializeToString())
            writer.flush()

    def _writer(self, name: str):
        if self.tensorboard_dir is None:
            return None
        if name not in self.writers:
            import tensorflow as tf

            self.writers[name] = tf.summary.create_file_writer(f"{self.tensorboard_dir}/{name}")
        return self.writers[name]

    def step(self, step: int, loss: float, lr: float, grad_norm: float, examples: Optional[float] = None) -> None:
        """Record one training step: advance the bar, show loss / lr / throughput, write the summaries.
        ``examples``: how many examples ``loss`` (a batch sum) is over, for the per-example mean
        (see the module docstring); None when ``loss`` is not a sum over examples."""
        self.bar.update(1)
        if self.enabled:
            elapsed = max(time.time() - self.start, 1e-9)
            postfix = {"loss": f"{loss:.4f}", "lr": f"{lr:.2e}",
                       "seq/s": f"{(step - self.start_step) * self.batch_size / elapsed:.1f}"}
            if self.steps_per_epoch:
                postfix["epoch"] = f"{step / self.steps_per_epoch:.2f}"
            self.bar.set_postfix(postfix)
        if step % self.every and step != self.total:
            return
        elapsed = time.time() - self.start
        done = max(step - self.start_step, 1)
        sps = done * self.batch_size / max(elapsed, 1e-9)
        eta = (self.total - step) * elapsed / done
        line = (f"step {step}/{self.total} = {100.0 * step / max(self.total, 1):.1f}%, {sps:.1f} seq/s, "
                f"ELAP: {_fmt(elapsed)}, ETA: {_fmt(eta)} - loss: {loss:.4f} - lr: {lr:.3g} - grad norm: {grad_norm:.3f}")
        (file_logger if self.enabled else logger).info(line)
        writer = self._writer("train")
        if writer is not None:
            import tensorflow as tf

            with writer.as_default(step=step):
                if examples:
                    # The original logs the batch SUM (its loss); a per-example mean is what the dev
                    # loss is, so "loss" is the mean and the original's value keeps a tag naming it.
                    tf.summary.scalar("loss", loss / examples)
                    tf.summary.scalar("loss_batch_sum", loss)
                else:
                    tf.summary.scalar("loss", loss)
                tf.summary.scalar("learning_rate", lr)
                tf.summary.scalar("gradient_norm", grad_norm)
                tf.summary.scalar("sequences_per_second", sps)

    def close(self) -> None:
        """Close the bar and flush the summary writers."""
        self.bar.close()
        for writer in self.writers.values():
            writer.flush()


def write_eval_summaries(tensorboard_dir: Optional[str], split: str, step: int, results: Dict[str, Dict[str, float]]) -> None:
    """Dev metrics per task as TensorBoard scalars ``<task>/<metric>`` at ``step``."""
    if not tensorboard_dir:
        return
    import tensorflow as tf

    writer = tf.summary.create_file_writer(f"{tensorboard_dir}/{split}")
    with writer.as_default(step=step):
        for task, metrics in results.items():
            for name, value in metrics.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"{task}/{name}", float(value))
    writer.flush()
