"""How a command's own process ends: with its exit code, without Python's teardown of TensorFlow.

When a command returns, Python would next tear down every module (TensorFlow and Keras are tens of
thousands of objects) and TensorFlow's C++ runtime would destroy its thread pools, before the process
ends. That computes nothing and writes nothing, and took 1.5-2.5 s on a 2-core AVX2-only EPYC (a
process that imported TensorFlow and ran one tf.function: 9.7 s to its end, 8.4 s with this exit);
every command a user, a scheduler or the test suite runs waits for it.

``exit_process`` does what Python's own exit does that can matter, then ends the process at once:

1. waits for the threads that are not daemons and marks the main thread as ended (Python's first
   step at exit);
2. runs the ``atexit`` hooks, last registered first, as Python would: ``logging.shutdown`` (the
   run's ``.log`` file is flushed and closed), ``weakref.finalize`` callbacks (temporary folders),
   multiprocessing's joining of child processes, TensorFlow's and absl's hooks, and
   ``cli/support.py``'s hook that keeps a late SIGTERM from killing the exit;
3. flushes stdout and stderr, and calls ``os._exit`` with the command's code. A flush that fails for
   another reason than a closed pipe (a full disk under ``> results.json``) is reported on stderr and
   turns a success into exit code 120, as Python's own exit does: output is never lost silently.

A process that joined a TensorFlow cluster (multi-worker, or a remote TPU: the eager context has a
coordination service or a server definition) takes Python's normal exit instead: TensorFlow's
teardown is where its workers leave the cluster together, and a worker that vanished without it
would leave the others waiting for it.

Skipped is only the teardown itself: objects still referenced by modules are not finalized. The
commands close and flush what they write themselves (atomic writers, TFRecord and summary writers),
so nothing they produce depends on it. Only the commands' own processes end this way (the scripts'
``__main__`` and the console commands, both through ``as_command``): ``main(argv)`` returns its code
to a program that calls it.
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
from typing import Callable, NoReturn, Optional


def joined_a_cluster() -> bool:
    """Whether TensorFlow's eager context, if one was made, was configured for a cluster (a
    coordination service, collective ops over a server, or a remote TPU)."""
    context = sys.modules.get("tensorflow.python.eager.context")
    current = context.context_safe() if context is not None else None
    if current is None:
        return False
    return bool(getattr(current, "_coordination_service_config", None) or getattr(current, "_server_def", None)
                or getattr(current, "_collective_ops_server_def", None))


def exit_process(code: Optional[int]) -> NoReturn:
    """End this process with ``code`` (None: 0) after the exit steps of the module docstring."""
    code = 0 if code is None else int(code)
    if joined_a_cluster():
        raise SystemExit(code)  # Python's normal exit, TensorFlow's teardown included
    try:
        if threading.current_thread() is threading.main_thread() and hasattr(threading, "_shutdown"):
            # Python's own first exit step: joins the threads that are not daemons (and runs what
            # thread pools registered for that moment), then marks the main thread as ended, which
            # is how cli/support.py's SIGTERM handler knows the process is exiting.
            threading._shutdown()  # noqa: SLF001
        else:
            for thread in threading.enumerate():
                if thread is not threading.current_thread() and not thread.daemon and thread.is_alive():
                    thread.join()
        atexit._run_exitfuncs()  # noqa: SLF001  (the hooks Python runs at exit; each failure is printed, the rest run)
    finally:
        code = _flush_output(code)
        os._exit(code)


def _flush_output(code: int) -> int:
    """Flush stdout and stderr; a failed stdout flush (not a closed pipe) is reported and gives 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away (`| head`), or a stream already closed
            pass
        except OSError as error:
            if stream is sys.stdout:
                try:
                    sys.stderr.write(f"error: could not write the command's output to standard output: {error}\n")
                    sys.stderr.flush()
                except Exception:  # noqa: BLE001  (stderr is gone as well: the exit code still says it)
                    pass
                code = code or 120
    return code


def as_command(main: Callable[..., Optional[int]]) -> Callable[[], NoReturn]:
    """The console command of ``main``: ``main()`` on this process' arguments, then ``exit_process``
    with its code. An exception escaping ``main`` (its traceback, exit code 1) takes Python's normal exit."""

    @functools.wraps(main)
    def command() -> NoReturn:
        exit_process(main())

    return command
