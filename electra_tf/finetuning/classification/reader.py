"""Readers of sentence-level data: delimited files (TSV/CSV, as the original's ``_load_glue``
and the HFL / KoELECTRA processors) and tensorflow-datasets (prepared locally, never downloaded).

Both return ``Example`` objects with fields text_a, text_b and label (a label string, a list of
label strings for multi-label tasks, or a float for regression). Test splits get dummy labels as
in the original.
"""

from __future__ import annotations

import csv
import logging
import sys
from typing import List, Optional, Sequence

from electra_tf.errors import ConfigError, DataError
from electra_tf.finetuning.classification.spec import Column, Columns, SentenceTaskSpec
from electra_tf.finetuning.task import Example, debug_subset
from electra_tf.utils.files import invalid_utf8_message

logger = logging.getLogger("electra_tf")

csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))


def maybe_double(examples: List[Example], split: str, enabled: bool) -> List[Example]:
    """MRPC/STS: train on both sentence orders (the original's double_unordered)."""
    if split != "train" or not enabled:
        return examples
    n = len(examples)
    return examples + [
        Example(eid=n + e.eid, task_name=e.task_name, source=e.source,
                fields={"text_a": e.fields["text_b"], "text_b": e.fields["text_a"], "label": e.fields["label"]})
        for e in examples
    ]


class DelimitedReader:
    """Examples of a SentenceTaskSpec from its TSV/CSV files, with clear errors per line (a
    ``task.FileReader``)."""

    def __init__(self, spec: SentenceTaskSpec, task_name: str, debug: bool = False, skip_malformed: bool = False,
                 double_unordered: bool = True):
        self.spec = spec
        self.task_name = task_name
        self.debug = debug
        self.skip_malformed = skip_malformed
        self.double = spec.double_unordered and double_unordered

    @property
    def label_map(self):
        return {label: i for i, label in enumerate(self.spec.labels or [])}

    def files_for(self, split: str) -> Sequence[str]:
        return self.spec.files.get(split, [f"{split}.tsv"])

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
        raise DataError(text + f" (set task_config.{self.task_name}.skip_malformed_lines to skip such lines, as the original did)")

    def read_rows(self, path: str):
        """(line number, fields) of a delimited file, with clear errors for undecodable bytes."""
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                reader = csv.reader(f, delimiter=self.spec.delimiter, quotechar=self.spec.quotechar,
                                    quoting=csv.QUOTE_NONE if self.spec.quotechar is None else csv.QUOTE_MINIMAL)
                rows = []
                for fields in reader:
                    rows.append((reader.line_num, fields))
                return rows
        except UnicodeDecodeError as e:
            raise DataError(invalid_utf8_message(path, e)) from None
        except csv.Error as e:
            raise DataError(f"{path}: cannot parse ({e}).") from None

    @staticmethod
    def _resolve(col: Optional[Column], header: Optional[List[str]], path: str) -> Optional[int]:
        if col is None or isinstance(col, int):
            return col
        if header is None or col not in header:
            raise DataError(f"{path}: no column named {col!r} in the header {header}.")
        return header.index(col)

    def read(self, path: str, split: str) -> List[Example]:
        """The examples of ``split`` in the file ``path``."""
        rows = self.read_rows(path)
        if not rows:
            raise DataError(f"{path}: the file is empty.")
        spec = self.spec
        label_map = self.label_map
        cols = self._columns_for(split)
        header_mode = self._header_for(split)
        dummy_labels = "test" in split or "diagnostic" in split  # the original's convention
        header: Optional[List[str]] = None
        if header_mode is True:
            header, rows = rows[0][1], rows[1:]
        elif header_mode == "auto" and rows and cols.label is not None and isinstance(cols.label, int):
            first = rows[0][1]
            idx = cols.label
            if len(first) > abs(idx) and self._normalize_label(first[idx]) not in label_map and not spec.regression:
                header, rows = first, rows[1:]
        rows = debug_subset(rows, self.debug)  # the original's debug mode reads the first 100 lines
        a = self._resolve(cols.text_a, header, path)
        b = self._resolve(cols.text_b, header, path)
        # test files carry no labels (the original's convention): their label column is not needed
        lab = None if dummy_labels else self._resolve(cols.label, header, path)
        filt_col, filt_value = spec.row_filters.get(split, (None, None))
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
            if spec.skip_empty and (not text_a.strip() or (text_b is not None and not text_b.strip())):
                continue
            if dummy_labels or lab is None:
                label = 0.0 if spec.regression else ([] if spec.multi_label else spec.labels[0])
            else:
                label = self._parse_label(fields[lab], path, line_no, label_map)
                if label is None:
                    continue
            examples.append(Example(eid=len(examples), task_name=self.task_name,
                                    fields={"text_a": text_a, "text_b": text_b, "label": label},
                                    source=f"{path}:{line_no}"))
        if not examples:
            raise DataError(f"{path}: no examples found (is it the right file and format?).")
        return maybe_double(examples, split, self.double)

    def _delim_name(self) -> str:
        return {"\t": "tab", ",": "comma"}.get(self.spec.delimiter, repr(self.spec.delimiter))

    def _normalize_label(self, raw: str) -> str:
        raw = raw.strip()
        return self.spec.label_aliases.get(raw, raw)

    def _parse_label(self, raw: str, path: str, line_no: int, label_map):
        spec = self.spec
        if spec.regression:
            try:
                return float(raw) / spec.regression_scale
            except ValueError:
                return self._error(path, line_no, f"label {raw!r} is not a number")
        if spec.multi_label:
            labels = [self._normalize_label(x) for x in raw.split(spec.label_separator) if x.strip()]
            unknown = [x for x in labels if x not in label_map]
            if unknown:
                return self._error(path, line_no, f"label {unknown[0]!r} is not in the label list {list(spec.labels or [])}")
            return labels
        label = self._normalize_label(raw)
        if label not in label_map:
            return self._error(path, line_no, f"label {raw!r} is not in the label list {list(spec.labels or [])}")
        return label

    def infer_labels(self, path: str) -> List[str]:
        """Labels = sorted set of the training file's labels (generic tasks without a label list)."""
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
        return sorted(seen)


