"""The base of the typed per-family settings: task.json's family section as a dataclass.

Each family defines its section in its folder (``finetuning/<family>/settings.py``), with the
defaults a model directory gets for a key it does not record, written there once. Reading never
changes the file: ``TaskMetadata.settings`` keeps the section as stored (unknown keys included),
and ``from_dict`` reads the known keys over the defaults; ``to_dict`` writes every field, in
field order (the section a run writes).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Type, TypeVar

S = TypeVar("S", bound="FamilySettings")


@dataclasses.dataclass(frozen=True)
class FamilySettings:
    """A family's task.json section; subclasses add the fields with their defaults."""

    @classmethod
    def from_dict(cls: Type[S], section: Optional[Mapping[str, Any]]) -> S:
        """The settings a stored section describes: its known keys over the defaults (others ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(section or {}).items() if k in names})

    def to_dict(self) -> Dict[str, Any]:
        """The section as task.json stores it (every field, in field order)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def default(cls, name: str):
        """The default of field ``name`` (the value a section without it gets)."""
        field = next(f for f in dataclasses.fields(cls) if f.name == name)
        return field.default_factory() if field.default is dataclasses.MISSING else field.default
