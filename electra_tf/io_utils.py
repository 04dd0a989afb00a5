"""Small file helpers: atomic writes so that a crash never leaves a half-written output."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically (a reader sees the old file or the whole new one)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as indented UTF-8 JSON (non-ASCII kept) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=False) + "\n")


class atomic_output_path:
    """Context manager giving a temporary path that replaces ``path`` only on success.

    For writers that want a file name rather than bytes (h5py, safetensors, TF savers).
    """

    def __init__(self, path: str):
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        base = os.path.basename(path)
        # Keep the suffix: some writers (Keras .weights.h5) check it.
        self.tmp = os.path.join(folder, f".tmp-{os.getpid()}-{base}")

    def __enter__(self) -> str:
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.unlink(self.tmp)
        return False


def read_jsonl(path: str):
    """(line number, record) of a JSON-lines file (.gz too), with errors naming file and line."""
    import gzip

    from electra_tf.errors import DataError

    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield line_no, json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}, line {line_no}: not valid JSON ({e.msg}).") from None
    except FileNotFoundError:
        raise DataError(f"File not found: {path}") from None
    except UnicodeDecodeError as e:
        raise DataError(invalid_utf8_message(path, e)) from None


def invalid_utf8_message(path: str, error: UnicodeDecodeError) -> str:
    """The one message for a file that is not UTF-8 text (data readers, config and hparams files)."""
    return f"{path}: byte {error.start} is not valid UTF-8; convert the file to UTF-8."
