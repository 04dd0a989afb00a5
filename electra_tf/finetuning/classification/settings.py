"""The classification section of task.json (``ClassificationSettings``), its defaults written once."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from electra_tf.model_dir.settings import FamilySettings


@dataclasses.dataclass(frozen=True)
class ClassificationSettings(FamilySettings):
    """What a sentence classifier's consumers need beyond its labels: the problem
    (``single_label``, ``multi_label`` or ``regression``; None when the section does not say)
    and the factor that puts a regression output back in the data's units (STS: 5); with the
    hparam ``text_windows``, the windows training used (``window_stride``, None: half a window)
    and how their logits are aggregated, so predict.py and serving window texts as training did."""

    problem: Optional[str] = None
    regression_scale: float = 1.0
    text_windows: bool = False  # the original's truncation
    window_stride: Optional[int] = None
    window_aggregation: str = "mean"

    #: written only for a model trained with windows (a section without them is the original's truncation)
    WINDOW_FIELDS = ("text_windows", "window_stride", "window_aggregation")

    def to_dict(self) -> Dict[str, Any]:
        """The section; the window fields only when ``text_windows`` is on, so a model trained
        without windows writes the section it always did."""
        section = super().to_dict()
        if not self.text_windows:
            for name in self.WINDOW_FIELDS:
                section.pop(name)
        return section

    def resolved_problem(self, num_outputs: Optional[int] = None) -> str:
        """The problem; unrecorded, a one-output model is a regression, else single-label
        (``num_outputs`` None: single-label, as the preprocessor has always assumed)."""
        if self.problem is not None:
            return self.problem
        return "regression" if num_outputs == 1 else "single_label"
