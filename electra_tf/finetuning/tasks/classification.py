"""Sentence-level tasks: single-label classification, regression and multi-label classification.

Each task is a ``SentenceTaskSpec`` (files, columns, labels, metrics) read by one reader, as the
original's ``_load_glue`` and the HFL / KoELECTRA processors do. Heads follow the original
(``[CLS]`` -> dropout 0.1 -> one dense layer) unless ``head`` is "hf".
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import sys
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from keras import ops

from electra_tf.errors import DataError
from electra_tf.finetuning.scorers import ClassificationScorer, MultiLabelScorer, RegressionScorer
from electra_tf.finetuning.tasks.base import Example, Task, encode_pairs, gc_paused, register

logger = logging.getLogger("electra_tf")
Column = Union[int, str]

csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))


@dataclasses.dataclass
class Columns:
    """Where text_a, text_b and the label are: an index (negative allowed) or a header name."""

    text_a: Column
    text_b: Optional[Column] = None
    label: Optional[Column] = None


@dataclasses.dataclass
class SentenceTaskSpec:
    """Everything that distinguishes one sentence-level task from another."""

    files: Dict[str, Sequence[str]]  # split -> candidate file names
    columns: Columns
    split_columns: Dict[str, Columns] = dataclasses.field(default_factory=dict)  # per-split overrides
    labels: Optional[List[str]] = None  # None for regression, or inferred from the training file
    regression: bool = False
    header: Union[bool, str] = True  # True, False, "auto" (skip a first line whose label is not a label), or per split
    header_splits: Dict[str, Union[bool, str]] = dataclasses.field(default_factory=dict)
    metrics: Sequence[str] = ("accuracy",)
    delimiter: str = "\t"
    quotechar: Optional[str] = None  # the original reads TSVs with quoting off
    double_unordered: bool = False  # train on both sentence orders (MRPC, STS)
    regression_scale: float = 1.0  # STS: labels divided by 5, as the original
    label_aliases: Dict[str, str] = dataclasses.field(default_factory=dict)
    skip_empty: bool = False  # KoELECTRA skips pairs with an empty sentence
    multi_label: bool = False
    label_separator: str = ","  # multi-label: labels in one column separated by this
    # split -> (column, value): keep only rows whose column equals value (XNLI's language)
    row_filters: Dict[str, tuple] = dataclasses.field(default_factory=dict)
    test_splits: Sequence[str] = ("test",)
    note: str = ""


class SentenceTask(Task):
    """A classification / regression / multi-label task described by a SentenceTaskSpec."""

    def __init__(self, config, name: str, tokenizer, spec: SentenceTaskSpec):
        super().__init__(config, name, tokenizer)
        self.spec = spec
        self.is_regression = spec.regression
        self.kind = "regression" if self.is_regression else ("multilabel" if spec.multi_label else "classification")
        self.label_list = list(spec.labels or [])
        self.label_map = {label: i for i, label in enumerate(self.label_list)}
        self.skip_malformed = bool(config.task_config.get(name, {}).get("skip_malformed_lines", False)) \
            if isinstance(config.task_config.get(name, {}), dict) else False

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_list)

    @property
    def checkpoint_metric(self) -> str:
        return self.spec.metrics[0] if not self.is_regression else "spearman"

    def test_splits(self) -> List[str]:
        return list(self.spec.test_splits)

    # ----------------------------------------------------------------- reading
    def _files_for(self, split: str) -> Sequence[str]:
        return self.spec.files.get(split, [f"{split}.tsv"])

    def has_split(self, split: str) -> bool:
        return self.split_file(split, self._files_for(split), required=False) is not None

    def data_files(self, split: str) -> List[str]:
        return [self.split_file(split, self._files_for(split))]

    def _columns_for(self, split: str) -> Columns:
        for key, cols in self.spec.split_columns.items():
            if key == split or (key == "test" and "test" in split):
                return cols
        return self.spec.columns

    def _header_for(self, split: str):
        for key, value in self.spec.header_splits.items():
            if key == split or (key == "test" and "test" in split):
                return value
        return self.spec.header

    def _error(self, path: str, line_no: int, message: str):
        text = f"{path}, line {line_no}: {message}"
        if self.skip_malformed:
            logger.warning("Skipping: %s", text)
            return None
        raise DataError(text + f" (set task_config.{self.name}.skip_malformed_lines to skip such lines, as the original did)")

    def read_rows(self, path: str):
        """(line number, fields) of a delimited file, with clear errors for undecodable bytes."""
        try:
            with open(path, encoding="utf-8", newline="") as f:
                reader = csv.reader(f, delimiter=self.spec.delimiter, quotechar=self.spec.quotechar,
                                    quoting=csv.QUOTE_NONE if self.spec.quotechar is None else csv.QUOTE_MINIMAL)
                rows = []
                for fields in reader:
                    rows.append((reader.line_num, fields))
                return rows
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: byte {e.start} is not valid UTF-8; convert the file to UTF-8.") from None
        except csv.Error as e:
            raise DataError(f"{path}: cannot parse ({e}).") from None

    @staticmethod
    def _resolve(col: Optional[Column], header: Optional[List[str]], path: str) -> Optional[int]:
        if col is None or isinstance(col, int):
            return col
        if header is None or col not in header:
            raise DataError(f"{path}: no column named {col!r} in the header {header}.")
        return header.index(col)

    def get_examples(self, split: str) -> List[Example]:
        path = self.split_file(split, self._files_for(split))
        rows = self.read_rows(path)
        if not rows:
            raise DataError(f"{path}: the file is empty.")
        cols = self._columns_for(split)
        header_mode = self._header_for(split)
        dummy_labels = "test" in split or "diagnostic" in split  # the original's convention
        header: Optional[List[str]] = None
        if header_mode is True:
            header, rows = rows[0][1], rows[1:]
        elif header_mode == "auto" and rows and cols.label is not None and isinstance(cols.label, int):
            first = rows[0][1]
            idx = cols.label
            if len(first) > abs(idx) and self._normalize_label(first[idx]) not in self.label_map and not self.is_regression:
                header, rows = first, rows[1:]
        if self.config.debug:
            rows = rows[:100]  # the original's debug mode reads the first 100 lines
        a = self._resolve(cols.text_a, header, path)
        b = self._resolve(cols.text_b, header, path)
        lab = self._resolve(cols.label, header, path)
        filt_col, filt_value = self.spec.row_filters.get(split, (None, None))
        filt = self._resolve(filt_col, header, path)
        needed = max(abs(i) + (0 if i >= 0 else -1) for i in [a, b, lab, filt] if i is not None) + 1
        examples: List[Example] = []
        for line_no, fields in rows:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            if len(fields) < needed:
                self._error(path, line_no, f"expected at least {needed} {self._delim_name()}-separated columns, found {len(fields)}")
                continue
            if filt is not None and fields[filt] != filt_value:
                continue
            text_a = fields[a]
            text_b = fields[b] if b is not None else None
            if self.spec.skip_empty and (not text_a.strip() or (text_b is not None and not text_b.strip())):
                continue
            if dummy_labels or lab is None:
                label = 0.0 if self.is_regression else ([] if self.spec.multi_label else self.label_list[0])
            else:
                label = self._parse_label(fields[lab], path, line_no)
                if label is None:
                    continue
            examples.append(Example(eid=len(examples), task_name=self.name,
                                    fields={"text_a": text_a, "text_b": text_b, "label": label},
                                    source=f"{path}:{line_no}"))
        if not examples:
            raise DataError(f"{path}: no examples found (is it the right file and format?).")
        return self.maybe_double(examples, split)

    def maybe_double(self, examples: List[Example], split: str) -> List[Example]:
        """MRPC/STS: train on both sentence orders (the original's double_unordered)."""
        if split != "train" or not (self.spec.double_unordered and self.config.double_unordered):
            return examples
        n = len(examples)
        return examples + [
            Example(eid=n + e.eid, task_name=self.name, source=e.source,
                    fields={"text_a": e.fields["text_b"], "text_b": e.fields["text_a"], "label": e.fields["label"]})
            for e in examples
        ]

    def _delim_name(self) -> str:
        return {"\t": "tab", ",": "comma"}.get(self.spec.delimiter, repr(self.spec.delimiter))

    def _normalize_label(self, raw: str) -> str:
        raw = raw.strip()
        return self.spec.label_aliases.get(raw, raw)

    def _parse_label(self, raw: str, path: str, line_no: int):
        if self.is_regression:
            try:
                return float(raw) / self.spec.regression_scale
            except ValueError:
                return self._error(path, line_no, f"label {raw!r} is not a number")
        if self.spec.multi_label:
            labels = [self._normalize_label(x) for x in raw.split(self.spec.label_separator) if x.strip()]
            unknown = [x for x in labels if x not in self.label_map]
            if unknown:
                return self._error(path, line_no, f"label {unknown[0]!r} is not in the label list {self.label_list}")
            return labels
        label = self._normalize_label(raw)
        if label not in self.label_map:
            return self._error(path, line_no, f"label {raw!r} is not in the label list {self.label_list}")
        return label

    def infer_labels(self) -> None:
        """Labels = sorted set of the training file's labels (generic tasks without a label list)."""
        path = self.split_file("train", self._files_for("train"))
        rows = self.read_rows(path)
        header = rows[0][1] if (rows and self.spec.header is True) else None
        if header is not None:
            rows = rows[1:]
        col = self._resolve(self.spec.columns.label, header, path)
        seen = set()
        for _, fields in rows:
            if not fields or len(fields) <= (col if col >= 0 else -col - 1):
                continue
            values = fields[col].split(self.spec.label_separator) if self.spec.multi_label else [fields[col]]
            seen.update(self._normalize_label(v) for v in values if v.strip())
        if not seen:
            raise DataError(f"{path}: no labels found in column {self.spec.columns.label!r}; give 'labels' in task_config.")
        self.spec.labels = sorted(seen)
        self.label_list = list(self.spec.labels)
        self.label_map = {label: i for i, label in enumerate(self.label_list)}

    # ----------------------------------------------------------------- features
    def feature_spec(self):
        n = self.name
        spec = {f"{n}_eid": ((), "int64")}
        if self.is_regression:
            spec[f"{n}_targets"] = ((), "float32")
        elif self.spec.multi_label:
            spec[f"{n}_label_ids"] = ((self.num_labels,), "float32")
        else:
            spec[f"{n}_label_ids"] = ((), "int64")
        return spec

    @gc_paused
    def featurize(self, examples: List[Example], is_training: bool):
        tok = self.tokenizer
        has_b = np.array([e.fields["text_b"] is not None for e in examples], bool)
        ids_a, lengths_a = tok.encode_batch_flat([e.fields["text_a"] for e in examples])
        ids_b, lengths_b = None, None
        if has_b.any():
            ids_b, lengths_present = tok.encode_batch_flat([e.fields["text_b"] for e in examples if e.fields["text_b"] is not None])
            lengths_b = np.zeros(len(examples), np.int64)
            lengths_b[has_b] = lengths_present
        input_ids, input_mask, segment_ids = encode_pairs(ids_a, lengths_a, ids_b, lengths_b, has_b,
                                                          tok.special_id("[CLS]"), tok.special_id("[SEP]"),
                                                          self.config.max_seq_length)
        features = []
        for ex, ids, mask, segments in zip(examples, input_ids, input_mask, segment_ids):
            feature = {"input_ids": ids, "input_mask": mask, "segment_ids": segments, f"{self.name}_eid": ex.eid}
            label = ex.fields["label"]
            if self.is_regression:
                feature[f"{self.name}_targets"] = float(label)
            elif self.spec.multi_label:
                multi_hot = np.zeros(self.num_labels, np.float32)
                for lab in label:
                    multi_hot[self.label_map[lab]] = 1.0
                feature[f"{self.name}_label_ids"] = multi_hot
            else:
                feature[f"{self.name}_label_ids"] = self.label_map[label]
            if self.config.log_examples and ex.eid < 1:
                tokens = tok.convert_ids_to_tokens(ids[: int(mask.sum())])
                logger.info("Example %s/%d: tokens %s, label %s", self.name, ex.eid, " ".join(tokens), label)
            features.append(feature)
        return features

    # ----------------------------------------------------------------- model
    def build_head(self, model_config, head_type: str):
        from electra_tf.modeling.heads import HFClassificationHead, OriginalClassificationHead

        cfg = model_config.replace(num_labels=self.num_labels, head=head_type)
        cls = OriginalClassificationHead if head_type == "electra" else HFClassificationHead
        return cls(cfg, name=f"task_specific_{self.name.replace('-', '_')}")

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
            logits, targets = outputs["logits"], ops.cast(labels, "float32")
            bce = ops.maximum(logits, 0.0) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
            return ops.sum(bce, axis=-1)  # summed over labels, like the batch sum of the original losses
        one_hot = ops.one_hot(ops.cast(labels, "int32"), self.num_labels)
        return -ops.sum(one_hot * ops.log_softmax(outputs["logits"], axis=-1), axis=-1)

    # ----------------------------------------------------------------- scoring
    def get_scorer(self, split: str):
        if self.is_regression:
            return RegressionScorer()
        if self.spec.multi_label:
            return MultiLabelScorer(self.num_labels, self.spec.metrics)
        return ClassificationScorer(self.num_labels, self.spec.metrics)

    def update_scorer(self, scorer, outputs, features, loss):
        n = self.name
        eid = int(features[f"{n}_eid"])
        if self.is_regression:
            scorer.update(float(outputs["predictions"]), float(features[f"{n}_targets"]), loss, eid)
        elif self.spec.multi_label:
            scorer.update((outputs["probabilities"] > 0.5).astype(int), features[f"{n}_label_ids"].astype(int), loss, eid)
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
            return ",".join(l for l, p in zip(self.label_list, outputs["probabilities"]) if p > 0.5)
        return self.label_list[int(outputs["predictions"])]


def _register(name: str, spec: SentenceTaskSpec) -> None:
    register(name, lambda config, task_name, tokenizer: SentenceTask(config, task_name, tokenizer, spec))


BINARY = ["0", "1"]
NLI = ["contradiction", "entailment", "neutral"]
ENTAIL = ["entailment", "not_entailment"]
GLUE = {"train": ["train.tsv"], "dev": ["dev.tsv"], "test": ["test.tsv"]}

# --- GLUE (google-research/electra finetune/classification/classification_tasks.py)
_register("cola", SentenceTaskSpec(GLUE, Columns(3, None, 1), {"test": Columns(1)}, BINARY, header=False,
                                   header_splits={"test": True}, metrics=("mcc",)))
_register("sst", SentenceTaskSpec(GLUE, Columns(0, None, 1), {"test": Columns(1)}, BINARY))
_register("mrpc", SentenceTaskSpec(GLUE, Columns(3, 4, 0), {}, BINARY, double_unordered=True))
_register("qqp", SentenceTaskSpec(GLUE, Columns(3, 4, 5), {"test": Columns(1, 2)}, BINARY))
_register("rte", SentenceTaskSpec(GLUE, Columns(1, 2, 3), {}, ENTAIL))
_register("qnli", SentenceTaskSpec(GLUE, Columns(1, 2, 3), {}, ENTAIL))
_register("mnli", SentenceTaskSpec(
    {"train": ["train.tsv"], "dev": ["dev_matched.tsv"], "test_matched": ["test_matched.tsv"],
     "test_mismatched": ["test_mismatched.tsv"], "diagnostic": ["diagnostic.tsv"], "dev_mismatched": ["dev_mismatched.tsv"]},
    Columns(8, 9, -1), {"diagnostic": Columns(1, 2)}, NLI,
    test_splits=("test_matched", "test_mismatched", "diagnostic")))
_register("sts", SentenceTaskSpec(GLUE, Columns(-3, -2, -1), {"test": Columns(-2, -1)}, None, regression=True,
                                  double_unordered=True, regression_scale=5.0))

# --- HFL Chinese-ELECTRA tasks
HFL = {"train": ["train.tsv"], "dev": ["dev.tsv"], "eval": ["eval.tsv", "test.tsv"], "test": ["test.tsv"]}
_register("chnsenticorp", SentenceTaskSpec(HFL, Columns(1, None, 0), {}, BINARY))
# HFL reads LCQMC/BQ with skip_first_line=True, but the public files have no header, so their
# first example was dropped; "auto" skips the first line only when it is a header.
_register("lcqmc", SentenceTaskSpec(HFL, Columns(0, 1, 2), {}, BINARY, header="auto"))
_register("bqcorpus", SentenceTaskSpec(HFL, Columns(0, 1, 2), {}, BINARY, header="auto"))
# XNLI: HFL's label list says "contradictory" (MultiNLI-zh train spelling); the XNLI-1.0 dev/test
# files say "contradiction", which crashed HFL's loader. Both are accepted. Dev/test files of
# XNLI-1.0 hold all 15 languages: only rows whose language column is "zh" are kept.
_register("xnli", SentenceTaskSpec(
    {"train": ["train.tsv"], "dev": ["dev.tsv", "xnli.dev.tsv"], "eval": ["eval.tsv", "test.tsv", "xnli.test.tsv"],
     "test": ["test.tsv", "xnli.test.tsv"]},
    Columns(0, 1, 2), {"dev": Columns(6, 7, 1), "eval": Columns(6, 7, 1), "test": Columns(6, 7, 1)},
    ["contradictory", "entailment", "neutral"], label_aliases={"contradiction": "contradictory"},
    row_filters={split: (0, "zh") for split in ("dev", "eval", "test")}))

# --- KoELECTRA tasks (file names of their data releases; NSMC, question-pair and hate-speech
# have no dev set, and KoELECTRA reports the test set, which "dev" falls back to here).
_register("nsmc", SentenceTaskSpec(
    {"train": ["train.tsv", "ratings_train.txt"], "dev": ["dev.tsv", "ratings_test.txt"], "test": ["test.tsv", "ratings_test.txt"]},
    Columns(1, None, 2), {}, BINARY, test_splits=()))
_register("kornli", SentenceTaskSpec(
    {"train": ["train.tsv", "multinli.train.ko.tsv"], "dev": ["dev.tsv", "xnli.dev.ko.tsv"],
     "test": ["test.tsv", "xnli.test.ko.tsv"]},
    Columns(0, 1, 2), {}, NLI, test_splits=()))
_register("korsts", SentenceTaskSpec(
    {"train": ["train.tsv", "sts-train.tsv"], "dev": ["dev.tsv", "sts-dev.tsv"], "test": ["test.tsv", "sts-test.tsv"]},
    Columns(5, 6, 4), {}, None, regression=True, double_unordered=True, regression_scale=5.0, test_splits=()))
_register("paws", SentenceTaskSpec(
    {"train": ["train.tsv", "translated_train.tsv"], "dev": ["dev.tsv", "dev_2k.tsv"], "test": ["test.tsv", "test_2k.tsv"]},
    Columns(1, 2, 3), {}, BINARY, skip_empty=True, test_splits=()))
_register("question-pair", SentenceTaskSpec(
    {"train": ["train.tsv", "kor_pair_train.csv"], "dev": ["dev.tsv", "kor_pair_test.csv"], "test": ["test.tsv", "kor_pair_test.csv"]},
    Columns(0, 1, 2), {}, BINARY, skip_empty=True, test_splits=()))
_register("hate-speech", SentenceTaskSpec(
    {"train": ["train.tsv"], "dev": ["dev.tsv", "val.tsv"], "test": ["test.tsv"]},
    Columns(1, None, 3), {}, ["none", "offensive", "hate"], metrics=("macro_f1", "accuracy"), test_splits=()))
