"""The Task abstraction (as in the original finetune/task.py) and its explicit hooks.

A task ties together one family's reader (raw files -> ``Example`` objects), preprocessor
(examples -> fixed-length features; buildable from plain settings, so a saved model can
featurize new text the same way), head builder, per-example loss and scorer. Tasks hold no
model layers: whatever decoding needs from a trained head (a CRF's transitions) is passed in as
NumPy arrays by the runner (``FinetuningModel.head_state``).

The runner asks tasks through the hooks below instead of probing types or attributes:
``supports_dynamic_padding``, ``test_outputs`` / ``prediction_folder_suffix``,
``export_info`` / ``metadata_settings``, ``cache_fields``, and the ``counters`` of the ``Features`` a featurizer returns.

Features of all tasks share ``input_ids``, ``input_mask``, ``segment_ids`` and ``task_id``;
task-specific features are prefixed with the task name, as in the original.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from electra_tf.errors import DataError
from electra_tf.finetuning.options import TaskOptions
from electra_tf.model_dir.scope import TASK_SCOPE, head_weight_prefix  # noqa: F401 (re-exported)

FeatureSpec = Dict[str, Tuple[Tuple[int, ...], str]]  # name -> (shape, "int64" | "float32")

#: the original's debug mode reads the first this many lines / sentences / questions
DEBUG_EXAMPLES = 100

#: write_test_outputs: a pickle of per-example outputs plus a TSV of labels (the original) ...
TEST_OUTPUTS_PICKLE = "pickle"
#: ... or the task's own prediction files under results/<tasks>_<prediction_folder_suffix>/
TEST_OUTPUTS_PREDICTION_FILES = "prediction_files"


def head_layer_name(task_name: str) -> str:
    """The Keras layer name of a task's head (``task_specific_<task>``, dashes as underscores)."""
    return f"{TASK_SCOPE}_{task_name.replace('-', '_')}"


def debug_subset(items: List, debug: bool) -> List:
    """The first DEBUG_EXAMPLES items in debug mode (as the original), else all."""
    return items[:DEBUG_EXAMPLES] if debug else items


@dataclasses.dataclass
class Example:
    """One raw example; ``eid`` is its index in the split, ``source`` where it came from."""

    eid: int
    task_name: str
    fields: Dict[str, Any]
    source: str = ""


class Features(list):
    """A featurizer's result: the features, plus ``counters`` for the feature metadata (e.g.
    QA's answer_position_differences), summed over the chunks of a split by prepare_split."""

    def __init__(self, features=(), counters: Optional[Dict[str, int]] = None):
        super().__init__(features)
        self.counters: Dict[str, int] = dict(counters or {})


class Preprocessor(Protocol):
    """What a family's preprocessor offers: examples -> fixed-length features. Built from plain
    settings (tokenizer, max_seq_length, labels, ...), so predict.py featurizes a saved model's
    input the way training did. Implemented by SentencePreprocessor, QAPreprocessor and
    TaggingPreprocessor."""

    def cache_fields(self) -> Dict[str, Any]:
        """The settings that change the features (part of the feature cache's key)."""

    def feature_spec(self) -> FeatureSpec:
        """{feature name: (shape, dtype)} of the task-specific features ``featurize`` returns."""

    def featurize(self, examples: List[Example], is_training: bool) -> Features:
        """The features of ``examples`` (a QA question gives one feature per window)."""


class FileReader(Protocol):
    """What a family's file reader offers the task: ``files_for(split)``, the candidate file names
    of a split (``Task.split_file`` picks the first that exists). ``read`` takes the chosen path
    plus family-specific arguments and returns the examples (the family's ``get_examples`` calls
    it). Implemented by DelimitedReader, QAReader and TaggingReader; TfdsReader reads
    tensorflow-datasets splits instead of files."""

    def files_for(self, split: str) -> Sequence[str]:
        """The file names of ``split`` to look for in the task's data folder, in order."""


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """How a fine-tuned single-task model exports to a single-task model class."""

    model_type: str  # a key of MODEL_CLASSES
    head_prefix: str  # the head's weight-name prefix in that class
    num_labels: int
    labels: Optional[List[str]] = None
    exportable: bool = True
    reason: str = ""  # why not, when not exportable


