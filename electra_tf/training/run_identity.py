"""Run identity: what determined a run's training, recorded in its folder and checked on rerun.

A run folder is reused (resumed, or its finished model evaluated) only by a command that would
train the same model. Each folder holds ``run_identity.json``: the training-relevant settings,
content digests of the inputs (data, vocabulary, initial checkpoint) and the seed drawn for the
run. A rerun whose settings differ stops before touching anything, naming each difference
(old -> new) and the ways out; settings that do not change training are not recorded, so
changing them reuses the trained model.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from electra_tf.errors import ElectraError
from electra_tf.utils.files import atomic_write_json, read_json_file

IDENTITY_FILE = "run_identity.json"
_SAMPLE = 1 << 20  # bytes read from each end of a large file


class RunMismatchError(ElectraError):
    """The folder holds a run trained with other settings."""


def file_digest(path: str) -> str:
    """A content digest of ``path``: the whole file up to 4 MiB, else its size and first and last
    MiB (checkpoints are hundreds of MiB; a changed checkpoint changes its header or its size)."""
    size = os.path.getsize(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= 4 * _SAMPLE:
            h.update(f.read())
        else:
            h.update(f.read(_SAMPLE))
            f.seek(size - _SAMPLE)
            h.update(f.read(_SAMPLE))
    return h.hexdigest()[:24]


def path_digest(path: Optional[str]) -> Optional[str]:
    """Digest of a file, of every file of a directory, or of a TF1 checkpoint prefix's files."""
    if not path:
        return None
    if os.path.isfile(path):
        return file_digest(path)
    if os.path.isdir(path):
        # only the checkpoint and config files at the top level: a model folder also holds our
        # runs (finetuning_models/, results/, ...), which are neither read nor digested
        files = sorted(n for n in os.listdir(path)
                       if os.path.isfile(os.path.join(path, n)) and not n.endswith((".lock", ".log")))
    else:
        folder, prefix = os.path.split(path)
        files = sorted(n for n in os.listdir(folder or ".") if n.startswith(os.path.basename(prefix) + ".")) \
            if os.path.isdir(folder or ".") else []
        path = folder
    h = hashlib.sha256()
    for name in files:
        h.update(f"{name}:{file_digest(os.path.join(path, name))};".encode())
    return h.hexdigest()[:24]


def differences(old: Dict[str, Any], new: Dict[str, Any],
                absent: Optional[Dict[str, Any]] = None) -> List[Tuple[str, Any, Any]]:
    """(name, old value, new value) for every key whose values differ. A key missing on one side
    stands for its value in ``absent`` (the defaults of settings added after that record was
    written, whose default keeps the earlier behaviour), else for None."""
    absent = absent or {}
    keys = sorted(set(old) | set(new))
    canon = lambda v: json.dumps(v, sort_keys=True, default=str)  # noqa: E731
    values = [(k, old.get(k, absent.get(k)), new.get(k, absent.get(k))) for k in keys]
    return [(k, a, b) for k, a, b in values if canon(a) != canon(b)]


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class RunIdentity:
    """The identity of the run in ``folder``: ``settings`` (name -> JSON value) plus the seed.

    ``absent``: the value a setting missing from a stored record stands for (the hparam defaults:
    a record written before an hparam existed was trained with its default, which keeps the
    earlier behaviour), so such runs still resume and count as finished."""

    def __init__(self, folder: str, settings: Dict[str, Any], absent: Optional[Dict[str, Any]] = None):
        self.folder = folder
        self.settings = json.loads(json.dumps(settings, default=str))  # plain JSON values
        self.absent = json.loads(json.dumps(absent or {}, default=str))

    def differences(self, stored_settings: Dict[str, Any]) -> List[Tuple[str, Any, Any]]:
        """(name, stored value, current value) of each setting that differs from ``stored_settings``."""
        return differences(stored_settings, self.settings, self.absent)

    @property
    def path(self) -> str:
        return os.path.join(self.folder, IDENTITY_FILE)

    def stored(self) -> Optional[Dict[str, Any]]:
        fix = (f"the run in {self.folder} cannot be identified. Remove the folder or set \"overwrite_model_dir\": true "
               f"to train again.")
        stored = read_json_file(self.path, RunMismatchError, fix, problem="is unreadable")
        if stored is not None and not (isinstance(stored, dict) and isinstance(stored.get("settings", {}), dict)):
            raise RunMismatchError(f"{self.path} is unreadable (not a record of settings); {fix}")
        return stored

    def check(self, ways_out: str) -> Optional[int]:
        """Compare with the folder's record: None when there is none; the recorded seed when the
        settings agree; RunMismatchError naming each difference otherwise."""
        stored = self.stored()
        if stored is None:
            return None
        changed = self.differences(stored.get("settings", {}))
        if changed:
            lines = "; ".join(f"{name} {_show(old)} -> {_show(new)}" for name, old, new in changed)
            raise RunMismatchError(
                f"{self.folder} holds a run trained with other settings ({lines}). Nothing was changed. {ways_out}")
        return stored.get("seed")

    def record(self, seed: int) -> None:
        """Write the record (atomically) at the start of training."""
        os.makedirs(self.folder, exist_ok=True)
        atomic_write_json(self.path, {"settings": self.settings, "seed": int(seed)})
