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
from electra_tf.ragged import segment_positions

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
        """Features of ``examples``: per feature a dict from the names of ``feature_spec`` (and the
        shared ones) to ints, floats, lists or NumPy arrays of the spec's size. Other keys (QA's
        tokens and maps for decoding) are not written to the TFRecord."""
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


def truncated_pair_lengths(len_a: np.ndarray, len_b: np.ndarray, has_b: np.ndarray, max_seq_length: int):
    """The lengths ``truncate_pair`` leaves, for many pairs at once.

    Popping from the longer sequence (from b on ties) until the pair fits ``budget`` keeps the
    shorter one whole if the longer one can absorb the cut, and otherwise leaves
    ceil(budget / 2) for a and floor(budget / 2) for b.
    """
    budget = max_seq_length - 3
    cut_a = np.minimum(len_a, np.maximum((budget + 1) // 2, budget - len_b))
    over = has_b & (len_a + len_b > budget)
    kept_a = np.where(has_b, np.where(over, cut_a, len_a), np.minimum(len_a, max_seq_length - 2))
    kept_b = np.where(has_b, np.where(over, budget - cut_a, len_b), 0)
    return kept_a, kept_b


def _scatter_rows(out: np.ndarray, ids: np.ndarray, lengths: np.ndarray, kept: np.ndarray, first_column: np.ndarray):
    """Write the first ``kept[r]`` of row r's ``lengths[r]`` ids (concatenated in ``ids``) into
    ``out[r]`` from column ``first_column[r]`` on."""
    source = segment_positions(np.cumsum(lengths) - lengths, kept)
    target = segment_positions(np.arange(len(lengths)) * out.shape[1] + first_column, kept)
    out.reshape(-1)[target] = ids[source]


def encode_pairs(ids_a: np.ndarray, lengths_a: np.ndarray, ids_b: Optional[np.ndarray], lengths_b: Optional[np.ndarray],
                 has_b: Optional[np.ndarray], cls_id: int, sep_id: int, max_seq_length: int):
    """[CLS] a [SEP] (b [SEP]) for many examples -> (input_ids, input_mask, segment_ids), each an
    int32 array (examples, max_seq_length), truncated as the original and padded with 0.

    ``ids_a`` holds every example's a-ids end to end (``lengths_a`` per example); ``ids_b`` and
    ``lengths_b`` likewise for the examples where ``has_b`` (lengths 0 elsewhere), or None for
    single sentences.
    """
    n = len(lengths_a)
    if ids_b is None:
        ids_b, lengths_b, has_b = np.zeros(0, np.int32), np.zeros(n, np.int64), np.zeros(n, bool)
    kept_a, kept_b = truncated_pair_lengths(lengths_a, lengths_b, has_b, max_seq_length)
    input_ids = np.zeros((n, max_seq_length), np.int32)
    rows = np.arange(n)
    input_ids[:, 0] = cls_id
    _scatter_rows(input_ids, ids_a, lengths_a, kept_a, np.ones(n, np.int64))
    input_ids[rows, kept_a + 1] = sep_id
    _scatter_rows(input_ids, ids_b, lengths_b, kept_b, kept_a + 2)
    used = kept_a + 2 + np.where(has_b, kept_b + 1, 0)
    input_ids[rows[has_b], used[has_b] - 1] = sep_id
    columns = np.arange(max_seq_length)
    input_mask = (columns < used[:, None]).astype(np.int32)
    segment_ids = np.zeros_like(input_ids)
    if has_b.any():
        segment_ids[(columns >= kept_a[:, None] + 2) & (columns < used[:, None]) & has_b[:, None]] = 1
    return input_ids, input_mask, segment_ids


def encode_pair_ids(ids_a: List[int], ids_b: Optional[List[int]], cls_id: int, sep_id: int, max_seq_length: int):
    """``encode_pairs`` for one example, as lists."""
    no_b = ids_b is None
    arrays = encode_pairs(np.asarray(ids_a, np.int32), np.array([len(ids_a)]),
                          None if no_b else np.asarray(ids_b, np.int32), None if no_b else np.array([len(ids_b)]),
                          None if no_b else np.array([True]), cls_id, sep_id, max_seq_length)
    return tuple(array[0].tolist() for array in arrays)


def encode_pair(tokenizer, tokens_a: List[str], tokens_b: Optional[List[str]], max_seq_length: int):
    """[CLS] a [SEP] (b [SEP]) -> (input_ids, input_mask, segment_ids, tokens), padded with 0."""
    tokens_a, tokens_b = truncate_pair(tokens_a, tokens_b, max_seq_length)
    ids, mask, segments = encode_pair_ids(
        tokenizer.convert_tokens_to_ids(tokens_a), None if tokens_b is None else tokenizer.convert_tokens_to_ids(tokens_b),
        tokenizer.special_id("[CLS]"), tokenizer.special_id("[SEP]"), max_seq_length)
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + ([] if tokens_b is None else tokens_b + ["[SEP]"])
    return ids, mask, segments, tokens