class Task:
    """Base class of fine-tuning tasks."""

    #: the head's weight-name prefix in the matching single-task model class
    head_prefix = "classifier"
    #: the single-task model class a fine-tuned model of this task exports to
    model_type = "sequence-classification"
    #: whether batches may be cut to their longest input (dynamic_padding)
    supports_dynamic_padding = True
    #: how write_test_outputs stores test predictions (TEST_OUTPUTS_*)
    test_outputs = TEST_OUTPUTS_PICKLE
    #: folder suffix of write_predictions files under results/ (None: the task writes none)
    prediction_folder_suffix: Optional[str] = None

    def __init__(self, options: TaskOptions, name: str, tokenizer):
        self.options = options
        self.name = name
        self.tokenizer = tokenizer

    #: the family's preprocessor (a ``Preprocessor``); set (or computed) by each family
    preprocessor: Optional[Preprocessor] = None

    # ----------------------------------------------------------------- data
    def raw_data_dir(self) -> str:
        """Where the task's data files are read from (``<data_dir>/finetuning_data/<task>`` by default)."""
        return self.options.raw_data_dir

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
        """Whether the data files of ``split`` exist (the runner skips a missing optional split)."""
        raise NotImplementedError

    def data_files(self, split: str) -> List[str]:
        """The files the examples of ``split`` are read from (they key the feature cache)."""
        raise NotImplementedError

    def get_examples(self, split: str) -> List[Example]:
        """The raw examples of ``split`` ("train", "dev", "test", ...), read by the task's reader."""
        raise NotImplementedError

    def test_splits(self) -> List[str]:
        """The splits predicted when test outputs are written (the original: "test")."""
        return ["test"]

    def candidate_files(self, split: str) -> Sequence[str]:
        """The file names ``split`` is looked for under, in order (none for tasks not read from files)."""
        return []

    def test_file_as(self, split: str) -> Optional[str]:
        """The file ``split`` is read from when it is one of the test split's files (a data set
        without a dev set scores its test file as dev, as KoELECTRA reports NSMC and Naver NER), else None."""
        if split.startswith("test") or not self.has_split(split):
            return None
        files = self.data_files(split)
        if files and os.path.basename(files[0]) in set(self.candidate_files("test")):
            return files[0]
        return None

    def evaluated_data(self, split: str) -> Dict[str, Any]:
        """What an evaluation of ``split`` read, for the results files: its files and whether they are the test set."""
        files = self.data_files(split) if self.has_split(split) else []
        return {"files": [os.path.abspath(f) for f in files[:1]], "test_set": self.test_file_as(split) is not None}

    def notes(self) -> List[str]:
        """Decisions of this task the user should read in the log (the runner logs them before
        training): here, a test file scored as dev. Families add their own (e.g. doubled pairs)."""
        test_as_dev = self.test_file_as("dev")
        if test_as_dev is None:
            return []
        return [f"{self.name}: there is no dev file in {self.raw_data_dir()}, so the test file {test_as_dev} is scored "
                f"as \"dev\" (KoELECTRA reports this data set's test figures the same way). The dev results are "
                f"test-set results: results.json records the file under \"evaluated\"; add a dev.* file to score a "
                f"real dev set, and do not tune settings on these figures."]

    # ----------------------------------------------------------------- features
    def feature_spec(self) -> FeatureSpec:
        """{feature name: (shape, dtype)} of this task's own features (the preprocessor's spec)."""
        return self.preprocessor.feature_spec()

    def featurize(self, examples: List[Example], is_training: bool) -> Features:
        """Features of ``examples``: per feature a dict from the names of ``feature_spec`` (and the
        shared ones) to ints, floats, lists or NumPy arrays of the spec's size. Other keys (QA's
        tokens and maps for decoding) are not written to the TFRecord."""
        return self.preprocessor.featurize(examples, is_training)

    def reader_cache_fields(self) -> Dict[str, Any]:
        """Reader settings that change the examples (beyond the data files' contents)."""
        return {"task_config": self.options.task_config, "debug": self.options.debug}

    def cache_fields(self) -> Dict[str, Any]:
        """Everything besides data files, vocabulary and split that this task's features depend
        on: the preprocessor's declared settings and the reader's."""
        return {"preprocessor": type(self.preprocessor).__name__, **self.preprocessor.cache_fields(),
                **self.reader_cache_fields()}

    # ----------------------------------------------------------------- model
    def build_head(self, model_config):
        """A new head layer for this task in a model of ``model_config``."""
        raise NotImplementedError

    def head_outputs(self, head, sequence_output, features, training: bool) -> Dict[str, Any]:
        """Run ``head`` on the encoder's ``sequence_output``: {output name: tensor} for the loss and the scorer."""
        raise NotImplementedError

    def per_example_loss(self, head, outputs, features):
        """[B] loss of each example under this task's head (the runner selects each example's own task)."""
        raise NotImplementedError

    def head_state(self, head) -> Dict[str, np.ndarray]:
        """What decoding needs from the trained head, as NumPy arrays (default: nothing)."""
        return {}

    def lr_multiplier_overrides(self, base_lr: float) -> Dict[str, float]:
        """Learning-rate multipliers for some of this task's weights (e.g. a CRF's own rate)."""
        return {}

    def export_info(self) -> ExportInfo:
        """The single-task model class, head prefix and labels of an export."""
        raise NotImplementedError

    #: the metadata family of this task's model directory (task_metadata.FAMILIES)
    family = "classification"

    def metadata_settings(self) -> Dict[str, Any]:
        """The family section of the model directory's task.json: what predicting, serving and
        decoding need beyond the labels and max_seq_length (see task_metadata)."""
        return {}

    # ----------------------------------------------------------------- scoring
    def get_scorer(self, split: str, head_state: Optional[Dict[str, np.ndarray]] = None):
        """A fresh scorer for ``split``; ``head_state`` is ``head_state(head)`` of the trained model."""
        raise NotImplementedError

    def update_scorer(self, scorer, outputs: Dict[str, np.ndarray], features: Dict[str, np.ndarray], loss: float) -> None:
        """Add one batch's NumPy ``outputs``, ``features`` and mean ``loss`` to ``scorer``."""
        raise NotImplementedError

    def write_predictions(self, split: str, scorer, path: str) -> None:
        """Human-readable predictions of an evaluated split (tagging: CoNLL files, QA: JSON)."""

    def example_rows(self, rows: List[Tuple[Dict[str, Any], Dict[str, Any]]]) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
        """One (outputs, features) row per example from an evaluation's rows, one per feature
        (sentence tasks with text_windows aggregate their windows; default: the rows as they are)."""
        return rows

    def prediction_for_output(self, outputs: Dict[str, np.ndarray]):
        """What write_test_outputs stores per example (the original: logits / predictions)."""
        return outputs

    def label_of(self, outputs) -> str:
        """Human-readable prediction for the TSV of test outputs."""
        return str(self.prediction_for_output(outputs))


class FileTask(Task):
    """A task whose splits are files of its data folder: ``reader`` (a ``FileReader``) names each
    split's candidate files, and the first that exists is the split's file."""

    #: the family's file reader; set by each family's constructor
    reader: FileReader

    def candidate_files(self, split: str) -> Sequence[str]:
        return self.reader.files_for(split)

    def split_path(self, split: str, required: bool = True) -> Optional[str]:
        """The file ``split`` is read from (None when it is missing and not ``required``)."""
        return self.split_file(split, self.candidate_files(split), required=required)

    def has_split(self, split: str) -> bool:
        return self.split_path(split, required=False) is not None

    def data_files(self, split: str) -> List[str]:
        return [self.split_path(split)]
