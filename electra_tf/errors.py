"""Error types shared by the whole package.

Every failure a user can cause (bad config, bad checkpoint, bad data) is raised as an
``ElectraError`` subclass with one message that names the file, line or key and says how to
fix it. The command-line entry points catch ``ElectraError`` and print the message without a
traceback; anything else is a bug in electra-tf.
"""

from __future__ import annotations

import difflib
from typing import Iterable


class ElectraError(Exception):
    """Base class of errors caused by user input (configs, checkpoints, data)."""


class ConfigError(ElectraError, ValueError):
    """A configuration or hparam is unknown, missing or impossible."""


class CheckpointError(ElectraError, ValueError):
    """A checkpoint is missing, corrupt or does not fit the model/config."""


class DataError(ElectraError, ValueError):
    """A data file is missing or malformed."""


def closest(name: str, candidates: Iterable[str]) -> str:
    """Return a ' Did you mean X?' hint for a misspelt key, or '' if nothing is close."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""


def check_known_keys(section: str, given: Iterable[str], known: Iterable[str], what: str = "key") -> None:
    """Raise a ConfigError naming the first unknown key of ``given`` (with the closest known
    one as a hint and the list of known keys); the one check behind every task option block."""
    known = sorted(set(known))
    unknown = sorted(set(given) - set(known))
    if unknown:
        key = unknown[0]
        raise ConfigError(f"{section}: unknown {what} {key!r}.{closest(key, known)} Known: {', '.join(known)}.")