class TfdsReader:
    """Examples of a SentenceTaskSpec from ``tfds.load(..., download=False)`` (no files: not a
    ``task.FileReader``; ``read`` takes the split)."""

    def __init__(self, spec: SentenceTaskSpec, task_name: str, dataset: str, splits, data_dir: Optional[str] = None,
                 double_unordered: bool = True):
        self.spec, self.task_name, self.dataset, self.splits, self.data_dir = spec, task_name, dataset, splits, data_dir
        self.double = spec.double_unordered and double_unordered

    def builder(self):
        import tensorflow_datasets as tfds

        try:
            return tfds.builder(self.dataset, data_dir=self.data_dir)
        except Exception as e:  # DatasetNotFoundError and friends
            raise DataError(f"task_config.{self.task_name}: tensorflow-datasets has no {self.dataset!r} ({e}).") from None

    def label_names(self) -> List[str]:
        """The ClassLabel names of the label feature."""
        feature = self.builder().info.features[self.spec.columns.label]
        names = getattr(feature, "names", None)
        if not names:
            raise ConfigError(f"task_config.{self.task_name}: {self.dataset} feature {self.spec.columns.label!r} has no "
                              f"label names; give 'labels'.")
        return list(names)

    def read(self, split: str) -> List[Example]:
        import tensorflow_datasets as tfds

        if split not in self.splits:
            raise DataError(f"task_config.{self.task_name}: no tfds split for {split!r}; add it to 'splits'.")
        try:
            ds = tfds.load(self.dataset, split=self.splits[split], data_dir=self.data_dir, download=False)
        except Exception as e:
            raise DataError(
                f"task_config.{self.task_name}: cannot load {self.dataset} split {self.splits[split]} from "
                f"{self.data_dir or 'the default tfds data_dir'} without downloading ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200]}); prepare it first with `tfds build {self.dataset}`."
            ) from None
        spec, cols = self.spec, self.spec.columns
        labels = list(spec.labels or [])
        dummy = "test" in split
        examples: List[Example] = []
        for record in tfds.as_numpy(ds):
            def text(key):
                value = record[key]
                return value.decode("utf-8") if isinstance(value, bytes) else str(value)

            if dummy:
                label = 0.0 if spec.regression else labels[0]
            elif spec.regression:
                label = float(record[cols.label]) / spec.regression_scale
            else:
                index = int(record[cols.label])
                if not 0 <= index < len(labels):
                    raise DataError(f"{self.dataset} {split}: label id {index} outside the label list {labels}.")
                label = labels[index]
            examples.append(Example(eid=len(examples), task_name=self.task_name, source=f"{self.dataset}:{split}",
                                    fields={"text_a": text(cols.text_a), "text_b": text(cols.text_b) if cols.text_b else None,
                                            "label": label}))
        if not examples:
            raise DataError(f"{self.dataset} {split}: no examples.")
        return maybe_double(examples, split, self.double)
