"""The tagging section of task.json (``TaggingSettings``), its defaults written once."""

from __future__ import annotations

import dataclasses
from typing import Optional

from electra_tf.model_dir.settings import FamilySettings


@dataclasses.dataclass(frozen=True)
class TaggingSettings(FamilySettings):
    """How a tagger was trained and how its predictions are written: the data's tag scheme and
    the training encoding (``output_tags`` re-encodes predictions in the scheme), whether the
    task is token-level, the segment id of the words, truncation and window overlap, labelling
    of every piece, lowercasing of words (None: the tokenizer's do_lower_case), the CRF and its
    constrained decoding."""

    scheme: str = "iob2"
    encoding: str = "keep"
    token_level: bool = False
    segment_id: int = 1
    truncation: str = "window"
    window_overlap: Optional[int] = None
    label_all_tokens: bool = False
    lowercase: Optional[bool] = None
    use_crf: bool = False
    constrained_decoding: bool = False

    def word_lowercase(self, do_lower_case: bool) -> bool:
        """Whether words are lowercased: the section's ``lowercase``, else the tokenizer's."""
        return bool(do_lower_case if self.lowercase is None else self.lowercase)
