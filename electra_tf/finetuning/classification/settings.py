"""The classification section of task.json (``ClassificationSettings``), its defaults written once."""

from __future__ import annotations

import dataclasses
from typing import Optional

from electra_tf.model_dir.settings import FamilySettings


@dataclasses.dataclass(frozen=True)
class ClassificationSettings(FamilySettings):
    """What a sentence classifier's consumers need beyond its labels: the problem
    (``single_label``, ``multi_label`` or ``regression``; None when the section does not say)
    and the factor that puts a regression output back in the data's units (STS: 5)."""

    problem: Optional[str] = None
    regression_scale: float = 1.0

    def resolved_problem(self, num_outputs: Optional[int] = None) -> str:
        """The problem; unrecorded, a one-output model is a regression, else single-label
        (``num_outputs`` None: single-label, as the preprocessor has always assumed)."""
        if self.problem is not None:
            return self.problem
        return "regression" if num_outputs == 1 else "single_label"
