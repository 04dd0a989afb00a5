"""Sentence-level tasks read from tensorflow-datasets (data prepared locally; never downloaded).

    "task_names": ["sst2"],
    "task_config": {"sst2": {"type": "tfds", "name": "glue/sst2", "text_a": "sentence", "label": "label",
                             "splits": {"train": "train", "dev": "validation", "test": "test"}}},
    "tfds_data_dir": "/path/to/tensorflow_datasets"

Labels come from the dataset's ClassLabel names (or ``labels``); ``problem: regression`` reads
a float label. Test splits get dummy labels as in the original.
"""

from __future__ import annotations

from typing import Dict, List

from electra_tf.errors import ConfigError, DataError, closest
from electra_tf.finetuning.tasks.base import Example
from electra_tf.finetuning.tasks.classification import Columns, SentenceTask, SentenceTaskSpec

_KEYS = {"type", "name", "text_a", "text_b", "label", "labels", "splits", "problem", "metrics", "regression_scale",
         "double_unordered"}


class TfdsSentenceTask(SentenceTask):
    """A SentenceTask whose examples come from ``tfds.load(..., download=False)``."""

    def __init__(self, config, name: str, tokenizer, options: Dict):
        unknown = set(options) - _KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"task_config.{name}: unknown key {key!r}.{closest(key, _KEYS)}")
        for key in ("name", "text_a"):
            if key not in options:
                raise ConfigError(f"task_config.{name}: a tfds task needs {key!r}.")
        self.options = options
        self.splits: Dict[str, str] = options.get("splits", {"train": "train", "dev": "validation", "test": "test"})
        problem = options.get("problem", "single_label")
        spec = SentenceTaskSpec(
            files={}, columns=Columns(options["text_a"], options.get("text_b"), options.get("label", "label")),
            labels=options.get("labels"), regression=problem == "regression",
            metrics=tuple(options.get("metrics", ["pearson", "spearman"] if problem == "regression" else ["accuracy"])),
            regression_scale=float(options.get("regression_scale", 1.0)),
            double_unordered=bool(options.get("double_unordered", False)),
        )
        super().__init__(config, name, tokenizer, spec)
        if not self.is_regression and not spec.labels:
            builder = self._builder()
            feature = builder.info.features[spec.columns.label]
            names = getattr(feature, "names", None)
            if not names:
                raise ConfigError(f"task_config.{name}: {options['name']} feature {spec.columns.label!r} has no label names; give 'labels'.")
            spec.labels = list(names)
            self.label_list = list(names)
            self.label_map = {label: i for i, label in enumerate(names)}

    def _builder(self):
        import tensorflow_datasets as tfds

        try:
            return tfds.builder(self.options["name"], data_dir=self.config.tfds_data_dir)
        except Exception as e:  # DatasetNotFoundError and friends
            raise DataError(f"task_config.{self.name}: tensorflow-datasets has no {self.options['name']!r} ({e}).") from None

    def has_split(self, split: str) -> bool:
        return split in self.splits

    def data_files(self, split: str) -> List[str]:
        return []  # the dataset name, split and tfds_data_dir key the cache (via task_config)

    def get_examples(self, split: str) -> List[Example]:
        import tensorflow_datasets as tfds

        if split not in self.splits:
            raise DataError(f"task_config.{self.name}: no tfds split for {split!r}; add it to 'splits'.")
        try:
            ds = tfds.load(self.options["name"], split=self.splits[split], data_dir=self.config.tfds_data_dir,
                           download=False)
        except Exception as e:
            raise DataError(
                f"task_config.{self.name}: cannot load {self.options['name']} split {self.splits[split]} from "
                f"{self.config.tfds_data_dir or 'the default tfds data_dir'} without downloading ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200]}); prepare it first with `tfds build {self.options['name']}`."
            ) from None
        cols = self.spec.columns
        dummy = "test" in split
        examples: List[Example] = []
        for record in tfds.as_numpy(ds):
            def text(key):
                value = record[key]
                return value.decode("utf-8") if isinstance(value, bytes) else str(value)

            if dummy:
                label = 0.0 if self.is_regression else self.label_list[0]
            elif self.is_regression:
                label = float(record[cols.label]) / self.spec.regression_scale
            else:
                index = int(record[cols.label])
                if not 0 <= index < len(self.label_list):
                    raise DataError(f"{self.options['name']} {split}: label id {index} outside the label list {self.label_list}.")
                label = self.label_list[index]
            examples.append(Example(eid=len(examples), task_name=self.name, source=f"{self.options['name']}:{split}",
                                    fields={"text_a": text(cols.text_a), "text_b": text(cols.text_b) if cols.text_b else None,
                                            "label": label}))
        if not examples:
            raise DataError(f"{self.options['name']} {split}: no examples.")
        return self.maybe_double(examples, split)
