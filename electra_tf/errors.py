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


def check_known_keys(section: str, given: Iterable[str], known: Iterable[str], what: str = "key",
                     list_known: bool = True) -> None:
    """Raise a ConfigError naming the first unknown key of ``given`` (with the closest known
    one as a hint and, if ``list_known``, the list of known keys): the one check behind every
    option block (hparams, config files, task options). Without a ``section`` the message reads
    "Unknown <what> 'x'. Did you mean 'y'?"."""
    known = sorted(set(known))
    unknown = [key for key in given if key not in set(known)]  # the first in the user's order
    if unknown:
        key = unknown[0]
        head = f"{section}: unknown {what}" if section else f"Unknown {what}"
        tail = f" Known: {', '.join(known)}." if list_known else ""
        raise ConfigError(f"{head} {key!r}.{closest(key, known)}{tail}")
