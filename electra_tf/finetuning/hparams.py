"""FinetuningConfig: every hparam of the original configure_finetuning.py, same names and defaults.

Precedence is the original's: base defaults and derived paths, then the user's hparams, then
single-task defaults (RTE/STS 10 epochs; names containing "squad" or "qa" 512 tokens and 2
epochs; chunk 256 tokens), then model-size defaults (large: lr 5e-5 and layer decay 0.9; small:
embedding_size 128), then debug defaults, then the user's hparams again, so a value the user
gives always wins.

Hparams beyond the original (seed, distribution, precision, accumulation, resume, ...) default
to the original behaviour. An unknown hparam is an error naming it and the closest valid name.
"""

from __future__ import annotations

import os
from typing import Any, Dict

from electra_tf.config import QA_HEAD_DEFAULTS
from electra_tf.errors import ConfigError, closest
from electra_tf.finetuning.qa.settings import DEFAULTS as QA_DEFAULTS
from electra_tf.finetuning.windows import WINDOW_HPARAMS, check_window_hparams
from electra_tf.training.cluster import CLUSTER_RESOLVERS
from electra_tf.training.runtime import TPU_HPARAMS
from electra_tf.utils.hparams import Hparams

# name -> (default, comment). Order and comments follow configure_finetuning.py.
ORIGINAL_HPARAMS: Dict[str, Any] = {
    # general
    "debug": False,  # debug mode for quickly running things
    "log_examples": False,  # print out some train examples for debugging
    "num_trials": 1,  # how many train+eval runs to perform
    "do_train": True,
    "do_eval": True,
    "do_test": True,  # HFL: evaluate on the "eval" split (finetuning_data/<task>/eval.*) when it exists
    "keep_all_models": True,  # if False, only keep the last trial's checkpoint
    # model
    "model_size": "small",
    "task_names": ["chunk"],
    "model_hparam_overrides": {},
    "embedding_size": None,  # hidden size by default; 128 for small
    "vocab_size": 30522,
    "do_lower_case": True,
    # training
    "learning_rate": 1e-4,
    "weight_decay_rate": 0.01,
    "layerwise_lr_decay": 0.8,
    "num_train_epochs": 3.0,
    "warmup_proportion": 0.1,
    "save_checkpoints_steps": 1000000,
    "iterations_per_loop": 1000,
    "use_tfrecords_if_existing": True,
    # writing model outputs to disc
    "write_test_outputs": False,
    "n_writes_test": 5,
    # sizing
    "max_seq_length": 128,
    "train_batch_size": 32,
    "eval_batch_size": 32,
    "predict_batch_size": 32,
    "double_unordered": True,
    # QA
    # (the values of the original's configure_finetuning; each written once, in qa/settings.py and
    # config.QA_HEAD_DEFAULTS)
    **{name: getattr(QA_DEFAULTS, name) for name in ("max_query_length", "doc_stride", "n_best_size",
                                                     "max_answer_length")},
    **{name: QA_HEAD_DEFAULTS[name] for name in ("answerable_classifier", "answerable_uses_start_logits",
                                                 "answerable_weight", "joint_prediction", "beam_size")},
    "qa_na_threshold": QA_DEFAULTS.qa_na_threshold,
    # TPU
    **TPU_HPARAMS,
}

