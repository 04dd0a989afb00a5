"""One process per run folder: an advisory lock with the holder's identity.

The lock is ``fcntl.flock`` on ``<folder>.lock``: the kernel releases it when the holding process
dies in any way (Ctrl-C, SIGTERM, kill -9, a lost shell), so a stale lock never blocks a rerun.
The file also records who holds it (pid, host, command, start time) so that a second run can say
which process it is waiting for, and a run that takes over a lock left by a dead process says so.

A forked child (the dataset builder's worker processes) does not hold its parent's lock: an
orphaned child of a killed parent would otherwise keep the folder locked.
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

_HELD_FDS = set()  # descriptors of the locks this process holds


def _forget_locks_in_child() -> None:
    """After a fork: close the child's copies of the parent's lock descriptors (closing a copy
    keeps the parent's lock; unlocking it would release it for the parent too)."""
    for fd in list(_HELD_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


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
    """``with RunLock(folder):`` holds ``<folder>.lock`` (or ``lock_file``) for the block; raises
    RunLockedError at once (no waiting) when another live process holds it. ``advice`` ends that
    message (how to run something else at the same time)."""

    def __init__(self, folder: str, what: str = "run", lock_file: Optional[str] = None,
                 advice: str = "to run something else at the same time, use another model_name or task set."):
        self.folder = os.path.normpath(folder)
        self.advice = advice
        self.path = lock_file or self.folder + ".lock"  # lock_file: e.g. a hidden file inside the folder
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
                f"The {self.what} in {self.folder} is in use by {who}. Wait for it to finish or stop it; "
                f"{self.advice}") from None
        previous = self._holder()
        if previous.get("pid") and previous.get("host") == socket.gethostname() and previous.get("pid") != os.getpid():
            state = "no longer running" if not _pid_alive(int(previous["pid"])) else "it no longer holds the lock"
            logger.warning("Taking over the lock of %s left by process %s (%s).", self.folder, previous["pid"], state)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                  "started": datetime.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        _HELD_FDS.add(fd)
        return self

    def release(self) -> None:
        """Give the lock up and empty the file; does nothing if it is not held."""
        import fcntl

        if self._fd is None:
            return
        if self._fd not in _HELD_FDS:  # a forked child's copy of its parent's lock: not ours to release
            self._fd = None
            return
        _HELD_FDS.discard(self._fd)
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
