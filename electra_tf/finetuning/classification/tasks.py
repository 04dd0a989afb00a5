"""The registered sentence-level tasks (GLUE, HFL Chinese-ELECTRA, KoELECTRA) and the generic
``task_config`` types "tsv", "csv" and "tfds" (no code needed for a new data set).

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

from electra_tf.errors import ConfigError, check_known_keys, closest
from electra_tf.finetuning.classification.spec import Columns, SentenceTaskSpec
from electra_tf.finetuning.classification.task import SentenceTask, TfdsSentenceTask
from electra_tf.finetuning.options import TaskOptions
from electra_tf.finetuning.registry import register, register_type

GENERIC_KEYS = {"type", "problem", "files", "text_a", "text_b", "label", "labels", "header", "metrics", "delimiter",
                "label_separator", "double_unordered", "regression_scale", "skip_malformed_lines", "quotechar",
                "label_aliases", "skip_empty"}


def build_delimited_task(options: TaskOptions, name: str, tokenizer) -> SentenceTask:
    """A sentence task described entirely in task_config (type "tsv" or "csv")."""
    entry = options.task_config
    check_known_keys(f"task_config.{name}", entry, GENERIC_KEYS)
    kind = entry.get("type")
    problem = entry.get("problem", "single_label")
    if problem not in ("single_label", "multi_label", "regression"):
        raise ConfigError(f"task_config.{name}.problem must be single_label, multi_label or regression, got {problem!r}.")
    if "text_a" not in entry or (problem != "regression" and "label" not in entry and problem != "single_label"):
        raise ConfigError(f"task_config.{name}: give at least text_a and label (column index or header name).")
    files = entry.get("files", {"train": "train." + kind, "dev": "dev." + kind, "test": "test." + kind})
    files = {split: [f] if isinstance(f, str) else list(f) for split, f in files.items()}
    default_metrics = {"single_label": ["accuracy"], "multi_label": ["micro_f1", "macro_f1"], "regression": ["pearson", "spearman"]}
    spec = SentenceTaskSpec(
        files=files,
        columns=Columns(entry["text_a"], entry.get("text_b"), entry.get("label", 1)),
        labels=None if problem == "regression" else entry.get("labels"),
        regression=problem == "regression",
        header=entry.get("header", True),
        metrics=tuple(entry.get("metrics", default_metrics[problem])),
        delimiter=entry.get("delimiter", "\t" if kind == "tsv" else ","),
        quotechar=entry.get("quotechar", None if kind == "tsv" else '"'),
        double_unordered=bool(entry.get("double_unordered", False)),
        regression_scale=float(entry.get("regression_scale", 1.0)),
        label_aliases=dict(entry.get("label_aliases", {})),
        skip_empty=bool(entry.get("skip_empty", False)),
        multi_label=problem == "multi_label",
        label_separator=entry.get("label_separator", ","),
    )
    task = SentenceTask(options, name, tokenizer, spec)
    if problem != "regression" and not spec.labels:
        task.infer_labels()
    return task


register_type("tsv", build_delimited_task)
register_type("csv", build_delimited_task)
register_type("tfds", TfdsSentenceTask)


#: the task_config options of a registered sentence task (its files, columns and labels are fixed)
BUILTIN_KEYS = ("skip_malformed_lines",)


def build_registered_task(options: TaskOptions, name: str, tokenizer, spec: SentenceTaskSpec) -> SentenceTask:
    """A registered sentence task; a task_config key it does not read is an error naming the known ones."""
    unknown = [key for key in options.task_config if key not in BUILTIN_KEYS]
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"task_config.{name}: unknown option {key!r} of the built-in task {name!r}.{closest(key, BUILTIN_KEYS)} "
            f"Its options: {', '.join(BUILTIN_KEYS)} (files, columns and labels are the task's own). To read other "
            f"files or columns, describe the data set with \"type\": \"tsv\" or \"csv\" and the keys "
            f"{', '.join(sorted(GENERIC_KEYS - {'type'}))}.")
    return SentenceTask(options, name, tokenizer, spec)


def _register(name: str, spec: SentenceTaskSpec) -> None:
    register(name, lambda options, task_name, tokenizer: build_registered_task(options, task_name, tokenizer, spec))


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
    Columns(5, 6, 4), {}, None, regression=True, double_unordered=True, regression_scale=5.0, test_splits=(),
    # a task choice: the original's STS recipe, which KoELECTRA (one order) does not follow; logged
    note="; KoELECTRA trains KorSTS on one order only"))
_register("paws", SentenceTaskSpec(
    {"train": ["train.tsv", "translated_train.tsv"], "dev": ["dev.tsv", "dev_2k.tsv"], "test": ["test.tsv", "test_2k.tsv"]},
    Columns(1, 2, 3), {}, BINARY, skip_empty=True, test_splits=()))
_register("question-pair", SentenceTaskSpec(
    {"train": ["train.tsv", "kor_pair_train.csv"], "dev": ["dev.tsv", "kor_pair_test.csv"], "test": ["test.tsv", "kor_pair_test.csv"]},
    Columns(0, 1, 2), {}, BINARY, skip_empty=True, test_splits=()))
_register("hate-speech", SentenceTaskSpec(
    {"train": ["train.tsv"], "dev": ["dev.tsv", "val.tsv"], "test": ["test.tsv"]},
    Columns(1, None, 3), {}, ["none", "offensive", "hate"], metrics=("macro_f1", "accuracy"), test_splits=()))
