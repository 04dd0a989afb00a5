"""The mechanism behind every hparams class: defaults, the user's values, checks.

A subclass lists its hparams with their defaults (``DEFAULTS``; a default's type is the type the
hparam must have) and the path hparams derived from the data directory (``PATHS``), and applies
its precedence steps in its constructor with :meth:`Hparams.set_defaults` and
:meth:`Hparams.update`. Checks shared by all of them:

* an unknown hparam is an error naming the closest known one (:meth:`Hparams.unknown_hparam`
  may add a hint of its own);
* a value must have its default's type: booleans are not numbers, an int passes as a float,
  ``STR_OR_BOOL`` names take either, ``ALLOW_NULL`` says whether null is accepted for any
  hparam, ``FINITE_FLOATS`` whether a float must be finite (NaN and infinity refused);
* ``check_choices`` refuses a value outside a fixed set, naming the closest allowed one.

Nothing here knows ELECTRA: the hparams and their meaning are the subclass's.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Iterable, List, Mapping, Tuple

from electra_tf.errors import ConfigError, check_known_keys, closest

#: How a type error names the expected JSON value ("an integer", not "a int").
JSON_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
              dict: "a JSON object"}


class Hparams:
    """Base of the hparams classes (see the module docstring)."""

    #: hparam name -> default (also the type the value must have; None: any type)
    DEFAULTS: Dict[str, Any] = {}
    #: path hparams, set from the data directory before the user's values and overridable
    PATHS: Tuple[str, ...] = ()
    #: hparams read from the user's values before the first update (the original reads them early)
    READ_FIRST: Tuple[str, ...] = ()
    #: hparams whose value may be a string or a boolean (e.g. "auto" / true / false)
    STR_OR_BOOL: Tuple[str, ...] = ()
    #: True: null is accepted for every hparam; False: only where the default is null
    ALLOW_NULL: bool = False
    #: True: a float hparam must be finite
    FINITE_FLOATS: bool = False

    def set_defaults(self, kwargs: Mapping[str, Any]) -> None:
        """Every hparam at a fresh copy of its default (a mutable default is never shared), then
        the ``READ_FIRST`` ones the user gives."""
        for name, default in self.DEFAULTS.items():
            setattr(self, name, json.loads(json.dumps(default)))
        for name in self.READ_FIRST:
            if name in kwargs:
                setattr(self, name, kwargs[name])

    @classmethod
    def hparam_names(cls) -> List[str]:
        """Every settable hparam: ``model_name``, the defaults' names, the paths."""
        return ["model_name", *cls.DEFAULTS, *cls.PATHS]

    def unknown_hparam(self, key: str, known: List[str]) -> ConfigError:
        """The error for the unknown hparam ``key`` (overridable to add a hint)."""
        try:
            check_known_keys("", [key], known, "hparam", list_known=False)
        except ConfigError as e:
            return e
        raise AssertionError(f"{key!r} is a known hparam")  # pragma: no cover

    def update(self, kwargs: Mapping[str, Any]) -> None:
        """Set the given hparams; the first unknown one is an error naming the closest valid name
        (nothing is set then)."""
        known = self.hparam_names()
        for key in kwargs:
            if key not in known:
                raise self.unknown_hparam(key, known)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def type_ok(self, name: str, default: Any, value: Any) -> bool:
        """Whether ``value`` has the type of ``default`` (the rules of the module docstring)."""
        if isinstance(default, bool):
            return isinstance(value, bool)
        if isinstance(default, float):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            return number and (not self.FINITE_FLOATS or math.isfinite(value))
        if isinstance(default, int):
            return isinstance(value, int) and not isinstance(value, bool)
        if name in self.STR_OR_BOOL:
            return isinstance(value, (str, bool))
        return isinstance(value, type(default))

    def check_types(self) -> None:
        """Every hparam with a non-null default must have that default's type."""
        for name, default in self.DEFAULTS.items():
            value = getattr(self, name)
            if default is None or (value is None and self.ALLOW_NULL):
                continue
            if not self.type_ok(name, default, value):
                # The original stored JSON values verbatim ("4" stayed a string and failed later).
                kind = ("true, false or a string" if name in self.STR_OR_BOOL
                        else JSON_KINDS.get(type(default), f"a {type(default).__name__}"))
                raise ConfigError(f"hparam {name} must be {kind} (like its default {default!r}), got {value!r}.")

    def check_choices(self, choices: Mapping[str, Iterable[str]]) -> None:
        """Every hparam of ``choices`` must be one of its allowed values."""
        for name, allowed in choices.items():
            allowed = tuple(allowed)
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"hparam {name} must be one of {', '.join(allowed)}, got {value!r}."
                                  f"{closest(str(value), allowed)}")

    def to_dict(self) -> Dict[str, Any]:
        """Every settable hparam and its value."""
        return {name: getattr(self, name) for name in self.hparam_names()}
