"""Turn SIGINT / SIGTERM into a request to stop after the current step.

Schedulers and preemption send SIGTERM, users press Ctrl-C. Killing the process mid-step loses
everything since the last checkpoint; instead the handler records the signal, the training loop
finishes its step, saves a checkpoint and raises ``RunInterrupted``. A second Ctrl-C while that
happens stops at once (KeyboardInterrupt), as users expect from a program that seems stuck.

In a multi-worker run a save is collective, so a signal that reaches one worker (a scheduler
preempting one node) must stop all of them at the same step: ``ClusterStopRequests`` sums every
worker's "signal received" flags once per step (one small all-reduce), so all workers see the
request after the same step, save the same checkpoint and stop. (Not TensorFlow's
PreemptionCheckpointHandler: it wants to own the checkpoint manager and the process exit, while the
engine keeps its own checkpoint layout, messages and exit codes shared with single-process runs.)
"""

from __future__ import annotations

import signal
import threading
from typing import Optional

from electra_tf.errors import ElectraError


#: (checkpoint folder, step) of the last training of this process that finished, until another
#: starts: a signal that arrives afterwards (while the run writes its last outputs) is reported as
#: what it is, an interruption after training, whose rerun does not train again
_finished_training: Optional[tuple] = None


def record_training_finished(directory: Optional[str], step: int = 0) -> None:
    """Called by the training engine when a training starts (``directory`` None) and when it has
    finished and saved its final checkpoint."""
    global _finished_training
    _finished_training = None if directory is None else (directory, int(step))


def finished_training() -> Optional[tuple]:
    """(checkpoint folder, step) of this process's finished training, or None while one runs."""
    return _finished_training


class RunInterrupted(ElectraError):
    """Training stopped on a signal after saving its state."""

    def __init__(self, message: str, signal_name: str, step: int, exit_code: int):
        super().__init__(message)
        self.signal_name = signal_name
        self.step = step
        self.exit_code = exit_code


class StopRequests:
    """``with StopRequests() as stop:`` ... ``if stop.requested: ...``.

    Installs handlers for SIGINT and SIGTERM in the main thread (elsewhere it does nothing, as
    Python only delivers signals there) and restores the previous handlers on exit.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self):
        self.signal_name: Optional[str] = None
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + int(getattr(signal, self.signal_name)) if self.signal_name else 0

    def agree(self, save_due: bool = False) -> bool:
        """Called once per step: makes a stop request seen by the whole run (here: one process,
        nothing to do) and returns whether a time-based checkpoint is due (``save_due``)."""
        return save_due

    def describe(self, step: int, total: int, directory: str) -> str:
        """The message of the RunInterrupted raised after the final save."""
        return (f"Stopped by {self.signal_name} at step {step} of {total}; the checkpoint of step {step} is saved in "
                f"{directory}. Run the same command again to resume.")

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.signal_name == "SIGINT" and name == "SIGINT":
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        self.signal_name = self.signal_name or name

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                sig = getattr(signal, name)
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class ClusterStopRequests(StopRequests):
    """StopRequests of one worker of a multi-worker ``strategy`` whose :meth:`agree` shares the
    requests of all workers (see the module docstring). ``chief``: this worker's clock decides
    when time-based checkpoints are due, so that all workers save at the same step."""

    _CODES = ("SIGTERM", "SIGINT")  # the order of the flags in the all-reduced vector

    def __init__(self, strategy, chief: bool):
        super().__init__()
        self.strategy = strategy
        self.chief = chief
        self.from_peer = False  # the request came from another worker
        self.received: Optional[str] = None  # a signal of this worker, not yet shared
        self._reduce = None

    def _handle(self, signum, frame) -> None:
        # Recorded, not acted on: ``requested`` turns true only in agree(), when all workers know.
        name = signal.Signals(signum).name
        if self.received == "SIGINT" and name == "SIGINT":
            raise KeyboardInterrupt  # second Ctrl-C: stop now
        self.received = self.received or name

    def agree(self, save_due: bool = False) -> bool:
        import tensorflow as tf

        if self._reduce is None:
            @tf.function
            def reduce(flags):
                per_replica = self.strategy.run(lambda: tf.identity(flags))
                return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

            self._reduce = reduce
        flags = [float(self.received == name) for name in self._CODES] + [float(save_due and self.chief)]
        summed = self._reduce(tf.constant(flags, tf.float32)).numpy()
        if not self.requested:
            for name, value in zip(self._CODES, summed):
                if value > 0:
                    self.signal_name, self.from_peer = name, self.received != name
                    break
        return bool(summed[-1] > 0)

    def describe(self, step: int, total: int, directory: str) -> str:
        source = "another worker received" if self.from_peer else "this worker received"
        return (f"Stopped at step {step} of {total} because {source} {self.signal_name}; every worker saved the "
                f"checkpoint of step {step} (this worker's copy in {directory}). Start all workers again with the "
                f"same command to resume.")
