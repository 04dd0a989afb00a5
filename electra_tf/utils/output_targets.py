"""Where a command may write: the one policy of every command that writes (issue #24).

A file output (``output_file``) is, by what the path names:

* ``-``: standard output (commands whose output cannot be a stream refuse it with a message);
* a symbolic link: followed; the file it points at is written (atomically, beside the target)
  and the link stays a link;
* a character device or a FIFO (``/dev/null``, ``/dev/stdout``, a named pipe), or anything under
  ``/dev`` or ``/proc``: opened and written in place, never replaced by a regular file;
* a regular file the user owns with one name, or a new path: replaced atomically (a temporary
  file beside it and a rename; the file keeps its permission bits);
* a regular file owned by someone else (e.g. root writing a user's file) or with several hard
  links: written in place, so that its owner and its other names stay;
* a folder, a block device or a socket: refused.

A folder output (``output_directory``): a new or empty folder is written; an existing one only
when ``owned`` recognises it as this command's earlier output, or with ``--overwrite``; a folder
``protected`` names (a model directory, for the export) never, even with ``--overwrite``.

Inputs: every command passes what it reads as ``(label, path)`` pairs. An output that is an
input (the same file through any link or hard link), or a folder holding one, is one error
whatever the flags: no command writes over what it reads.
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from electra_tf.errors import ConfigError
from electra_tf.utils.files import read_json_or_none

STDOUT = "-"
#: Paths written in place whatever their type: device nodes and the kernel's views of open files.
_IN_PLACE_ROOTS = ("/dev/", "/proc/")
#: The file a command leaves in a folder it wrote, so that a rerun may write there again.
MARKER = ".electra-tf-output.json"

Inputs = Sequence[Tuple[str, str]]


class OutputTarget:
    """A checked file output: ``given`` (as the user wrote it), ``path`` (where the bytes go:
    the resolved file, None for standard output) and ``kind``: ``"stdout"``, ``"stream"``
    (device or FIFO, written in place), ``"replace"`` (atomic temporary file and rename) or
    ``"in_place"`` (a regular file rewritten in place, see the module docstring)."""

    def __init__(self, given: str, path: Optional[str], kind: str, mode: Optional[int] = None):
        self.given, self.path, self.kind, self.mode = given, path, kind, mode

    @property
    def is_file(self) -> bool:
        """Whether the output is a file on disk (not standard output, a device or a FIFO)."""
        return self.kind in ("replace", "in_place")

    @property
    def console(self):
        """Where the command's own summary goes: stderr when the output itself is a stream (so
        that ``--output -`` or ``/dev/stdout`` holds the output only), else stdout."""
        return sys.stdout if self.is_file else sys.stderr

    def scratch_folder(self) -> Optional[str]:
        """A folder for temporary files that ``install`` can rename into place (the target's own
        folder), or None (the system's temporary folder) when the target is not replaced."""
        return os.path.dirname(self.path) if self.kind == "replace" else None

    def write_bytes(self, data: bytes) -> None:
        """Write ``data`` to the target by its kind (see the class docstring)."""
        from electra_tf.utils.files import as_write_error, atomic_write_bytes

        if self.kind == "replace":
            atomic_write_bytes(self.path, data, mode=self.mode)
            return
        try:
            if self.kind == "stdout":
                _write_stdout(data)
            else:
                with open(self.path, "wb") as f:
                    f.write(data)
        except OSError as e:
            converted = as_write_error(e, self.given)
            if converted is e:
                raise
            raise converted from None

    def write_text(self, text: str) -> None:
        """Write ``text`` as UTF-8."""
        self.write_bytes(text.encode("utf-8"))

    def install(self, source: str) -> None:
        """Put the finished file ``source`` at the target: renamed into place when the target is
        replaced and ``source`` is on its file system (made under ``scratch_folder()``), else
        copied into it."""
        if self.kind == "replace" and _same_device(source, os.path.dirname(self.path)):
            from electra_tf.utils.files import umask_mode

            os.chmod(source, umask_mode() if self.mode is None else self.mode)
            os.replace(source, self.path)
            return
        with open(source, "rb") as f:
            self.write_bytes(f.read())


def _same_device(a: str, b: str) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def _write_stdout(data: bytes) -> None:
    sys.stdout.flush()
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped (``| head``): not an error of ours; keep Python from failing again
        # when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _real(a) == _real(b)


def is_within(child: str, folder: str) -> bool:
    """Whether ``child`` lies inside ``folder`` (after links; ``folder`` itself is not inside)."""
    child, folder = _real(child), _real(folder)
    return child.startswith(folder.rstrip(os.sep) + os.sep)


def _how(given: str, resolved: str) -> str:
    return "is" if _real(given) == os.path.abspath(given) else f"resolves to {resolved}, which is"


def check_not_input(given: str, inputs: Inputs, flag: str = "--output") -> None:
    """Raise ConfigError when ``given`` is one of the command's ``inputs`` (``(label, path)``
    pairs; the same file through any link counts) or a folder that holds one."""
    for label, path in inputs:
        if not path or path == STDOUT:
            continue
        if _same(given, path):
            named = "" if os.path.abspath(path) == os.path.abspath(given) else f" ({path})"
            raise ConfigError(f"{flag} {given} {_how(given, _real(given))} {label}{named}: the command reads it, "
                              f"and writing there would destroy it. Choose another {flag} path.")
        if os.path.isdir(given) and is_within(path, given):
            raise ConfigError(f"{flag} {given} holds {label} ({path}), which the command reads; writing the output "
                              f"there could destroy it. Choose another {flag} path.")


def folder_inputs(folder: str, label: str, skip: Callable[[str], bool] = lambda name: False) -> List[Tuple[str, str]]:
    """``(label, path)`` of the files directly inside ``folder`` (all of them, except names
    ``skip`` accepts): the inputs of a command that reads a model or corpus folder."""
    if not os.path.isdir(folder):
        return []
    return [(label, os.path.join(folder, name)) for name in sorted(os.listdir(folder))
            if not skip(name) and os.path.isfile(os.path.join(folder, name))]


def output_file(given: str, inputs: Inputs = (), flag: str = "--output", stdout_ok: bool = True,
                what: str = "the output") -> OutputTarget:
    """The checked target of a file output (rules in the module docstring); ConfigError, naming
    ``flag``, for an input, a folder, a block device or a socket, and for ``-`` unless
    ``stdout_ok``. Nothing is written here."""
    if not given:
        raise ConfigError(f"{flag} is empty; give a file path.")
    if given == STDOUT:
        if not stdout_ok:
            raise ConfigError(f"{flag} - (standard output) cannot hold {what}; give a file path.")
        return OutputTarget(given, None, "stdout")
    try:
        info = os.stat(given)
    except FileNotFoundError:
        info = None
    except OSError as e:  # a link loop, a folder that cannot be searched
        raise ConfigError(f"{flag} {given}: {e.strerror}; choose another path.") from None
    resolved = _real(given)
    if info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        # Written in place, never replaced; the given path, so that /dev/stdout reaches the open
        # descriptor. Reading and writing one device (/dev/stdin and /dev/stdout on a terminal)
        # destroys nothing, so inputs are not compared.
        return OutputTarget(given, given, "stream")
    check_not_input(given, inputs, flag)
    if info is None:
        return OutputTarget(given, resolved, "replace")  # a new file (or a dangling link's target)
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{flag} {given} is a folder; give a file name (e.g. {os.path.join(given, 'output')}).")
    if stat.S_ISREG(info.st_mode) and (os.path.abspath(given).startswith(_IN_PLACE_ROOTS)
                                       or resolved.startswith(_IN_PLACE_ROOTS)):
        return OutputTarget(given, given, "stream")  # /dev/stdout redirected to a file, /proc/self/fd/1
    if not stat.S_ISREG(info.st_mode):
        kind = "block device" if stat.S_ISBLK(info.st_mode) else "socket" if stat.S_ISSOCK(info.st_mode) else "special file"
        raise ConfigError(f"{flag} {given} is a {kind}; give a file, a character device such as /dev/null, a FIFO, "
                          f"or - for standard output.")
    if info.st_uid != os.geteuid() or info.st_nlink > 1:
        return OutputTarget(given, resolved, "in_place")
    return OutputTarget(given, resolved, "replace", mode=stat.S_IMODE(info.st_mode))


def side_file(target: OutputTarget, suffix: str, inputs: Inputs = (), flag: str = "--output") -> Optional[OutputTarget]:
    """The checked target of a file written beside ``target`` (its name without extension plus
    ``suffix``, in the folder of the path the user gave); None when ``target`` is standard
    output, a device or a FIFO, which have no "beside"."""
    if not target.is_file:
        return None
    return output_file(os.path.splitext(target.given)[0] + suffix, inputs, flag=f"{flag} (beside it)")


def output_directory(given: str, inputs: Inputs = (), flag: str = "--output", overwrite: bool = False,
                     owned: Callable[[str], bool] = None, protected: Callable[[str], Optional[str]] = None,
                     what: str = "the output", replaces: bool = True) -> str:
    """The checked, resolved folder of a folder output (rules in the module docstring).

    ``owned(folder)``: whether an existing non-empty folder is this command's earlier output
    (written again without ``--overwrite``); ``protected(folder)``: a reason never to write
    there (None when allowed); ``replaces``: the command replaces the whole folder (else it
    writes its files into it), which the refusal message says. Returns the path to write."""
    if not given:
        raise ConfigError(f"{flag} is empty; give a folder path.")
    if given == STDOUT:
        raise ConfigError(f"{flag} - (standard output) cannot hold {what}, which is a folder; give a folder path.")
    check_not_input(given, inputs, flag)
    resolved = _real(given)
    if replaces and os.path.isdir(resolved) and (
            resolved in (os.sep, _real(os.path.expanduser("~"))) or is_within(os.getcwd(), resolved)
            or _real(os.getcwd()) == resolved):
        raise ConfigError(f"{flag} {given} is the current folder, one holding it, the home folder or the root; "
                          f"{what} replaces its folder as a whole, so it is never written there. Give a new folder.")
    if os.path.lexists(given) and not os.path.isdir(given):
        raise ConfigError(f"{flag} {given} is a file; {what} is a folder. Choose a folder path.")
    if not os.path.isdir(resolved):
        return resolved
    reason = protected(resolved) if protected else None
    if reason:
        raise ConfigError(f"{flag} {given} {reason}; it is never replaced, even with --overwrite. Choose another folder.")
    entries = sorted(os.listdir(resolved))
    if not entries or overwrite or (owned is not None and owned(resolved)):
        return resolved
    example = next((e for e in entries if e != MARKER), entries[0])
    effect = ("the whole folder would be replaced, deleting them" if replaces
              else "files of the same names would be replaced")
    raise ConfigError(f"{flag} {given} is an existing folder that holds other files (e.g. {example}); {effect}. "
                      f"Choose a new folder, or pass --overwrite to write there anyway.")


def is_marked(folder: str, command: str, **details) -> bool:
    """Whether ``folder`` carries the marker ``mark_folder`` left for ``command`` with these
    ``details`` (e.g. the same output format)."""
    found = read_json_or_none(os.path.join(folder, MARKER))
    return isinstance(found, dict) and found.get("command") == command and all(
        found.get(k) == v for k, v in details.items())


def mark_folder(folder: str, command: str, **details) -> None:
    """Leave the marker that lets a rerun of ``command`` write ``folder`` again."""
    from electra_tf.utils.files import atomic_write_json

    atomic_write_json(os.path.join(folder, MARKER), {"command": command, **details,
                                                     "note": "written by electra-tf; safe to delete"})


def unmark_folder(folder: str) -> None:
    """Remove ``folder`` when it holds nothing but the marker (a command that failed before
    writing anything leaves no folder behind); a folder with written files keeps its marker, so
    that the rerun may finish it."""
    try:
        if os.listdir(folder) == [MARKER]:
            os.unlink(os.path.join(folder, MARKER))
            os.rmdir(folder)
    except OSError:
        pass


def names_in(folder: str, names: Iterable[str]) -> List[str]:
    """The entries of ``folder`` among ``names`` (exact names, or ``*suffix`` patterns)."""
    found = []
    for entry in sorted(os.listdir(folder)):
        if any(entry == n or (n.startswith("*") and entry.endswith(n[1:])) for n in names):
            found.append(entry)
    return found