# Our additions; every default keeps the original behaviour.
EXTENSION_HPARAMS: Dict[str, Any] = {
    "seed": None,  # None: a random seed per trial, recorded in the results
    "head": "electra",  # "electra": the original heads; "hf": HuggingFace's heads
    "distribution_strategy": "one_device",  # auto | one_device | mirrored | multi_worker_mirrored | tpu
    # Where multi_worker_mirrored / tpu find their cluster: tf_config (TF_CONFIG, as before) | slurm |
    # kubernetes | tpu | auto (see training/cluster.py)
    "cluster_resolver": "tf_config",
    # A worker that cannot reach the others within this many seconds fails, naming the address (0: TF's limits)
    "cluster_timeout_secs": 900.0,
    # float32 (the original) | mixed_float16 | mixed_bfloat16 | auto (bfloat16 where the hardware has it
    # natively, else float32; the run records the chosen one; see training/precision.py)
    "mixed_precision": "float32",
    "jit_compile": "auto",  # XLA: "auto" = on for a single GPU only (see training/distribute.py); true/false
    "dynamic_padding": False,  # cut batches to their longest input (sentence and tagging tasks)
    # dynamic padding rounds lengths up to a multiple of this. 8 measured fastest on review-length
    # text (one trace serves every length; 32 padded 20% more tokens and took 11% longer per epoch);
    # with jit_compile (one XLA compile per length) a larger value bounds the compiles.
    "bucket_size": 8,
    "gradient_accumulation_steps": 1,
    "keep_checkpoint_max": 5,  # the Estimator default
    # Also checkpoint every this many seconds (0: never), so a killed run loses at most this much
    # work; the original saved only every save_checkpoints_steps (1,000,000) steps. TF's Estimator
    # default was 600 s.
    "save_checkpoints_secs": 600.0,
    "resume": True,  # continue an interrupted run from its last checkpoint
    "overwrite_model_dir": False,  # the original wiped model_dir of each trial; we ask first
    "eval_every_steps": 0,  # 0: evaluate at the end only (original)
    "eval_each_epoch": False,  # also evaluate dev at the end of every epoch during training
    "best_metric": None,  # e.g. "accuracy": keep the dev-best weights (needs evaluations during training)
    "early_stopping_patience": 0,  # stop after this many evaluations without improvement (0: never)
    "progress": "auto",  # auto (bar on a terminal) | true | false
    "log_every_steps": 10,  # the original's ETAHook logged every 10 steps
    "export_saved_model": False,  # single-task runs: also write <model_dir>/saved_model for TF Serving
    "task_config": {},  # per-task settings, e.g. generic tsv/csv and tagging tasks
    "space_token": None,  # SentencePiece vocabularies: replace spaces by this token
    "tfds_data_dir": None,  # tasks read from tensorflow-datasets: their data_dir
    # A model_name owner/name with no such local folder is a Hugging Face Hub id: fetched once into
    # <data_dir>/models/owner--name (see checkpoints/hub.py); this pins its branch, tag or commit.
    "model_revision": None,
    # None: the original's paths. A name (letters, digits, ".", "-", "_") gives the run its own
    # folders and files beside the default ones, so variants of one task (e.g. "head": "electra"
    # and "hf") live side by side: finetuning_models/<tasks>_<run_name>_model_<trial>,
    # results/<tasks>_<run_name>_results.txt (.json, .pkl, _config.json, _qa/, _tagging/) and
    # test_predictions/<task>_<run_name>_<split>_<trial>_predictions.pkl.
    "run_name": None,
    # None: one run (the original). {hparam: [values, ...]}: the grid of their combinations, each point a run
    # of its own (run_name "<run_name or sweep>--<hparam>-<value>--...") of num_trials trials, summarised in
    # results/<tasks>[_<run_name>]_sweep.json and .md (see finetuning/sweep.py and docs/finetuning.md "Sweeps").
    "sweep": None,
    # Long texts (see finetuning/windows.py and docs/finetuning.md "Long texts"). false: the original's
    # truncation to max_seq_length. true: sentence (pair) tasks read a text longer than max_seq_length as
    # overlapping windows (each a training feature with the example's label), as QA's doc_stride windows;
    # window_stride is the number of tokens between window starts (null: half a window), and a classifier
    # aggregates its windows' logits by window_aggregation ("mean" or "max"). Not for QA tasks (doc_stride).
    **WINDOW_HPARAMS,
    # --- speed (#26); the default keeps the original's fixed-length batches in file order ---
    # true: training batches drawn from length groups (each epoch a seeded shuffle, sorted by length
    # within windows of 50 batches, the batches then shuffled: every example once per epoch, as
    # HuggingFace's group_by_length), evaluation / test batches sorted by length with the results put
    # back in input order, and every batch cut to its longest input (dynamic_padding implied, rounded
    # up to bucket_size). Sentence and tagging tasks; QA keeps fixed-length batches. See docs/speed.md.
    "length_grouping": False,
}

_PATH_HPARAMS = ("data_dir", "raw_data_dir", "vocab_file", "init_checkpoint", "model_dir", "results_txt",
                 "results_pkl", "qa_eval_file", "qa_preds_file", "qa_na_file", "preprocessed_data_dir",
                 "test_predictions")


