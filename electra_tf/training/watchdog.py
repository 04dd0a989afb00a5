"""A watchdog process for a multi-worker start that may never finish.

MultiWorkerMirroredStrategy's constructor blocks in TensorFlow's C++ code holding Python's GIL,
so neither a Python thread nor a signal handler of the worker itself can run while worker 0
waits for workers that never come. This small separate process (``python -m
electra_tf.training.watchdog PID SECONDS ADDRESS...``) waits, and if the worker is still
starting when the time is up it names the addresses that do not answer on the worker's stderr
and ends the worker (SIGKILL: a blocked worker does not act on SIGTERM). The worker stops the
watchdog as soon as the cluster is up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import List, Sequence


def silent_addresses(addresses: Sequence[str], timeout: float = 3.0) -> List[str]:
    """The ``host:port`` addresses where nothing accepts a TCP connection."""
    silent = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except (OSError, ValueError):
            silent.append(address)
    return silent


def start(worker: str, peers: Sequence[str], seconds: float) -> subprocess.Popen:
    """Start the watchdog for this process; ``worker`` names it in the message ("worker 0")."""
    return subprocess.Popen([sys.executable, "-m", "electra_tf.training.watchdog", str(os.getpid()), str(seconds),
                             worker, *peers], stdin=subprocess.DEVNULL, cwd=os.path.dirname(os.path.dirname(
                                 os.path.dirname(os.path.abspath(__file__)))))


def stop(process: subprocess.Popen) -> None:
    """The cluster is up: end the watchdog."""
    if process.poll() is None:
        process.kill()
    process.wait()


def main(argv: Sequence[str]) -> int:
    pid, seconds, worker, peers = int(argv[0]), float(argv[1]), argv[2], list(argv[3:])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(deadline - time.monotonic(), 0.01)))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 0  # the worker ended on its own
    silent = silent_addresses(peers)
    which = (f"no answer from {', '.join(silent)}" if silent else
             f"the workers at {', '.join(peers)} answer but did not join")
    print(f"error: {worker} waited {seconds:g} s (cluster_timeout_secs) for the other workers of the cluster; {which}. "
          f"Check that every worker was started with the same cluster and that its address is reachable from this host.",
          file=sys.stderr, flush=True)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
