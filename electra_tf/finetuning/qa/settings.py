"""The qa section of task.json (``QASettings``): the QA defaults, written here once.

The fine-tuning hparams (TaskOptions), predict.py's flags, the decoder, the scorer and the
SavedModel's ``serve_qa`` take their defaults from this class.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict

from electra_tf.model_dir.settings import FamilySettings


@dataclasses.dataclass(frozen=True)
class QASettings(FamilySettings):
    """A QA model's windowing (query length, document stride), decoding (n-best size, answer
    length, answer mode) and no-answer threshold, whether it answers SQuAD 2.0 style (``v2``),
    and its head with the head's options."""

    max_query_length: int = 64
    doc_stride: int = 128
    n_best_size: int = 20
    max_answer_length: int = 30
    qa_na_threshold: float = -2.75
    v2: bool = False
    answer_mode: str = "offset"
    head: str = "electra"
    head_options: Dict[str, Any] = dataclasses.field(default_factory=dict)


#: the settings predict.py's flags override (and their defaults, for a directory without task.json)
QA_FLAGS = ("max_query_length", "doc_stride", "n_best_size", "max_answer_length", "qa_na_threshold")
#: the defaults, for signatures that take them one by one
DEFAULTS = QASettings()
