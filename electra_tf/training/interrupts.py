"""Turn SIGINT / SIGTERM into a request to stop after the current step.

Schedulers and preemption send SIGTERM, users press Ctrl-C. Killing the process mid-step loses
everything since the last checkpoint; instead the handler records the signal, the training loop
finishes its step, saves a checkpoint and raises ``RunInterrupted``. A second Ctrl-C while that
happens stops at once (KeyboardInterrupt), as users expect from a program that seems stuck.
"""

from __future__ import annotations

import signal
import threading
from typing import Optional

from electra_tf.errors import ElectraError


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
