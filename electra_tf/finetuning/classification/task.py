"""SentenceTask: a classification / regression / multi-label task described by a SentenceTaskSpec.

Heads follow the original (``[CLS]`` -> dropout 0.1 -> one dense layer) unless ``head`` is "hf".
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
from keras import ops

from electra_tf.errors import ConfigError, check_known_keys
from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor
from electra_tf.finetuning.classification.reader import DelimitedReader, TfdsReader
from electra_tf.finetuning.classification.scorers import (
    ClassificationScorer,
    MultiLabelScorer,
    RegressionScorer,
    WindowScorer,
    multi_label_decisions,
)
from electra_tf.finetuning.classification.spec import Columns, SentenceTaskSpec
from electra_tf.finetuning.options import TaskOptions
from electra_tf.finetuning.task import Example, ExportInfo, FileTask, head_layer_name
from electra_tf.modeling.losses import per_example_cross_entropy, sigmoid_cross_entropy


def build_sentence_head(model_config, head_type: str, num_labels: int, task_name: str):
    """The original classification head (or HF's), named for the task's scope."""
    from electra_tf.modeling.heads import HFClassificationHead, OriginalClassificationHead

    cfg = model_config.replace(num_labels=num_labels, head=head_type)
    cls = OriginalClassificationHead if head_type == "electra" else HFClassificationHead
    return cls(cfg, name=head_layer_name(task_name))


class SentenceTask(FileTask):
    """A classification / regression / multi-label task described by a SentenceTaskSpec."""

    def __init__(self, options: TaskOptions, name: str, tokenizer, spec: SentenceTaskSpec, reader=None):
        super().__init__(options, name, tokenizer)
        self.spec = spec
        self.is_regression = spec.regression
        self.reader = reader or DelimitedReader(spec, name, debug=options.debug,
                                                skip_malformed=bool(options.task_config.get("skip_malformed_lines", False)),
                                                double_unordered=options.double_unordered)
        self.preprocessor = SentencePreprocessor(tokenizer, options.max_seq_length, name, spec.labels, spec.problem,
                                                 log_examples=options.log_examples, text_windows=options.text_windows,
                                                 window_stride=options.window_stride)
        self.windowed = bool(options.text_windows)  # the hparam; off: the original's truncation

    @property
    def label_list(self) -> List[str]:
        return list(self.spec.labels or [])

    @property
    def label_map(self) -> Dict[str, int]:
        return self.preprocessor.label_map

    @property
    def num_labels(self) -> int:
        return self.preprocessor.num_labels

    def set_labels(self, labels: List[str]) -> None:
        self.spec.labels = list(labels)
        self.preprocessor.set_labels(labels)

    def infer_labels(self) -> None:
        """Labels = sorted set of the training file's labels (generic tasks without a label list)."""
        self.set_labels(self.reader.infer_labels(self.split_path("train")))

    def test_splits(self) -> List[str]:
        return list(self.spec.test_splits)

    def notes(self) -> List[str]:
        notes = super().notes()
        if self.reader.double:
            # The original's double_unordered (MRPC, STS): every training pair also in the order (b, a).
            notes.append(
                f"{self.name}: training on both sentence orders: each training pair (a, b) is also added as (b, a), "
                f"so the training set and the steps per epoch double, as the original does for MRPC and STS "
                f"(hparam double_unordered, default true){self.spec.note}. Set \"double_unordered\": false to train "
                f"on the pairs as given.")
        return notes

    # ----------------------------------------------------------------- reading
    def get_examples(self, split: str) -> List[Example]:
        return self.reader.read(self.split_path(split), split)

    def reader_cache_fields(self):
        return {**super().reader_cache_fields(), "double_unordered": self.reader.double}

    # ----------------------------------------------------------------- model
    def build_head(self, model_config):
        return build_sentence_head(model_config, self.options.head, self.num_labels, self.name)

    def head_outputs(self, head, sequence_output, features, training):
        logits = head(sequence_output, training=training)
        if self.is_regression:
            return {"predictions": ops.squeeze(logits, -1)}
        if self.spec.multi_label:
            return {"logits": logits, "probabilities": ops.sigmoid(logits)}
        return {"logits": logits, "predictions": ops.argmax(logits, axis=-1)}

    def per_example_loss(self, head, outputs, features):
        n = self.name
        if self.is_regression:
            return ops.square(outputs["predictions"] - ops.cast(features[f"{n}_targets"], "float32"))
        labels = features[f"{n}_label_ids"]
        if self.spec.multi_label:
            return ops.sum(sigmoid_cross_entropy(outputs["logits"], labels), axis=-1)  # summed over labels, like the batch sum of the original losses
        return per_example_cross_entropy(outputs["logits"], labels)

    def export_info(self) -> ExportInfo:
        return ExportInfo("sequence-classification", "classifier", self.num_labels, self.label_list or None)

    def metadata_settings(self):
        from electra_tf.finetuning.classification.settings import ClassificationSettings

        windows = {}
        if self.windowed:
            windows = dict(text_windows=True, window_stride=self.options.window_stride,
                           window_aggregation=self.options.window_aggregation)
        return ClassificationSettings(problem=self.spec.problem, regression_scale=float(self.spec.regression_scale),
                                      **windows).to_dict()

    # ----------------------------------------------------------------- scoring
    def get_scorer(self, split: str, head_state=None):
        if self.windowed:
            return WindowScorer(self._example_scorer, self._feed, self.options.window_aggregation)
        return self._example_scorer()

    def _feed(self, scorer, value, gold, loss, eid) -> None:
        """Add one example's (aggregated) output ``value`` to an example scorer."""
        if self.is_regression:
            scorer.update(float(value), float(gold), loss, eid)
        elif self.spec.multi_label:
            scorer.update(multi_label_decisions(value).astype(int), np.asarray(gold).astype(int), loss, eid)
        else:
            scorer.update(int(np.argmax(value)), int(gold), loss, eid)

    def window_outputs(self, value) -> Dict[str, np.ndarray]:
        """The outputs of an example from the aggregate ``value`` of its windows' logits (regression: predictions)."""
        if self.is_regression:
            return {"predictions": np.float32(value)}
        if self.spec.multi_label:
            return {"logits": value, "probabilities": 1.0 / (1.0 + np.exp(-value))}
        return {"logits": value, "predictions": np.int64(np.argmax(value))}

    def example_rows(self, rows):
        """One (outputs, features) row per example: with text_windows, the aggregate of its
        windows' rows (the features of its first window)."""
        if not self.windowed:
            return rows
        from electra_tf.finetuning.windows import aggregate, group_by_example

        key = "predictions" if self.is_regression else "logits"
        groups = group_by_example([int(f[f"{self.name}_eid"]) for _, f in rows])
        return [(self.window_outputs(aggregate([rows[r][0][key] for r in members], self.options.window_aggregation)),
                 rows[members[0]][1]) for members in groups.values()]

    def _example_scorer(self):
        if self.is_regression:
            return RegressionScorer()
        if self.spec.multi_label:
            return MultiLabelScorer(self.num_labels, self.spec.metrics)
        return ClassificationScorer(self.num_labels, self.spec.metrics)

    def update_scorer(self, scorer, outputs, features, loss):
        n = self.name
        eid = int(features[f"{n}_eid"])
        if self.windowed:
            value = outputs["predictions"] if self.is_regression else outputs["logits"]
            gold = features[f"{n}_targets"] if self.is_regression else features[f"{n}_label_ids"]
            scorer.update_window(eid, value, gold, loss)
        elif self.is_regression:
            scorer.update(float(outputs["predictions"]), float(features[f"{n}_targets"]), loss, eid)
        elif self.spec.multi_label:
            scorer.update(multi_label_decisions(outputs["logits"]).astype(int), features[f"{n}_label_ids"].astype(int), loss, eid)
        else:
            scorer.update(int(outputs["predictions"]), int(features[f"{n}_label_ids"]), loss, eid)

    def prediction_for_output(self, outputs):
        if self.is_regression:
            return float(outputs["predictions"])  # on the normalised scale, as the original
        return np.asarray(outputs["logits"])

    def label_of(self, outputs) -> str:
        """Human-readable prediction for prediction files."""
        if self.is_regression:
            return f"{float(outputs['predictions']) * self.spec.regression_scale:.4f}"
        if self.spec.multi_label:
            return ",".join(l for l, chosen in zip(self.label_list, multi_label_decisions(outputs["logits"])) if chosen)
        return self.label_list[int(outputs["predictions"])]


TFDS_KEYS = {"type", "name", "text_a", "text_b", "label", "labels", "splits", "problem", "metrics", "regression_scale",
             "double_unordered"}


class TfdsSentenceTask(SentenceTask):
    """A SentenceTask whose examples come from tensorflow-datasets (data prepared locally).

        "task_config": {"sst2": {"type": "tfds", "name": "glue/sst2", "text_a": "sentence", "label": "label",
                                 "splits": {"train": "train", "dev": "validation", "test": "test"}}},
        "tfds_data_dir": "/path/to/tensorflow_datasets"

    Labels come from the dataset's ClassLabel names (or ``labels``); ``problem: regression``
    reads a float label.
    """

    def __init__(self, options: TaskOptions, name: str, tokenizer):
        entry = options.task_config
        check_known_keys(f"task_config.{name}", entry, TFDS_KEYS)
        for key in ("name", "text_a"):
            if key not in entry:
                raise ConfigError(f"task_config.{name}: a tfds task needs {key!r}.")
        problem = entry.get("problem", "single_label")
        spec = SentenceTaskSpec(
            files={}, columns=Columns(entry["text_a"], entry.get("text_b"), entry.get("label", "label")),
            labels=entry.get("labels"), regression=problem == "regression",
            metrics=tuple(entry.get("metrics", ["pearson", "spearman"] if problem == "regression" else ["accuracy"])),
            regression_scale=float(entry.get("regression_scale", 1.0)),
            double_unordered=bool(entry.get("double_unordered", False)),
        )
        self.splits: Dict[str, str] = entry.get("splits", {"train": "train", "dev": "validation", "test": "test"})
        reader = TfdsReader(spec, name, entry["name"], self.splits, options.tfds_data_dir, options.double_unordered)
        super().__init__(options, name, tokenizer, spec, reader=reader)
        if not self.is_regression and not spec.labels:
            self.set_labels(reader.label_names())

    def has_split(self, split: str) -> bool:
        return split in self.splits

    def data_files(self, split: str) -> List[str]:
        return []  # the dataset name, split and tfds_data_dir key the cache (reader_cache_fields)

    def get_examples(self, split: str) -> List[Example]:
        return self.reader.read(split)

    def candidate_files(self, split: str):
        return []  # tensorflow-datasets splits, not files

    def reader_cache_fields(self):
        return {**super().reader_cache_fields(), "tfds_data_dir": self.options.tfds_data_dir}
