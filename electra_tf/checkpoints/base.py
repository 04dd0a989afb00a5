"""The interface every checkpoint format implements (see ``registry.py`` for the table of formats).

A format knows how to recognise its files, read the ElectraConfig stored with (or implied by)
them, read the weights as a *canonical state* (canonical HF-style name -> numpy array in Keras
layout) plus the names it deliberately skipped with the reason, and write a model. It never
builds a model class itself: building is the job of ``electra_tf.modeling`` (``from_pretrained``),
which assigns the canonical state with ``checkpoints.state.assign_state``. A format whose weights
can only be read through the writing class (our Keras format) gets the model classes passed in.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError

#: canonical state and skip reasons, as every reader returns them
StateAndSkips = Tuple[Dict[str, np.ndarray], Dict[str, str]]


#: the fix a damaged file of a model directory's own names
RESTORE_FIX = "restore the file from the model's source."


def recorded_model_type(config_data) -> Optional[str]:
    """``electra_tf.model_type`` of a parsed config.json (written by electra-tf), or None when the
    value is not there or the file's structure is not the expected one."""
    section = config_data.get("electra_tf") if isinstance(config_data, dict) else None
    model_type = section.get("model_type") if isinstance(section, dict) else None
    return model_type if isinstance(model_type, str) else None


class CheckpointFormat:
    """One checkpoint format. Subclasses set ``name`` and implement the methods below.

    ``writable`` is False for formats only other tools write (the fine-tuning training
    checkpoint); ``write`` then raises a CheckpointError saying what to use instead.
    """

    #: the name used by ``save_pretrained(format=...)`` and ``convert_checkpoint.py --to``
    name: str = ""
    #: one line for help texts
    description: str = ""
    writable: bool = True

    def detect(self, path: str) -> bool:
        """Whether ``path`` holds a checkpoint of this format (and of no other)."""
        raise NotImplementedError

    def read_config(self, path: str, model_type: str = "base", config: Optional[ElectraConfig] = None,
                    task_name: Optional[str] = None) -> ElectraConfig:
        """The config of the ``model_type`` model stored at ``path``.

        A given ``config`` replaces the stored one (formats that can, check it against the
        weights' shapes and adapt it to a fine-tuned head found in the checkpoint).
        """
        raise NotImplementedError

    def read_state(self, path: str, config: ElectraConfig, model_type: str = "base", task_name: Optional[str] = None,
                   model_classes: Optional[Mapping[str, type]] = None) -> StateAndSkips:
        """(canonical state, skipped name -> reason) of the weights a ``model_type`` model takes."""
        raise NotImplementedError

    def read(self, path: str, config: Optional[ElectraConfig] = None, model_type: str = "base",
             task_name: Optional[str] = None, model_classes: Optional[Mapping[str, type]] = None):
        """(config, canonical state, skip reasons): ``read_config`` then ``read_state``."""
        config = self.read_config(path, model_type=model_type, config=config, task_name=task_name)
        state, skipped = self.read_state(path, config, model_type=model_type, task_name=task_name,
                                         model_classes=model_classes)
        return config, state, skipped

    def model_type(self, path: str) -> str:
        """The model type the checkpoint holds (its head); a pre-trained checkpoint is "pretraining"."""
        return "pretraining"

    def write(self, model, path: str, **options) -> str:
        """Write ``model`` (built) at ``path``; options a format does not use are ignored."""
        raise CheckpointError(f"The {self.name!r} checkpoint format cannot be written.")
