"""Generic tasks configured in the hparams' ``task_config`` (no code needed for a new data set).

Example (a CSV with a header, multi-label, as thai2transformers' prachathai67k)::

    "task_names": ["news"],
    "task_config": {"news": {
        "type": "csv", "problem": "multi_label",
        "files": {"train": "train.csv", "dev": "valid.csv", "test": "test.csv"},
        "text_a": "body_text", "label": "labels", "label_separator": "|",
        "labels": ["politics", "human_rights", "quality_of_life"],
        "metrics": ["micro_f1", "macro_f1"]}}

``type``: "tsv" or "csv"; ``problem``: "single_label" (default), "multi_label" or "regression";
columns by index or header name (``header``: true/false); ``labels`` may be omitted for single-
label tasks, in which case the sorted set of labels in the training file is used.
"""

from __future__ import annotations

from typing import Any, Dict

from electra_tf.errors import ConfigError, closest
from electra_tf.finetuning.tasks.classification import Columns, SentenceTask, SentenceTaskSpec

_KEYS = {"type", "problem", "files", "text_a", "text_b", "label", "labels", "header", "metrics", "delimiter",
         "label_separator", "double_unordered", "regression_scale", "skip_malformed_lines", "quotechar",
         "label_aliases", "skip_empty"}


def build_generic_task(config, name: str, tokenizer, options: Dict[str, Any]):
    if options.get("type") == "tagging":
        from electra_tf.finetuning.tasks.tagging import build_generic_tagging_task

        return build_generic_tagging_task(config, name, tokenizer, options)
    if options.get("type") == "tfds":
        from electra_tf.finetuning.tasks.tfds_task import TfdsSentenceTask

        return TfdsSentenceTask(config, name, tokenizer, options)
    unknown = set(options) - _KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"task_config.{name}: unknown key {key!r}.{closest(key, _KEYS)} Keys: {', '.join(sorted(_KEYS))}.")
    kind = options.get("type")
    if kind not in ("tsv", "csv"):
        raise ConfigError(f"task_config.{name}.type must be 'tsv', 'csv' or 'tfds' for sentence tasks, got {kind!r}.")
    problem = options.get("problem", "single_label")
    if problem not in ("single_label", "multi_label", "regression"):
        raise ConfigError(f"task_config.{name}.problem must be single_label, multi_label or regression, got {problem!r}.")
    if "text_a" not in options or (problem != "regression" and "label" not in options and problem != "single_label"):
        raise ConfigError(f"task_config.{name}: give at least text_a and label (column index or header name).")
    files = options.get("files", {"train": "train." + kind, "dev": "dev." + kind, "test": "test." + kind})
    files = {split: [f] if isinstance(f, str) else list(f) for split, f in files.items()}
    default_metrics = {"single_label": ["accuracy"], "multi_label": ["micro_f1", "macro_f1"], "regression": ["pearson", "spearman"]}
    spec = SentenceTaskSpec(
        files=files,
        columns=Columns(options["text_a"], options.get("text_b"), options.get("label", 1)),
        labels=None if problem == "regression" else options.get("labels"),
        regression=problem == "regression",
        header=options.get("header", True),
        metrics=tuple(options.get("metrics", default_metrics[problem])),
        delimiter=options.get("delimiter", "\t" if kind == "tsv" else ","),
        quotechar=options.get("quotechar", None if kind == "tsv" else '"'),
        double_unordered=bool(options.get("double_unordered", False)),
        regression_scale=float(options.get("regression_scale", 1.0)),
        label_aliases=dict(options.get("label_aliases", {})),
        skip_empty=bool(options.get("skip_empty", False)),
        multi_label=problem == "multi_label",
        label_separator=options.get("label_separator", ","),
    )
    task = SentenceTask(config, name, tokenizer, spec)
    if problem != "regression" and not spec.labels:
        task.infer_labels()
    return task
