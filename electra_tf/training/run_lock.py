"""One process per run folder: an advisory lock with the holder's identity.

The lock is ``fcntl.flock`` on ``<folder>.lock``: the kernel releases it when the holding process
dies in any way (Ctrl-C, SIGTERM, kill -9, a lost shell), so a stale lock never blocks a rerun.
The file also records who holds it (pid, host, command, start time) so that a second run can say
which process it is waiting for, and a run that takes over a lock left by a dead process says so.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import sys
from typing import Optional

from electra_tf.errors import ElectraError

logger = logging.getLogger("electra_tf")


class RunLockedError(ElectraError):
    """Another live process holds the run folder's lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(folder):`` holds ``<folder>.lock`` for the block; raises RunLockedError at
    once (no waiting) when another live process holds it."""

    def __init__(self, folder: str, what: str = "run"):
        self.path = os.path.normpath(folder) + ".lock"
        self.what = what
        self._fd: Optional[int] = None

    def _holder(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.loads(f.read() or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "RunLock":
        """Take the lock without waiting (RunLockedError naming the holder if another process has it) and record
        this process in the file."""
        import fcntl

        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self._holder()
            who = (f"process {holder.get('pid')} on {holder.get('host')} (started {holder.get('started')}: "
                   f"{holder.get('command')})") if holder else "another process"
            raise RunLockedError(
                f"The {self.what} in {self.path[:-5]} is in use by {who}. Wait for it to finish or stop it; "
                f"to run something else at the same time, use another model_name or task set.") from None
        previous = self._holder()
        if previous.get("pid") and previous.get("host") == socket.gethostname() and previous.get("pid") != os.getpid():
            state = "no longer running" if not _pid_alive(int(previous["pid"])) else "it no longer holds the lock"
            logger.warning("Taking over the lock of %s left by process %s (%s).", self.path[:-5], previous["pid"], state)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                  "started": datetime.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up and empty the file; does nothing if it is not held."""
        import fcntl

        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file: nobody holds it
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
