"""The task metadata of a fine-tuned model directory (``task.json``): what every consumer of a
trained model needs to use it the way training did.

A run's model directory holds the weights and the encoder config (``config.json``, electra-tf
or HF layout), the tokenizer files (``vocab.txt`` or a SentencePiece model, plus
``tokenizer_config.json``) and this file, versioned::

    {"format_version": 1, "task_name": "cmrc2018", "family": "qa",
     "model_type": "question-answering", "labels": null, "max_seq_length": 512,
     "tokenizer": {"file": "vocab.txt", "do_lower_case": false, "space_token": null},
     "qa": {"max_query_length": 64, "doc_stride": 128, ...},
     "trained": {"run": ".../cmrc2018_model_1", "trial": 1, "seed": 7, "global_step": 1234,
                 "mixed_precision": "mixed_bfloat16"}}

``trained.mixed_precision`` is the Keras dtype policy the run trained and evaluated with
(``"auto"`` resolved); predict.py computes under it by default, so that its predictions are the
run's own. Directories written before it was recorded were evaluated in float32.

The family section holds the family's settings (``classification``: problem and regression
scale; ``tagging``: scheme, encoding, segment id, truncation, lowercasing, CRF and constrained
decoding; ``qa``: query length, stride, n-best size, answer length, null threshold, v2, the
head and its options). predict.py, the SavedModel export, the converter and from_pretrained
read it; their flags only override it.

A model directory must not mislead: opening one (``TaskMetadata.read`` / ``metadata_for``, then
``check_model_directory`` in ``from_pretrained``, the one place predict, the exports and the
converter load a model through) refuses a tokenizer file named outside the directory, a
vocabulary with more tokens than the model's embeddings (its ids would fail inside the model),
and labels that disagree with the classifier's outputs or config.json's ``id2label``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional

from electra_tf.errors import CheckpointError
from electra_tf.model_dir.layout import METADATA_FILE
from electra_tf.utils.files import read_json_file, read_json_or_none
FORMAT_VERSION = 1
#: the compute policy of a model directory whose task.json does not record one (written before
#: ``trained.mixed_precision`` existed: those runs evaluated in float32)
DEFAULT_TRAINED_PRECISION = "float32"
#: the fine-tuning families by the model type they train: the one line a new family adds outside its
#: folder (``finetuning/<family>/family.py`` describes the rest, see finetuning/families.py)
MODEL_TYPE_FAMILY = {"sequence-classification": "classification", "token-classification": "tagging",
                     "question-answering": "qa"}
FAMILIES = tuple(MODEL_TYPE_FAMILY.values())


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
    trained: Dict[str, Any] = dataclasses.field(default_factory=dict)  # run, trial, seed, global_step, mixed_precision
    format_version: int = FORMAT_VERSION
    #: the file the metadata was read from, for error messages (not written)
    source: str = dataclasses.field(default=METADATA_FILE, compare=False, repr=False)

    @property
    def trained_precision(self) -> str:
        """The Keras dtype policy the run trained and evaluated with (``trained.mixed_precision``),
        float32 where the directory does not record it."""
        return str(self.trained.get("mixed_precision") or DEFAULT_TRAINED_PRECISION)

    @property
    def do_lower_case(self) -> bool:
        """The tokenizer's lowercasing (recorded in the tokenizer section; True when it is not)."""
        return bool(self.tokenizer.get("do_lower_case", True))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form task.json stores (the family section under the family's name)."""
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
        expected_family = MODEL_TYPE_FAMILY.get(data["model_type"])
        if expected_family != data["family"]:
            known = ", ".join(f"{t} ({f})" for t, f in MODEL_TYPE_FAMILY.items())
            raise CheckpointError(f"{source}: model_type {data['model_type']!r} does not fit family {data['family']!r}; "
                                  f"expected one of {known}. Re-export the model or correct the file.")
        length = data["max_seq_length"]
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise CheckpointError(f"{source}: max_seq_length must be a positive integer, got {length!r}.")
        labels = data.get("labels")
        if labels is not None and (not isinstance(labels, list) or
                                   not all(isinstance(l, str) or (isinstance(l, int) and not isinstance(l, bool))
                                           for l in labels)):
            raise CheckpointError(f"{source}: labels must be a list of label names (or null), got {labels!r}.")
        tokenizer = data.get("tokenizer") or {}
        if not isinstance(tokenizer, dict):
            raise CheckpointError(f"{source}: tokenizer must be an object (file, do_lower_case, space_token).")
        _check_tokenizer_file(tokenizer.get("file"), source)
        return cls(task_name=data["task_name"], family=data["family"], model_type=data["model_type"],
                   max_seq_length=length, labels=labels, tokenizer=dict(tokenizer),
                   settings=dict(data.get(data["family"]) or {}), trained=dict(data.get("trained") or {}),
                   format_version=version, source=source)

    def write(self, directory: str) -> str:
        """Write ``directory``/task.json (atomically); returns its path."""
        from electra_tf.utils.files import atomic_write_json

        path = os.path.join(directory, METADATA_FILE)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def read(cls, directory: str) -> Optional["TaskMetadata"]:
        """The metadata of a model directory, or None when it has no ``task.json``."""
        path = os.path.join(directory, METADATA_FILE)
        data = read_json_file(path, CheckpointError, "re-export the model or restore the file.")
        return None if data is None else cls.from_dict(data, path)

    @staticmethod
    def stored(directory: str) -> Optional[Dict[str, Any]]:
        """The JSON object ``directory``'s task.json holds as stored, unvalidated; None when it
        is missing or unreadable (a rerun's up-to-date check compares it with what it would write)."""
        return read_json_or_none(os.path.join(directory, METADATA_FILE))

    def tokenizer_path(self, directory: str) -> Optional[str]:
        """The model directory's tokenizer file named by the metadata (vocab.txt / *.model); a
        name that leaves the directory is a CheckpointError (a model directory is self-contained)."""
        name = self.tokenizer.get("file")
        _check_tokenizer_file(name, self.source)
        path = os.path.join(directory, name) if name else None
        return path if path and os.path.isfile(path) else None


def _check_tokenizer_file(name, source: str) -> None:
    """Refuse a tokenizer ``file`` that is not a plain file name inside the model directory
    (``../../etc/passwd``, ``/abs/vocab.txt``, ``sub/vocab.txt``): a model directory must be
    self-contained, and reading an arbitrary file as a vocabulary gives wrong ids or leaks it.
    (A symlink inside the directory is the user's choice and stays allowed: the Hugging Face
    cache stores every file as one.)"""
    if name is None:
        return
    plain = isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name \
        and not os.path.isabs(name) and os.path.basename(name) == name
    if not plain:
        raise CheckpointError(f"{source}: tokenizer file {name!r} is not a file inside the model directory; a model "
                              f"directory must be self-contained: copy the tokenizer into it and name it there "
                              f"(e.g. \"file\": \"vocab.txt\").")


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


def model_type_of(path: str, meta: Optional[TaskMetadata]) -> str:
    """The model type a checkpoint holds: its metadata's, else the checkpoint's own (HF config's
    architectures, electra-tf model_type, TF1 head; a pre-trained checkpoint is "pretraining")."""
    if meta is not None:
        return meta.model_type
    from electra_tf.checkpoints.registry import default_model_type

    return default_model_type(path)


DEFAULT_LABEL_PREFIX = "LABEL_"  # the id2label names HF (and ElectraConfig.to_dict) write when none were given


def vocabulary_size(path: str) -> Optional[int]:
    """The number of token ids a tokenizer file defines: the lines of a vocab.txt (a token's id
    is its line number, as the original's load_vocab), the pieces of a SentencePiece model; None
    when that cannot be told here (sentencepiece not installed or the model unreadable: the
    tokenizer then reports it itself)."""
    if path.endswith(".model"):
        try:
            import sentencepiece

            return int(sentencepiece.SentencePieceProcessor(model_file=path).GetPieceSize())
        except Exception:  # noqa: BLE001  (the tokenizer names the problem when it loads the file)
            return None
    count = 0
    # text mode splits lines as the tokenizer's reading does; undecodable bytes still count as tokens
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for count, _ in enumerate(f, 1):
            pass
    return count


def check_model_directory(path: str, config, meta: Optional[TaskMetadata] = None, model_type: Optional[str] = None) -> None:
    """Refuse a model directory (or checkpoint) whose files disagree with the model itself, before
    anything runs on it: a tokenizer with more token ids than the embeddings' ``vocab_size``
    (predict, export and serving would otherwise fail inside the model with a TensorFlow error on
    the first rare word), and task metadata whose labels disagree with the classifier's output
    size or config.json's ``id2label`` (predictions would be silently mislabelled). ``config`` is
    the ElectraConfig the model was built with, ``model_type`` the class that loads it (labels are
    checked only when it is the metadata's)."""
    directory = path if os.path.isdir(path) else os.path.dirname(path) or "."
    config_json = os.path.join(directory, "config.json")
    model_source = config_json if os.path.isfile(config_json) else path
    files = []
    if meta is not None:
        named = meta.tokenizer_path(directory)
        if named:
            files.append(named)
    vocab_txt = os.path.join(directory, "vocab.txt")
    if os.path.isfile(vocab_txt) and vocab_txt not in files:
        files.append(vocab_txt)
    for file in files:
        size = vocabulary_size(file)
        if size is not None and size > config.vocab_size:
            raise CheckpointError(
                f"{file} has {size} tokens but the model in {model_source} has vocab_size {config.vocab_size}: ids "
                f"from {config.vocab_size} on would fail inside the model. Put the vocabulary the model was trained "
                f"with into {directory} (or load a model whose vocab_size covers this vocabulary).")
    if meta is not None and model_type == meta.model_type:
        _check_labels(meta, config, model_source)


def _check_labels(meta: TaskMetadata, config, model_source: str) -> None:
    """task.json's labels against the classifier's outputs (``num_labels``) and ``id2label``."""
    fix = (f"Re-export the model, or correct the labels in {meta.source} to the training labels in id order "
           f"(config.json's id2label).")
    if meta.family == "qa":
        return
    regression = meta.family == "classification" and meta.settings.get("problem") == "regression"
    if meta.labels is None:
        if not regression:
            raise CheckpointError(f"{meta.source} has no labels, but its {meta.family} model needs them to name its "
                                  f"{config.num_labels} outputs. {fix}")
        if config.num_labels != 1:
            raise CheckpointError(f"{meta.source} describes a regression model, but the model in {model_source} has "
                                  f"{config.num_labels} outputs (num_labels) instead of 1. Re-export the model.")
        return
    labels = [str(label) for label in meta.labels]
    if len(labels) != config.num_labels:
        raise CheckpointError(f"{meta.source} lists {len(labels)} labels {labels} but the model in {model_source} has "
                              f"{config.num_labels} outputs (num_labels). {fix}")
    id2label = getattr(config, "id2label", None)
    if id2label:
        names = [str(id2label.get(i)) for i in range(config.num_labels)]
        if names != [f"{DEFAULT_LABEL_PREFIX}{i}" for i in range(len(names))] and names != labels:
            raise CheckpointError(f"{meta.source} lists the labels {labels} but the model's id2label in {model_source} "
                                  f"names its outputs {names}. {fix}")
