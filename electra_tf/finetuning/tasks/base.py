"""The Task abstraction (as in the original finetune/task.py) and the task registry.

A task knows its files, reads examples, turns them into fixed-length features, builds its head
on top of the shared encoder, computes per-example losses (the original's semantics), and
scores predictions. Features of all tasks share ``input_ids``, ``input_mask``, ``segment_ids``
and ``task_id``; task-specific features are prefixed with the task name, as in the original.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from electra_tf.errors import ConfigError, DataError, closest

TaskFactory = Callable[..., "Task"]
_REGISTRY: Dict[str, TaskFactory] = {}


def register(name: str, factory: TaskFactory) -> None:
    _REGISTRY[name] = factory


def registered_tasks() -> List[str]:
    return sorted(_REGISTRY)


def get_task(config, name: str, tokenizer) -> "Task":
    """Build the task called ``name`` (a registered task, or a generic one from task_config)."""
    from electra_tf.finetuning.tasks import generic  # noqa: F401  (registers generic task types)

    spec = config.task_config.get(name) if isinstance(config.task_config, dict) else None
    if spec is not None and "type" in spec:
        return generic.build_generic_task(config, name, tokenizer, spec)
    if name not in _REGISTRY:
        raise ConfigError(
            f"Unknown task {name!r}.{closest(name, _REGISTRY)} Known tasks: {', '.join(registered_tasks())}; "
            f"or define it in the hparam task_config, e.g. {{\"task_config\": {{\"{name}\": {{\"type\": \"tsv\", ...}}}}}}."
        )
    return _REGISTRY[name](config, name, tokenizer)


@dataclasses.dataclass
class Example:
    """One raw example; ``eid`` is its index in the split, ``source`` where it came from."""

    eid: int
    task_name: str
    fields: Dict[str, Any]
    source: str = ""


FeatureSpec = Dict[str, Tuple[Tuple[int, ...], str]]  # name -> (shape, "int64" | "float32")


class Task:
    """Base class of fine-tuning tasks."""

    kind = "base"
    #: the head's weight-name prefix in the matching single-task model class
    head_prefix = "classifier"
    #: the single-task model class a fine-tuned model of this task exports to
    model_type = "sequence-classification"

    def __init__(self, config, name: str, tokenizer):
        self.config = config
        self.name = name
        self.tokenizer = tokenizer

    # ----------------------------------------------------------------- data
    def raw_data_dir(self) -> str:
        return self.config.raw_data_dir_for(self.name)

    def split_file(self, split: str, candidates: Sequence[str], required: bool = True) -> Optional[str]:
        """The first existing file among ``candidates`` in the task's data folder."""
        folder = self.raw_data_dir()
        for candidate in candidates:
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
        if required:
            if not os.path.isdir(folder):
                raise DataError(
                    f"Task {self.name}: data folder {folder} does not exist; put the {split} file "
                    f"({' or '.join(candidates)}) there (the layout is <data-dir>/finetuning_data/<task>/)."
                )
            raise DataError(f"Task {self.name}: no {split} file in {folder}; expected {' or '.join(candidates)}.")
        return None

    def has_split(self, split: str) -> bool:
        raise NotImplementedError

    def data_files(self, split: str) -> List[str]:
        """The files the examples of ``split`` are read from (they key the feature cache)."""
        raise NotImplementedError

    def get_examples(self, split: str) -> List[Example]:
        raise NotImplementedError

    def test_splits(self) -> List[str]:
        return ["test"]

    # ----------------------------------------------------------------- features
    def feature_spec(self) -> FeatureSpec:
        raise NotImplementedError

    def featurize(self, examples: List[Example], is_training: bool) -> List[Dict[str, Any]]:
        raise NotImplementedError

    # ----------------------------------------------------------------- model
    def build_head(self, model_config, head_type: str):
        raise NotImplementedError

    def head_outputs(self, head, sequence_output, features, training: bool) -> Dict[str, Any]:
        raise NotImplementedError

    def per_example_loss(self, head, outputs, features):
        raise NotImplementedError

    def lr_multiplier_overrides(self, base_lr: float) -> Dict[str, float]:
        """Learning-rate multipliers for some of this task's weights (e.g. a CRF's own rate)."""
        return {}

    # ----------------------------------------------------------------- scoring
    def get_scorer(self, split: str):
        raise NotImplementedError

    def update_scorer(self, scorer, outputs: Dict[str, np.ndarray], features: Dict[str, np.ndarray], loss: float) -> None:
        raise NotImplementedError

    def write_predictions(self, split: str, scorer, path: str) -> None:
        """Optional human-readable predictions of an evaluated split (tagging: CoNLL files)."""

    #: folder suffix of write_predictions files under results/ (None: the task writes none)
    predictions_folder: Optional[str] = None

    def prediction_for_output(self, outputs: Dict[str, np.ndarray]):
        """What write_test_outputs stores per example (the original: logits / predictions)."""
        return outputs

    @property
    def checkpoint_metric(self) -> str:
        return "accuracy"


