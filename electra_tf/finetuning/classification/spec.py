"""SentenceTaskSpec: files, columns, labels and metrics of one sentence-level task."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Union

Column = Union[int, str]


@dataclasses.dataclass
class Columns:
    """Where text_a, text_b and the label are: an index (negative allowed) or a header name."""

    text_a: Column
    text_b: Optional[Column] = None
    label: Optional[Column] = None


@dataclasses.dataclass
class SentenceTaskSpec:
    """Everything that distinguishes one sentence-level task from another."""

    files: Dict[str, Sequence[str]]  # split -> candidate file names
    columns: Columns
    split_columns: Dict[str, Columns] = dataclasses.field(default_factory=dict)  # per-split overrides
    labels: Optional[List[str]] = None  # None for regression, or inferred from the training file
    regression: bool = False
    header: Union[bool, str] = True  # True, False, "auto" (skip a first line whose label is not a label), or per split
    header_splits: Dict[str, Union[bool, str]] = dataclasses.field(default_factory=dict)
    metrics: Sequence[str] = ("accuracy",)
    delimiter: str = "\t"
    quotechar: Optional[str] = None  # the original reads TSVs with quoting off
    double_unordered: bool = False  # train on both sentence orders (MRPC, STS)
    regression_scale: float = 1.0  # STS: labels divided by 5, as the original
    label_aliases: Dict[str, str] = dataclasses.field(default_factory=dict)
    skip_empty: bool = False  # KoELECTRA skips pairs with an empty sentence
    multi_label: bool = False
    label_separator: str = ","  # multi-label: labels in one column separated by this
    # split -> (column, value): keep only rows whose column equals value (XNLI's language)
    row_filters: Dict[str, tuple] = dataclasses.field(default_factory=dict)
    test_splits: Sequence[str] = ("test",)
    note: str = ""

    @property
    def problem(self) -> str:
        """"regression", "multi_label" or "single_label"."""
        return "regression" if self.regression else ("multi_label" if self.multi_label else "single_label")
