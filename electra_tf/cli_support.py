"""What every command does with errors, interrupts and failed writes: one clear line, an exit code.

* An error caused by the user's input (ElectraError): ``error: ...`` and exit code 2.
* A write that failed because the disk is full, a file-size or quota limit was hit, the folder is
  read-only or not writable: ``error: could not write ...`` naming the path where the system
  said it, and what to do; exit code 1. (Python ignores SIGXFSZ, so a file-size limit arrives as
  EFBIG like a full disk; TensorFlow reports the same failures as its own error types.)
* SIGINT / SIGTERM: training saves a checkpoint and raises RunInterrupted (its exit code is
  128 + the signal); elsewhere the command stops with 130 / 143 after its ``finally`` blocks ran,
  so atomic writers remove their temporary files.
Every such message also goes to the ``electra_tf`` logger, so a run's ``.log`` file records it.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Callable, Optional

from electra_tf.errors import ElectraError

logger = logging.getLogger("electra_tf")

class Terminated(BaseException):
    """SIGTERM outside training (a scheduler stopping the job); a BaseException like Ctrl-C's
    KeyboardInterrupt, so that cleanup runs and no ``except Exception`` swallows it."""


def describe_write_failure(error: BaseException) -> Optional[str]:
    """``could not write <path>: <reason>. <what to do>`` when ``error`` is a failed write, else None."""
    from electra_tf.io_utils import write_failure

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


def run_command(action: Callable[[], Optional[int]], interrupted_hint: Callable[[], Optional[str]] = None) -> int:
    """Run a command's ``action`` with the error handling described in the module docstring.
    ``interrupted_hint()`` may return what to tell a user who interrupted (e.g. how to resume)."""
    from electra_tf.training.interrupts import RunInterrupted

    previous = signal.signal(signal.SIGTERM, _raise_terminated) if _main_thread() else None
    try:
        code = action()
        return 0 if code is None else int(code)
    except RunInterrupted as e:
        return _report(str(e), e.exit_code, prefix="")
    except (KeyboardInterrupt, Terminated) as e:
        name = "SIGTERM" if isinstance(e, Terminated) else "Ctrl-C"
        hint = interrupted_hint() if interrupted_hint else None
        return _report(f"Interrupted ({name}). " + (hint or "Nothing to resume: run the command again to start over."),
                       143 if isinstance(e, Terminated) else 130, prefix="")
    except ElectraError as e:
        return _report(str(e), 2)
    except Exception as e:  # noqa: BLE001  (only failed writes are turned into a message)
        message = describe_write_failure(e)
        if message is None:
            _log_to_file(logging.ERROR, "error: unexpected %s: %s (the traceback follows on the console)",
                         type(e).__name__, e, exc_info=True)
            raise
        return _report(message, 1)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


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