class FinetuningConfig(Hparams):
    """Fine-tuning hyperparameters, with the original's names, defaults and precedence.

    Per-task path templates (``raw_data_dir``, ``qa_preds_file``, ...) contain ``{}`` and are
    filled with methods of the same meaning (``raw_data_dir_for(task)``, ...).
    """

    DEFAULTS = {**ORIGINAL_HPARAMS, **EXTENSION_HPARAMS}
    PATHS = _PATH_HPARAMS
    READ_FIRST = ("model_hparam_overrides",)
    STR_OR_BOOL = ("progress", "jit_compile")

    def __init__(self, model_name: str, data_dir: str, **kwargs):
        self.model_name = model_name
        self.set_defaults(kwargs)

        # default locations of data files (computed before the user's hparams, as the original)
        self.data_dir = data_dir
        self.model_revision = kwargs.get("model_revision")
        self.run_name = check_run_name(kwargs.get("run_name"))
        check_model_name(model_name, data_dir)
        pretrained = self.pretrained_model_dir  # a Hub id is fetched here, before the vocabulary default
        self.raw_data_dir = os.path.join(data_dir, "finetuning_data", "{}")
        self.vocab_file = self._default_vocab(pretrained, data_dir)
        tasks = ",".join(kwargs.get("task_names", self.task_names))
        run = tasks + (f"_{self.run_name}" if self.run_name else "")  # the original's "<tasks>" without run_name
        self.init_checkpoint = None if self.debug else pretrained
        self.model_dir = os.path.join(pretrained, "finetuning_models", run + "_model")
        results = os.path.join(pretrained, "results")
        self.results_txt = os.path.join(results, run + "_results.txt")
        self.results_pkl = os.path.join(results, run + "_results.pkl")
        qa_dir = os.path.join(results, run + "_qa")
        self.qa_eval_file = os.path.join(qa_dir, "{}_eval.json")
        self.qa_preds_file = os.path.join(qa_dir, "{}_preds.json")
        self.qa_na_file = os.path.join(qa_dir, "{}_null_odds.json")
        # the feature caches are keyed by content, so variants of a task (run names) share them
        self.preprocessed_data_dir = os.path.join(pretrained, "finetuning_tfrecords", tasks + "_tfrecords" + ("-debug" if self.debug else ""))
        predictions = "{}_" + (self.run_name + "_" if self.run_name else "") + "{}_{}_predictions.pkl"
        self.test_predictions = os.path.join(pretrained, "test_predictions", predictions)

        self.user_hparams = dict(kwargs)
        self.update(kwargs)

        # default hyperparameters for single-task models
        if len(self.task_names) == 1:
            task = self.task_names[0]
            if task in ("rte", "sts"):
                self.num_train_epochs = 10.0
            elif "squad" in task or "qa" in task:
                self.max_seq_length = 512
                self.num_train_epochs = 2.0
                self.write_test_outputs = False
            elif task == "chunk":
                self.max_seq_length = 256
            else:
                self.num_train_epochs = 3.0

        # default hyperparameters for different model sizes
        if self.model_size == "large":
            self.learning_rate = 5e-5
            self.layerwise_lr_decay = 0.9
        elif self.model_size == "small":
            self.embedding_size = 128

        if self.debug:
            self.save_checkpoints_steps = 1000000
            self.use_tfrecords_if_existing = False
            self.num_trials = 1
            self.iterations_per_loop = 1
            self.train_batch_size = 32
            self.num_train_epochs = 3.0
            self.log_examples = True

        # passed-in arguments override (for example) debug-mode defaults
        self.update(kwargs)
        self.validate()

    @staticmethod
    def _default_vocab(pretrained: str, data_dir: str) -> str:
        for name in ("vocab.txt", "spm.model", "sentencepiece.model", "tokenizer.model"):
            path = os.path.join(pretrained, name)
            if os.path.isfile(path):
                return path
        return os.path.join(data_dir, "vocab.txt")

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Refuse what cannot run: bad types, task names, sizes, ranges and choices, and
        settings that would silently do nothing."""
        self.check_types()
        if not isinstance(self.task_names, list) or not self.task_names or not all(isinstance(t, str) for t in self.task_names):
            raise ConfigError(f"hparam task_names must be a non-empty list of task names, got {self.task_names!r}.")
        for task in self.task_names:
            if "_" in task or "," in task or "/" in task:
                # The original flattens outputs to "<task>_<key>" and splits on the first "_",
                # so a task name with "_" lost its loss (google issue #76, HFL #32).
                raise ConfigError(
                    f"Task name {task!r} contains '_', ',' or '/', which the results file layout cannot "
                    f"represent (the original failed with KeyError: 'loss'); use '-' instead, e.g. {task.replace('_', '-')!r}."
                )
        if len(set(self.task_names)) != len(self.task_names):
            raise ConfigError(f"hparam task_names lists a task twice: {self.task_names}.")
        positive = ("train_batch_size", "eval_batch_size", "predict_batch_size", "max_seq_length",
                    "gradient_accumulation_steps", "keep_checkpoint_max", "bucket_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"hparam {name} must be a positive integer, got {value!r}.")
        self._check_ranges()
        if self.model_size not in ("small", "base", "large"):
            raise ConfigError(f"hparam model_size must be 'small', 'base' or 'large', got {self.model_size!r}.")
        if self.head not in ("electra", "hf"):
            raise ConfigError(f"hparam head must be 'electra' (the original heads) or 'hf', got {self.head!r}.")
        self.check_choices({
            "distribution_strategy": ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu"),
            "mixed_precision": ("float32", "mixed_float16", "mixed_bfloat16", "auto"),
            "cluster_resolver": CLUSTER_RESOLVERS,
        })
        if self.max_seq_length > 512 and not self.model_hparam_overrides.get("max_position_embeddings"):
            raise ConfigError(
                f"hparam max_seq_length={self.max_seq_length} exceeds the 512 position embeddings of ELECTRA; use at most 512."
            )
        if self.best_metric is not None and not isinstance(self.best_metric, str):
            raise ConfigError(f"hparam best_metric must be a metric name such as 'accuracy', got {self.best_metric!r}.")
        if (self.best_metric or self.early_stopping_patience) and not (self.eval_every_steps or self.eval_each_epoch):
            raise ConfigError("hparams best_metric and early_stopping_patience need evaluations during training: "
                              "set eval_every_steps or eval_each_epoch.")
        if self.early_stopping_patience and not self.best_metric:
            raise ConfigError("hparam early_stopping_patience needs best_metric (the dev metric to watch).")
        if not isinstance(self.task_config, dict):
            raise ConfigError("hparam task_config must be a JSON object {task_name: {...}}.")
        for name in self.task_config:
            if name not in self.task_names:
                # a misspelt task name would silently train without its settings
                raise ConfigError(f"hparam task_config has an entry for {name!r}, which is not in task_names "
                                  f"{self.task_names}: its settings would not be used.{closest(name, self.task_names)} "
                                  f"Rename the entry to the task it configures, or remove it.")
        check_window_hparams(self.text_windows, self.window_stride, self.window_aggregation, self.max_seq_length)
        from electra_tf.finetuning.sweep import check_sweep

        check_sweep(self)

    def _check_ranges(self) -> None:
        """Numbers that would train nothing useful, or fail after minutes, are refused up front."""
        import math

        def finite(name):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ConfigError(f"hparam {name} must be a finite number, got {value!r}.")
            return value

        # 0 is allowed (the weights stay as loaded, e.g. to score a checkpoint through training);
        # a negative rate would climb the loss.
        if not finite("learning_rate") >= 0:
            raise ConfigError(f"hparam learning_rate must not be negative, got {self.learning_rate!r} (e.g. 1e-4).")
        epochs = finite("num_train_epochs")
        if epochs < 0 or epochs > 1e6:
            raise ConfigError(f"hparam num_train_epochs must be between 0 and 1e6, got {epochs!r}.")
        if not 0.0 <= finite("warmup_proportion") <= 1.0:
            raise ConfigError(f"hparam warmup_proportion must be in [0, 1] (a fraction of the steps), got "
                              f"{self.warmup_proportion!r}.")
        if not 0.0 <= finite("weight_decay_rate") < 1.0:
            raise ConfigError(f"hparam weight_decay_rate must be in [0, 1), got {self.weight_decay_rate!r}.")
        if not 0.0 < finite("layerwise_lr_decay") <= 1.0:
            raise ConfigError(f"hparam layerwise_lr_decay must be in (0, 1] (1 = no decay), got {self.layerwise_lr_decay!r}.")
        # [CLS] x [SEP] needs 3 positions; a pair [CLS] a [SEP] b [SEP] needs 5.
        if self.max_seq_length < 5:
            raise ConfigError(f"hparam max_seq_length={self.max_seq_length} leaves no room for text beside the special "
                              f"tokens [CLS] and [SEP]; use at least 5 (128 is the original default).")
        if not 0 <= finite("save_checkpoints_secs"):
            raise ConfigError(f"hparam save_checkpoints_secs must be >= 0 (0: no time-based checkpoints), got "
                              f"{self.save_checkpoints_secs!r}.")
        if not 0 <= finite("cluster_timeout_secs"):
            raise ConfigError(f"hparam cluster_timeout_secs must be >= 0 (0: TensorFlow's own limits), got "
                              f"{self.cluster_timeout_secs!r}.")
        for name in ("max_query_length", "doc_stride", "n_best_size", "max_answer_length", "beam_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"hparam {name} must be a positive integer, got {value!r}.")

    # ------------------------------------------------------------------ paths
    @property
    def pretrained_model_dir(self) -> str:
        from electra_tf.checkpoints.hub import resolve_model_dir

        return resolve_model_dir(os.path.join(self.data_dir, "models"), self.model_name, self.model_revision)

    @property
    def tasks_str(self) -> str:
        return ",".join(self.task_names)

    @property
    def run_str(self) -> str:
        """The prefix of the run's files: ``<tasks>`` (the original's), or ``<tasks>_<run_name>``."""
        return self.tasks_str + (f"_{self.run_name}" if self.run_name else "")

    def raw_data_dir_for(self, task: str) -> str:
        return self.raw_data_dir.format(task)

    def qa_preds_file_for(self, name: str) -> str:
        return self.qa_preds_file.format(name)

    def qa_na_file_for(self, name: str) -> str:
        return self.qa_na_file.format(name)

    def qa_eval_file_for(self, name: str) -> str:
        return self.qa_eval_file.format(name)

    def test_predictions_for(self, task: str, split: str, trial: int) -> str:
        return self.test_predictions.format(task, split, trial)

    @property
    def results_json(self) -> str:
        return os.path.splitext(self.results_txt)[0] + ".json"

    def trial_model_dir(self, trial: int) -> str:
        return f"{self.model_dir}_{trial}"


_RUN_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def check_run_name(value: Any):
    """``run_name`` as given when it is None or a plain name usable in file names, else a ConfigError."""
    if value is None:
        return None
    if (not isinstance(value, str) or not value or len(value) > 100 or value.startswith(".")
            or not set(value) <= _RUN_NAME_CHARS):
        raise ConfigError(f"hparam run_name must be a name of at most 100 letters, digits, '.', '-' or '_' (not starting "
                          f"with '.'), used in the run's folder and file names, e.g. \"hf-head\"; got {value!r}.")
    return value


def check_model_name(model_name: str, data_dir: str) -> None:
    """--model-name must name a folder inside ``<data-dir>/models/``: the run's outputs
    (finetuning_models/, results/, ...) are written inside the model's folder (the original joins
    data-dir/models/<model-name>), so a path leading elsewhere would write them outside --data-dir."""
    models = os.path.join(data_dir, "models")
    if not isinstance(model_name, str) or not model_name.strip():
        raise ConfigError("--model-name is empty; give the name of the model's folder in <data-dir>/models/.")
    inside = os.path.normpath(os.path.join(models, model_name))
    parts = model_name.replace("\\", "/").split("/")
    if os.path.isabs(model_name) or ".." in parts or not inside.startswith(os.path.normpath(models) + os.sep):
        raise ConfigError(
            f"--model-name {model_name!r} is a path leading outside {models}: the run writes its outputs "
            f"(finetuning_models/, results/) inside the model's folder, so it must be a folder name under "
            f"{models}/ (the original's layout). Move or symlink the model there (e.g. {models}/"
            f"{os.path.basename(os.path.normpath(model_name)) or 'my-model'}), or keep --model-name a name and point the "
            f"hparams init_checkpoint and vocab_file at the checkpoint's files.")