def gc_paused(featurize: Callable) -> Callable:
    """Run a featurizer with Python's cyclic garbage collector paused.

    Featurization allocates millions of small lists (three per feature of max_seq_length ints)
    and no reference cycles; the collector's repeated full scans of the growing feature list
    made a 100k-sentence set take about nine times as long. Memory is still freed by reference
    counting; the collector's previous state is restored afterwards.
    """

    @functools.wraps(featurize)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return featurize(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def pad_sequence(values: Sequence[int], length: int, pad: int = 0) -> List[int]:
    return list(values) + [pad] * (length - len(values))


def truncate_pair(a: List, b: Optional[List], max_seq_length: int):
    """The original's truncation: pop from the longer sequence (from b on ties) until the pair
    fits max_seq_length - 3; a single sentence is cut to max_seq_length - 2."""
    if b is None:
        return a[: max_seq_length - 2], None
    a, b = list(a), list(b)
    while len(a) + len(b) > max_seq_length - 3:
        (a if len(a) > len(b) else b).pop()
    return a, b


def encode_pair_ids(ids_a: List[int], ids_b: Optional[List[int]], cls_id: int, sep_id: int, max_seq_length: int):
    """[CLS] a [SEP] (b [SEP]) as ids -> (input_ids, input_mask, segment_ids), truncated and padded with 0."""
    if ids_b is None:  # the common case, kept lean: it runs once per example
        ids = [cls_id, *ids_a[: max_seq_length - 2], sep_id]
        n = len(ids)
        padding = [0] * (max_seq_length - n)
        return ids + padding, [1] * n + padding, [0] * max_seq_length
    ids_a, ids_b = truncate_pair(ids_a, ids_b, max_seq_length)
    ids = [cls_id, *ids_a, sep_id, *ids_b, sep_id]
    n_a, n = len(ids_a) + 2, len(ids)
    padding = [0] * (max_seq_length - n)
    return ids + padding, [1] * n + padding, [0] * n_a + [1] * (n - n_a) + padding


def encode_pair(tokenizer, tokens_a: List[str], tokens_b: Optional[List[str]], max_seq_length: int):
    """[CLS] a [SEP] (b [SEP]) -> (input_ids, input_mask, segment_ids, tokens), padded with 0."""
    tokens_a, tokens_b = truncate_pair(tokens_a, tokens_b, max_seq_length)
    ids, mask, segments = encode_pair_ids(
        tokenizer.convert_tokens_to_ids(tokens_a), None if tokens_b is None else tokenizer.convert_tokens_to_ids(tokens_b),
        tokenizer.special_id("[CLS]"), tokenizer.special_id("[SEP]"), max_seq_length)
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + ([] if tokens_b is None else tokens_b + ["[SEP]"])
    return ids, mask, segments, tokens
