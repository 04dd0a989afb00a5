"""TaskOptions: the settings a task reads, taken from FinetuningConfig once and validated.

Tasks get this object, not the whole FinetuningConfig: what a task depends on is visible here,
and a task can be built without a run's config (tests, tools).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from electra_tf.errors import ConfigError
from electra_tf.finetuning.qa.settings import DEFAULTS as QA

#: hparams of the original QA head (they are model options, read by the QA head and decoder)
QA_HEAD_OPTIONS = ("joint_prediction", "beam_size", "answerable_classifier", "answerable_uses_start_logits",
                   "answerable_weight")


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    """Everything a task's reader, preprocessor, head and decoder take from the hparams."""

    raw_data_dir: str  # the task's own data folder (<data-dir>/finetuning_data/<task>)
    max_seq_length: int = 128
    do_lower_case: bool = True
    debug: bool = False
    double_unordered: bool = True
    log_examples: bool = False
    # QA
    max_query_length: int = QA.max_query_length
    doc_stride: int = QA.doc_stride
    n_best_size: int = QA.n_best_size
    max_answer_length: int = QA.max_answer_length
    qa_na_threshold: float = QA.qa_na_threshold
    # this task's task_config entry ({} when there is none)
    task_config: Dict[str, Any] = dataclasses.field(default_factory=dict)
    tfds_data_dir: Optional[str] = None
    head: str = "electra"  # "electra" (the original heads) or "hf"
    head_options: Dict[str, Any] = dataclasses.field(default_factory=dict)  # QA_HEAD_OPTIONS
    # long texts (finetuning/windows.py); the defaults keep the original's truncation
    text_windows: bool = False
    window_stride: Optional[int] = None
    window_aggregation: str = "mean"

    def __post_init__(self):
        for name in ("max_seq_length", "max_query_length", "doc_stride", "n_best_size", "max_answer_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"hparam {name} must be a positive integer, got {value!r}.")
        if self.head not in ("electra", "hf"):
            raise ConfigError(f"hparam head must be 'electra' or 'hf', got {self.head!r}.")
        if not isinstance(self.task_config, dict):
            raise ConfigError(f"task_config entries must be JSON objects, got {type(self.task_config).__name__}.")

    @classmethod
    def from_config(cls, config, task_name: str) -> "TaskOptions":
        """The options of task ``task_name`` under a FinetuningConfig."""
        entry = config.task_config.get(task_name, {}) if isinstance(config.task_config, dict) else {}
        if not isinstance(entry, dict):
            raise ConfigError(f"task_config.{task_name} must be a JSON object of task options, got {entry!r}.")
        return cls(
            raw_data_dir=config.raw_data_dir_for(task_name), max_seq_length=config.max_seq_length,
            do_lower_case=bool(config.do_lower_case), debug=bool(config.debug),
            double_unordered=bool(config.double_unordered), log_examples=bool(config.log_examples),
            max_query_length=config.max_query_length, doc_stride=config.doc_stride, n_best_size=config.n_best_size,
            max_answer_length=config.max_answer_length, qa_na_threshold=float(config.qa_na_threshold),
            task_config=dict(entry or {}), tfds_data_dir=config.tfds_data_dir, head=config.head,
            head_options={k: getattr(config, k) for k in QA_HEAD_OPTIONS},
            text_windows=bool(config.text_windows), window_stride=config.window_stride,
            window_aggregation=config.window_aggregation)
