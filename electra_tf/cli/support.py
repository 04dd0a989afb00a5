"""What every command does with errors, interrupts and failed writes: one clear line, an exit code.

* An error caused by the user's input (ElectraError): ``error: ...`` and exit code 2.
* A write that failed because the disk is full, a file-size or quota limit was hit, the folder is
  read-only or not writable: ``error: could not write ...`` naming the path where the system
  said it, and what to do; exit code 1. (Python ignores SIGXFSZ, so a file-size limit arrives as
  EFBIG like a full disk; TensorFlow reports the same failures as its own error types.)
* SIGINT / SIGTERM: training saves a checkpoint and raises RunInterrupted (its exit code is
  128 + the signal); elsewhere the command stops with 130 / 143 after its ``finally`` blocks ran,
  so atomic writers remove their temporary files. A signal after training finished (while the
  run writes its models, predictions and results) says so: rerunning the same command writes
  them without training again.
* A SIGTERM after the command finished (while the process exits: TensorFlow's teardown takes a
  moment, and schedulers stop jobs then too) no longer kills it silently with 143: the exit
  completes with the command's own exit code, its outputs being complete, and a note says the
  signal came after the end when Python can still print it.
Every such message also goes to the ``electra_tf`` logger, so a run's ``.log`` file records it.
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys
import threading
from typing import Callable, Optional

from electra_tf.errors import ElectraError

logger = logging.getLogger("electra_tf")

class Terminated(BaseException):
    """SIGTERM outside training (a scheduler stopping the job); a BaseException like Ctrl-C's
    KeyboardInterrupt, so that cleanup runs and no ``except Exception`` swallows it."""


def describe_write_failure(error: BaseException) -> Optional[str]:
    """``could not write <path>: <reason>. <what to do>`` when ``error`` is a failed write, else None."""
    from electra_tf.utils.files import write_failure

    found = write_failure(error)
    if found is None:
        return None
    _, reason, path = found
    where = f" {path}" if path else ""
    advice = ("free disk space, or set a larger limit" if "limit" in reason or "full" in reason or "quota" in reason
              else "choose a writable folder or fix its permissions")
    return (f"could not write{where}: {reason}. Files written before are unchanged; {advice}, then run the same "
            f"command again.")


def _raise_terminated(signum, frame):
    raise Terminated()


_exit_code: Optional[int] = None  # the exit code of the last command that ended in this process
_exiting = False  # set by the atexit hook: the interpreter is shutting down
_atexit_registered = False


def _after_finish(signum, frame):
    """SIGTERM once a command has ended: while the interpreter exits (the command's outputs are
    complete, its final line printed) the exit goes on with the command's exit code, and a note
    says so; while the process still runs (a program that called the command's ``main``), the
    default action, as before the command."""
    if _exiting or sys.is_finalizing() or not threading.main_thread().is_alive():
        what = ("its outputs are complete" if _exit_code == 0 else
                f"it had already ended with exit code {_exit_code}; nothing more is written")
        try:
            print(f"note: SIGTERM arrived after the command finished; {what}.", file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001  (stderr may be closed while exiting: the exit still completes)
            pass
        return
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _ignore_late_sigterm() -> None:
    """atexit: from here on Python may no longer run signal handlers (and resets its own to the
    default at the very end), so a SIGTERM during the rest of the teardown is ignored: the
    process still ends, with the command's exit code, instead of being killed without a word."""
    global _exiting
    _exiting = True
    if _main_thread() and signal.getsignal(signal.SIGTERM) is _after_finish:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run_command(action: Callable[[], Optional[int]], interrupted_hint: Callable[[], Optional[str]] = None) -> int:
    """Run a command's ``action`` with the error handling described in the module docstring.
    ``interrupted_hint()`` may return what to tell a user who interrupted (e.g. how to resume)."""
    global _exit_code, _atexit_registered
    from electra_tf.training.interrupts import RunInterrupted, finished_training, record_training_finished

    record_training_finished(None)  # a training of an earlier command of this process says nothing here
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if _main_thread() else None
    code = 1  # an unexpected exception: Python exits with 1 after its traceback
    try:
        code = action()
        code = 0 if code is None else int(code)
        return code
    except RunInterrupted as e:
        code = _report(str(e), e.exit_code, prefix="")
        return code
    except (KeyboardInterrupt, Terminated) as e:
        name = "SIGTERM" if isinstance(e, Terminated) else "Ctrl-C"
        code = 143 if isinstance(e, Terminated) else 130
        done = finished_training()
        if done is not None:
            # Training ended and saved its final checkpoint; the signal stopped what came after it.
            return _report(f"Interrupted ({name}) after training had finished (step {done[1]}; its final checkpoint is "
                           f"in {done[0]}). What the run was writing after training (models, predictions, results) "
                           f"may be incomplete: run the same command again to write it; training is not repeated.",
                           code, prefix="")
        hint = interrupted_hint() if interrupted_hint else None
        return _report(f"Interrupted ({name}). " + (hint or "Nothing to resume: run the command again to start over."),
                       code, prefix="")
    except ElectraError as e:
        code = _report(str(e), 2)
        return code
    except Exception as e:  # noqa: BLE001  (only failed writes are turned into a message)
        message = describe_write_failure(e)
        if message is None:
            _log_to_file(logging.ERROR, "error: unexpected %s: %s (the traceback follows on the console)",
                         type(e).__name__, e, exc_info=True)
            raise
        code = _report(message, 1)
        return code
    finally:
        _exit_code = code
        if previous is not None:
            # Nobody handled SIGTERM before the command: keep it from killing the exit that follows.
            late = previous in (signal.SIG_DFL, _after_finish)
            signal.signal(signal.SIGTERM, _after_finish if late else previous)
            if late and not _atexit_registered:
                atexit.register(_ignore_late_sigterm)
                _atexit_registered = True


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _log_to_file(level: int, message: str, *args, **kwargs) -> None:
    """Write to the run's .log file only (the console gets its own line), when a run set one up."""
    file_logger = logging.getLogger("electra_tf.file")
    if file_logger.handlers:
        file_logger.log(level, message, *args, **kwargs)


def _report(message: str, code: int, prefix: str = "error: ") -> int:
    """Print ``message`` on stderr and record it, with the exit code, in the run's .log file."""
    _log_to_file(logging.ERROR, "%s%s (exit code %d)", prefix, message, code)
    print(f"{prefix}{message}", file=sys.stderr)
    return code
