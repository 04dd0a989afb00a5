"""The task metadata of a fine-tuned model directory (``task.json``): what every consumer of a
trained model needs to use it the way training did.

A run's model directory holds the weights and the encoder config (``config.json``, electra-tf
or HF layout), the tokenizer files (``vocab.txt`` or a SentencePiece model, plus
``tokenizer_config.json``) and this file, versioned::

    {"format_version": 1, "task_name": "cmrc2018", "family": "qa",
     "model_type": "question-answering", "labels": null, "max_seq_length": 512,
     "tokenizer": {"file": "vocab.txt", "do_lower_case": false, "space_token": null},
     "qa": {"max_query_length": 64, "doc_stride": 128, ...},
     "trained": {"run": ".../cmrc2018_model_1", "trial": 1, "step": 1234, "hparams": {...}}}

The family section holds the family's settings (``classification``: problem and regression
scale; ``tagging``: scheme, encoding, segment id, truncation, lowercasing, CRF and constrained
decoding; ``qa``: query length, stride, n-best size, answer length, null threshold, v2, the
head and its options). predict.py, the SavedModel export, the converter and from_pretrained
read it; their flags only override it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from electra_tf.errors import CheckpointError

METADATA_FILE = "task.json"
FORMAT_VERSION = 1
FAMILIES = ("classification", "tagging", "qa")
MODEL_TYPE_FAMILY = {"sequence-classification": "classification", "token-classification": "tagging",
                     "question-answering": "qa"}


@dataclasses.dataclass
class TaskMetadata:
    """One trained task's metadata; ``settings`` is the family section."""

    task_name: str
    family: str  # one of FAMILIES
    model_type: str  # a key of modeling.models.MODEL_CLASSES
    max_seq_length: int
    labels: Optional[List[str]] = None
    tokenizer: Dict[str, Any] = dataclasses.field(default_factory=dict)  # file, do_lower_case, space_token
    settings: Dict[str, Any] = dataclasses.field(default_factory=dict)
    trained: Dict[str, Any] = dataclasses.field(default_factory=dict)  # run, trial, step, hparams
    format_version: int = FORMAT_VERSION

    @property
    def do_lower_case(self) -> bool:
        return bool(self.tokenizer.get("do_lower_case", True))

    def to_dict(self) -> Dict[str, Any]:
        return {"format_version": self.format_version, "task_name": self.task_name, "family": self.family,
                "model_type": self.model_type, "labels": self.labels, "max_seq_length": self.max_seq_length,
                "tokenizer": self.tokenizer, self.family: self.settings, "trained": self.trained}

    @classmethod
    def from_dict(cls, data: Dict[str, Any], source: str = METADATA_FILE) -> "TaskMetadata":
        """Validated metadata from its JSON form; a newer format or a missing key is a clear error."""
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: expected a JSON object.")
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise CheckpointError(f"{source}: format_version {version!r} is not one this electra-tf reads "
                                  f"(<= {FORMAT_VERSION}); upgrade electra-tf or re-export the model.")
        missing = [k for k in ("task_name", "family", "model_type", "max_seq_length") if k not in data]
        if missing:
            raise CheckpointError(f"{source}: missing {', '.join(missing)}.")
        if data["family"] not in FAMILIES:
            raise CheckpointError(f"{source}: unknown family {data['family']!r}; expected one of {', '.join(FAMILIES)}.")
        return cls(task_name=data["task_name"], family=data["family"], model_type=data["model_type"],
                   max_seq_length=int(data["max_seq_length"]), labels=data.get("labels"),
                   tokenizer=dict(data.get("tokenizer") or {}), settings=dict(data.get(data["family"]) or {}),
                   trained=dict(data.get("trained") or {}), format_version=version)

    def write(self, directory: str) -> str:
        from electra_tf.io_utils import atomic_write_json

        path = os.path.join(directory, METADATA_FILE)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def read(cls, directory: str) -> Optional["TaskMetadata"]:
        """The metadata of a model directory, or None when it has no ``task.json``."""
        path = os.path.join(directory, METADATA_FILE)
        if not os.path.isfile(path):
            return None
        try:
            with open(path, encoding="utf-8-sig") as f:
                data = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} is not valid JSON ({e}); re-export the model or restore the file.") from None
        return cls.from_dict(data, path)

    def tokenizer_path(self, directory: str) -> Optional[str]:
        """The model directory's tokenizer file named by the metadata (vocab.txt / *.model)."""
        name = self.tokenizer.get("file")
        path = os.path.join(directory, name) if name else None
        return path if path and os.path.isfile(path) else None


def metadata_for(path: str, task_name: Optional[str] = None) -> Optional[TaskMetadata]:
    """The task metadata travelling with a checkpoint: a model directory's task.json, or for a
    fine-tuning training checkpoint (``ckpt-N`` or its run folder) the run's tasks.json entry of
    ``task_name`` (or of its only task); None for checkpoints without any (pre-trained models)."""
    from electra_tf.checkpoints import tf1
    from electra_tf.checkpoints.registry import detect_format
    from electra_tf.checkpoints.training import TrainingCheckpointFormat, run_task_entry

    if os.path.isdir(path):
        found = TaskMetadata.read(path)
        if found is not None:
            return found
    if detect_format(path).name != TrainingCheckpointFormat.name:
        return None
    entry = run_task_entry(tf1.resolve_checkpoint_prefix(path), task_name)
    return TaskMetadata.from_dict(entry, path) if entry else None
