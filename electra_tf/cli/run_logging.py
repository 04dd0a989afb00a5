"""Logging of the command-line runs: the console and the run's .log file."""

from __future__ import annotations

import logging
import os
import sys


class QuietFileHandler(logging.FileHandler):
    """A log file that stops, with one line on stderr, when it cannot be written (a full disk),
    instead of printing a traceback for every later message."""

    def handleError(self, record) -> None:
        if not getattr(self, "_failed", False):
            self._failed = True
            print(f"warning: cannot write the log file {self.baseFilename}; logging to it stopped.", file=sys.stderr)


def setup_logging(log_file: str = None) -> None:
    logger = logging.getLogger("electra_tf")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    for old in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
        # A previous command in this process bound its console to the sys.stderr of then (a test's
        # captured stream, closed since): every command logs to the stderr it runs with.
        logger.removeHandler(old)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(formatter)
    logger.addHandler(console)
    file_only = logging.getLogger("electra_tf.file")
    # Lines that go to the log file only (progress lines while a progress bar is shown); before the
    # log file is open (or without one) they go nowhere, never to the console.
    file_only.setLevel(logging.INFO)
    file_only.propagate = False
    for log in (logger, file_only):
        for old in [h for h in log.handlers if isinstance(h, logging.FileHandler)]:
            log.removeHandler(old)  # a previous run in this process
            old.close()
    if log_file:
        os.makedirs(os.path.dirname(log_file), exist_ok=True)
        handler = QuietFileHandler(log_file, encoding="utf-8")
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        file_only.addHandler(handler)
