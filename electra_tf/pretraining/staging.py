"""Where the dataset builder writes: a staging folder, then one commit of renames.

The original deleted and re-created the output folder (``utils.rmkdir``) and wrote the records
in place, so a failed or interrupted build left a mix of truncated files under the final names.
Here (our extension of its output handling; the records themselves are unchanged):

* one build per output folder at a time (``<output>/.pretrain_data.lock``, see
  ``training/run_lock.py``);
* the records and the manifest are written into ``<output>/.tmp-<pid>-pretrain_data/``; nothing
  of the earlier output is touched until every file of the new one is complete;
* the commit renames the new files over the old names, deletes earlier
  ``pretrain_data.tfrecord-*-of-*`` files that are not part of the new output, and renames the
  manifest last (Ctrl-C and SIGTERM wait until it is done);
* a failure (full disk, file-size limit, an error, an interrupt) deletes the staging folder and
  leaves the earlier output byte-identical; a staging folder left by a killed build is deleted
  by the next build of that folder.

It needs free space for the old and the new output at once.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import threading
from typing import Dict, Iterable, Optional

from electra_tf.errors import ConfigError
from electra_tf.pretraining.manifest import MANIFEST_FILE

OUTPUT_PATTERN = "pretrain_data.tfrecord-*-of-*"
LOCK_FILE = ".pretrain_data.lock"
_STAGING_SUFFIX = "-pretrain_data"


def check_output_target(output_dir: str, corpus_dir: str, corpus_files: Iterable[str], vocab_file: str) -> None:
    """Refuse an output folder that is the corpus folder, or whose output would replace or delete
    one of the build's inputs (a corpus file or the vocabulary, also through symbolic links)."""
    if os.path.realpath(output_dir) == os.path.realpath(corpus_dir):
        raise ConfigError("--output-dir must not be the corpus folder (every file there is read as text).")
    if os.path.lexists(output_dir) and not os.path.isdir(output_dir):
        raise ConfigError(f"--output-dir {output_dir} exists and is not a folder; choose a folder.")
    if not os.path.isdir(output_dir):
        return
    ours = {os.path.realpath(p) for p in glob.glob(os.path.join(glob.escape(output_dir), OUTPUT_PATTERN))}
    ours.add(os.path.realpath(os.path.join(output_dir, MANIFEST_FILE)))
    for path in [os.path.join(corpus_dir, name) for name in corpus_files] + [vocab_file]:
        if os.path.realpath(path) in ours:
            raise ConfigError(f"{path} is an input of this build and would be replaced or deleted by writing "
                              f"--output-dir {output_dir}; write the records to another folder.")


def _staging_folders(output_dir: str):
    return glob.glob(os.path.join(glob.escape(output_dir), ".tmp-*" + _STAGING_SUFFIX))


class StagedOutput:
    """``with StagedOutput(output_dir) as staged:`` write into ``staged.folder``, then
    ``staged.commit(manifest)``; leaving the block without a commit (an error, an interrupt)
    deletes the staging folder and leaves ``output_dir`` as it was."""

    def __init__(self, output_dir: str):
        from electra_tf.training.run_lock import RunLock

        self.output_dir = output_dir
        self.folder = os.path.join(output_dir, f".tmp-{os.getpid()}{_STAGING_SUFFIX}")
        self._lock = RunLock(output_dir, what="dataset build", lock_file=os.path.join(output_dir, LOCK_FILE),
                             advice="to build other records at the same time, use another --output-dir.")
        self.committed = False

    def __enter__(self) -> "StagedOutput":
        from electra_tf.utils.files import as_write_error

        try:
            os.makedirs(self.output_dir, exist_ok=True)
            self._lock.acquire()
        except OSError as e:
            converted = as_write_error(e, self.output_dir)
            if converted is e:
                raise
            raise converted from None
        try:
            for stale in _staging_folders(self.output_dir):  # we hold the lock: left by a killed build
                shutil.rmtree(stale, ignore_errors=True)
            os.makedirs(self.folder)
        except BaseException:
            self._lock.release()
            raise
        return self

    def commit(self, manifest: Dict) -> None:
        """Write ``manifest`` into the staging folder, then replace the earlier output with the
        staged files (renames only; SIGINT/SIGTERM are held back until it is done)."""
        from electra_tf.utils.files import atomic_write_json

        atomic_write_json(os.path.join(self.folder, MANIFEST_FILE), manifest)
        new = sorted(n for n in os.listdir(self.folder) if n != MANIFEST_FILE)
        old = [p for p in glob.glob(os.path.join(glob.escape(self.output_dir), OUTPUT_PATTERN))
               if os.path.basename(p) not in set(new)]
        with _signals_held():
            for name in new:
                os.replace(os.path.join(self.folder, name), os.path.join(self.output_dir, name))
            for path in old:
                os.remove(path)
            os.replace(os.path.join(self.folder, MANIFEST_FILE), os.path.join(self.output_dir, MANIFEST_FILE))
            self.committed = True

    def __exit__(self, exc_type, exc, tb) -> Optional[bool]:
        from electra_tf.utils.files import as_write_error

        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.release()
        if exc is not None:
            converted = as_write_error(exc, self.output_dir)  # name the output folder, not a staged file
            if converted is not exc:
                raise converted from None
        return None


class _signals_held:
    """Hold SIGINT and SIGTERM back for the block (main thread only); they arrive after it."""

    def __enter__(self):
        self._active = threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask")
        if self._active:
            self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        return self

    def __exit__(self, *exc):
        if self._active:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)
        return None
