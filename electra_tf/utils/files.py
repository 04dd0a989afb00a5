"""Small file helpers: atomic writes so that a crash never leaves a half-written output."""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from typing import Any, Optional, Tuple


def umask_mode() -> int:
    """The permission bits a new file gets under the process's umask (0o666 masked)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_umask_mode = umask_mode


_WRITE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file is larger than allowed (file-size limit)",
                 errno.EDQUOT: "the disk quota is exceeded", errno.EROFS: "the file system is read-only",
                 errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}
# How TensorFlow, h5py and safetensors word the same failures in their own exception types.
_WRITE_PHRASES = {"No space left on device": errno.ENOSPC, "File too large": errno.EFBIG,
                  "Disk quota exceeded": errno.EDQUOT, "Read-only file system": errno.EROFS,
                  "Permission denied": errno.EACCES}


def write_failure(error: BaseException) -> Optional[Tuple[int, str, Optional[str]]]:
    """(errno, reason, path or None) when ``error`` is a failed write (full disk, file-size or
    quota limit, read-only or forbidden folder), whatever library raised it; else None."""
    if isinstance(error, OSError) and error.errno in _WRITE_ERRNOS:
        return error.errno, _WRITE_ERRNOS[error.errno], error.filename
    text = str(error)
    code = next((c for phrase, c in _WRITE_PHRASES.items() if phrase in text), None)
    if code is None or type(error).__module__.split(".")[0] not in ("tensorflow", "h5py", "builtins", "safetensors"):
        return None
    # a file path in the message (device names such as /job:localhost are not paths)
    paths = [p for p in re.findall(r"(/[^\s:'\"]+)", text) if p.count("/") >= 2]
    return code, _WRITE_ERRNOS[code], paths[0] if paths else None


def as_write_error(error: BaseException, path: str) -> BaseException:
    """``error`` as an OSError naming ``path`` when it is a failed write (so the message names the
    output the user asked for, not a temporary file); otherwise ``error`` itself."""
    found = write_failure(error)
    if found is None:
        return error
    return OSError(found[0], found[1], path)


def atomic_write_bytes(path: str, data: bytes, mode: Optional[int] = None) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.
    ``mode``: the new file's permission bits (default: a new file's under the umask)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode() if mode is None else mode)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        converted = as_write_error(e, path)
        if converted is e:
            raise
        raise converted from None


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
            os.chmod(self.tmp, _umask_mode())  # writers that use mkstemp-like 0600 files get normal permissions
            os.replace(self.tmp, self.path)
            return False
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
        converted = as_write_error(exc, self.path)
        if converted is not exc:
            raise converted from None
        return False


def save_directory_atomically(write, path: str) -> None:
    """``write(tmp)`` fills a temporary folder beside ``path``, which then replaces ``path``: a
    failed write (full disk) leaves an earlier folder of that name intact and nothing behind."""
    import shutil

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    _clean_after_killed_writers(parent, os.path.abspath(path))
    tmp = os.path.join(parent, f".tmp-{os.getpid()}-{os.path.basename(os.path.abspath(path))}")
    old = tmp + "-old"
    try:
        write(tmp)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        converted = as_write_error(e, path)
        if converted is e:
            raise
        raise converted from None
    try:
        _swap_in(tmp, path, old)
    except BaseException:
        if not os.path.lexists(path) and os.path.lexists(old):
            os.replace(old, path)  # the earlier folder back where it was
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove(old)


def _clean_after_killed_writers(parent: str, path: str) -> None:
    """What an earlier writer of ``path`` killed by SIGKILL left in ``parent``: its temporary
    folder (``.tmp-<pid>-<name>``) is removed, and the earlier folder it had moved aside
    (``...-old``) is put back when ``path`` is missing. Only folders of processes that are gone."""
    name = os.path.basename(path)
    pattern = re.compile(r"\.tmp-(\d+)-" + re.escape(name) + r"(-old)?$")
    for entry in sorted(os.listdir(parent), key=lambda e: e.endswith("-old")):
        found = pattern.match(entry)
        if not found or int(found.group(1)) == os.getpid() or _alive(int(found.group(1))):
            continue
        leftover = os.path.join(parent, entry)
        if found.group(2) and not os.path.lexists(path):
            os.replace(leftover, path)  # killed between its two renames: the earlier folder back
        else:
            _remove(leftover)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: str) -> None:
    """Remove a leftover folder (or file) quietly."""
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def _swap_in(tmp: str, path: str, old: str, attempts: int = 5) -> None:
    """Move the finished folder ``tmp`` to ``path``, the earlier ``path`` (if any) to ``old``. Two
    writers of one path at once: the other may put its folder there between our two renames
    (the rename then fails with ENOTEMPTY); move that aside too and retry, so one of the two
    complete folders ends at ``path``."""
    for attempt in range(attempts):
        _remove(old)
        try:
            os.replace(path, old)
        except FileNotFoundError:
            pass
        try:
            os.replace(tmp, path)
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or attempt == attempts - 1:
                raise


def sha256_file(path: str) -> str:
    """The sha256 of a file's contents, read in 8 MiB blocks (about 1 GB/s here)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json_or_none(path: str) -> Optional[Any]:
    """The JSON value stored in ``path``, or None when the file is missing or unreadable (not
    UTF-8, not JSON): for a program's own bookkeeping files, where a damaged file means "redo the
    work", not an error."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_json_file(path: str, error_type: type, fix: str, problem: str = "is not valid JSON") -> Optional[Any]:
    """The JSON value stored in ``path``, or None when there is no such file. A file that exists but
    cannot be read or parsed (not UTF-8, truncated, not JSON) raises ``error_type`` with one message:
    "<path> <problem> (<reason>); <fix>". A byte-order mark is ignored."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise error_type(f"{path} {problem} ({e}); {fix}") from None


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
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; pass the JSON-lines file in it.") from None
    except OSError as e:  # permissions, I/O errors, a damaged .gz
        raise DataError(f"Cannot read {path}: {e.strerror or e}.") from None


def invalid_utf8_message(path: str, error: UnicodeDecodeError) -> str:
    """The one message for a file that is not UTF-8 text (data readers, config and hparams files)."""
    return f"{path}: byte {error.start} is not valid UTF-8; convert the file to UTF-8."
