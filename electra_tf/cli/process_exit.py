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
3. flushes stdout and stderr, and calls ``os._exit`` with the command's code.

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


def exit_process(code: Optional[int]) -> NoReturn:
    """End this process with ``code`` (None: 0) after the exit steps of the module docstring."""
    code = 0 if code is None else int(code)
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
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001  (a closed pipe: nothing more can be said there)
                pass
        os._exit(code)


def as_command(main: Callable[..., Optional[int]]) -> Callable[[], NoReturn]:
    """The console command of ``main``: ``main()`` on this process' arguments, then ``exit_process``
    with its code. An exception escaping ``main`` (its traceback, exit code 1) takes Python's normal exit."""

    @functools.wraps(main)
    def command() -> NoReturn:
        exit_process(main())

    return command
