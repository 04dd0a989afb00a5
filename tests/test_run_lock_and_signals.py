"""The run-folder lock and the stop-on-signal handler, with real processes and real signals."""

import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from electra_tf.training.interrupts import StopRequests
from electra_tf.training.run_lock import RunLock, RunLockedError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from electra_tf.training.run_lock import RunLock
lock = RunLock({folder!r}).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _start_holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER.format(root=ROOT, folder=str(folder))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_process_refused_naming_the_holder(tmp_path):
    folder = tmp_path / "sst_model_1"
    holder = _start_holder(folder)
    try:
        with pytest.raises(RunLockedError, match=rf"in use by process {holder.pid} on .*Wait for it"):
            RunLock(str(folder)).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_is_taken_over(tmp_path, caplog):
    folder = tmp_path / "sst_model_1"
    holder = _start_holder(folder)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with caplog.at_level(logging.WARNING, logger="electra_tf"):
        with RunLock(str(folder)):
            pass
    assert f"left by process {holder.pid} (no longer running)" in caplog.text


def test_other_folders_are_independent_and_release_frees(tmp_path):
    a, b = RunLock(str(tmp_path / "a")), RunLock(str(tmp_path / "b"))
    with a, b:
        pass
    with RunLock(str(tmp_path / "a")):  # released on exit, so a new holder gets it
        pass


def test_sigterm_becomes_a_stop_request_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with StopRequests() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested and stop.signal_name == "SIGTERM" and stop.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_second_ctrl_c_stops_at_once():
    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop.signal_name == "SIGINT" and stop.exit_code == 130
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
