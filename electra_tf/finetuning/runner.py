"""run_finetuning: trials of train -> evaluate -> write results, as the original runner.

Outputs (paths from FinetuningConfig, as the original): fine-tuned checkpoints in
``finetuning_models/<tasks>_model_<trial>``, ``results/<tasks>_results.txt`` (one line per task
and trial, the original's format) plus ``<tasks>_results.json`` (per trial, seed, and max / mean
over trials) and ``<tasks>_config.json`` (the fully resolved hparams), test predictions in
``test_predictions/``. With the hparam ``run_name`` every one of these names gets ``_<run_name>``
after ``<tasks>`` (variants of a task side by side).

A rerun of a finished run (same fingerprint: hparams, trial identities, evaluated files) prints
its stored results and writes nothing; a rerun with evaluation-only changes reuses the trained
models and leaves their model directories as they are.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import random
import shutil
import time
from typing import Dict, Iterator, List, Optional, Tuple

from electra_tf.finetuning.model_config import resolve_model_config
from electra_tf.finetuning.tokenizer_settings import resolve_tokenizer_settings
from electra_tf.errors import CheckpointError, ConfigError, DataError
from electra_tf.finetuning.data import SplitDatasets
from electra_tf.finetuning.evaluation import Evaluator, hf_named_weights
from electra_tf.finetuning.features import warn_unknown_tokens
from electra_tf.finetuning.identity import training_settings
from electra_tf.finetuning.model_export import export_task_models, write_run_tasks
from electra_tf.finetuning.results import write_results
from electra_tf.training.runtime import is_chief, set_seed
from electra_tf.utils.files import read_json_or_none

logger = logging.getLogger("electra_tf")


def training_checkpoint(model, optimizer=None):
    """The engine's training checkpoint of a fine-tuning model, its weights named canonically
    (``weights/by_name/<hf name>``, ``weights/rng_states``, ``optimizer``)."""
    from electra_tf.training import checkpointing

    return checkpointing.training_checkpoint(model, optimizer, named_weights=hf_named_weights(model))


def resumable_checkpoint(config) -> Optional[str]:
    """The newest training checkpoint of the run's trials, if any (what a rerun continues from)."""
    from electra_tf.training.checkpointing import latest_checkpoint

    trial = 1
    found = None
    while os.path.isdir(config.trial_model_dir(trial)):
        found = latest_checkpoint(config.trial_model_dir(trial)) or found
        trial += 1
    return found


# ---------------------------------------------------------------------------- runner
class FinetuningRunner:
    """Builds tokenizer, tasks and strategy once; runs trials."""

    def __init__(self, config):
        from electra_tf.finetuning.builtin_tasks import get_task
        from electra_tf.finetuning.options import TaskOptions
        from electra_tf.text.tokenizer import build_tokenizer
        from electra_tf.training.distribute import build_strategy
        from electra_tf.training.precision import apply_precision
        from electra_tf.training.settings import DistributionSettings

        self.config = config
        self.trained_settings: Dict[int, Dict] = {}  # eval-only runs: what each trial was trained with
        self.fresh_exports = set()  # trials whose model directories this run wrote (their cards are rewritten)
        if not os.path.isfile(config.vocab_file):
            raise ConfigError(
                f"Vocabulary not found: {config.vocab_file}. Put vocab.txt in <data-dir>/models/<model-name>/ "
                f"or <data-dir>/, or set the hparam vocab_file."
            )
        self.tokenizer = build_tokenizer(config.vocab_file, space_token=config.space_token,
                                         **resolve_tokenizer_settings(config).as_kwargs())  # sets config.do_lower_case
        self.tasks = [get_task(TaskOptions.from_config(config, name), name, self.tokenizer) for name in config.task_names]
        self.datasets = SplitDatasets(config, self.tasks)
        self.model_config = resolve_model_config(config)
        if self.tokenizer.vocab_size > self.model_config.vocab_size:
            raise ConfigError(
                f"The vocabulary {config.vocab_file} has {self.tokenizer.vocab_size} tokens but the model's vocab_size is "
                f"{self.model_config.vocab_size}; use the vocab.txt that belongs to the checkpoint."
            )
        if config.max_seq_length > self.model_config.max_position_embeddings:
            raise ConfigError(
                f"max_seq_length {config.max_seq_length} exceeds the model's {self.model_config.max_position_embeddings} "
                f"position embeddings; lower max_seq_length."
            )
        # the policy trained with, "auto" resolved: what the logs, results and run identity record
        config.mixed_precision = apply_precision(config.mixed_precision, DistributionSettings.from_hparams(config))
        self.strategy = build_strategy(DistributionSettings.from_hparams(config))
        self.n_replicas = self.strategy.num_replicas_in_sync
        self.is_chief = is_chief(self.strategy)
        if config.train_batch_size % (config.gradient_accumulation_steps * self.n_replicas):
            raise ConfigError(
                f"train_batch_size={config.train_batch_size} must be divisible by gradient_accumulation_steps="
                f"{config.gradient_accumulation_steps} times the {self.n_replicas} replica(s): it is the batch of one "
                f"optimizer step, split into micro-batches."
            )
        for name in ("train_batch_size", "eval_batch_size"):
            if getattr(config, name) % self.n_replicas:
                raise ConfigError(
                    f"{name}={getattr(config, name)} is a global batch size and must be divisible by the "
                    f"{self.n_replicas} replicas of the distribution strategy."
                )
        self.evaluator = Evaluator(config, self.tasks, self.datasets, self.strategy, self.is_chief)

    # ------------------------------------------------------------------ model
    def build_model(self):
        from electra_tf.finetuning.model import FinetuningModel

        with self.strategy.scope():
            model = FinetuningModel(self.model_config, self.tasks)
            model.build_for(self.config.max_seq_length)
        return model

    def load_pretrained(self, model) -> None:
        from electra_tf.checkpoints.registry import load_pretrained_encoder
        from electra_tf.modeling.models import MODEL_CLASSES

        if self.config.debug or not self.config.init_checkpoint:
            logger.info("No pre-trained checkpoint (debug mode): training from random initialisation.")
            return
        report = load_pretrained_encoder(model, self.config.init_checkpoint, self.model_config, MODEL_CLASSES)
        logger.info("%s", report.summary())

    def make_optimizer(self, model, num_train_steps: int):
        from electra_tf.training.optimization import AdamWeightDecay, DynamicLossScale, layerwise_multipliers
        from electra_tf.training.precision import needs_loss_scaling

        refs = model.hf_weights()
        multipliers = layerwise_multipliers(model.canonical_depths(), self.model_config.num_hidden_layers,
                                            self.config.layerwise_lr_decay)
        for task in self.tasks:
            multipliers.update(task.lr_multiplier_overrides(self.config.learning_rate))
        with self.strategy.scope():
            optimizer = AdamWeightDecay(
                [r.variable for r in refs], [r.name for r in refs], base_lr=self.config.learning_rate,
                num_train_steps=num_train_steps, warmup_proportion=self.config.warmup_proportion,
                weight_decay_rate=self.config.weight_decay_rate, lr_multipliers=multipliers,
                loss_scale=DynamicLossScale() if needs_loss_scaling(self.config.mixed_precision) else None)
        return optimizer, [r.variable for r in refs]

    # ------------------------------------------------------------------ data
    def dataset(self, split: str, is_training: bool, tasks=None, seed: int = 0):
        """(pipeline, metadata) of ``split`` for ``tasks`` (default: all); see ``data.SplitDatasets``."""
        return self.datasets.get(split, is_training, tasks=tasks, seed=seed)

    # ------------------------------------------------------------------ train
    def train(self, model, model_dir: str, seed: int):
        """Fine-tune ``model`` into ``model_dir`` with the training engine; returns the last step."""
        from electra_tf.training.distribute import resolve_jit_compile
        from electra_tf.training.engine import FitOptions, TrainingEngine

        config = self.config
        dataset, meta = self.dataset("train", True, seed=seed)
        num_train_steps = int(meta["n_examples"] // config.train_batch_size * config.num_train_epochs)
        optimizer, variables = self.make_optimizer(model, num_train_steps)
        engine = TrainingEngine(self.strategy, model, optimizer, per_example_loss=model.per_example_loss,
                                named_weights=lambda: hf_named_weights(model), variables=variables,
                                accumulation_steps=config.gradient_accumulation_steps,
                                jit_compile=resolve_jit_compile(config.jit_compile, self.strategy))
        options = FitOptions(
            num_train_steps=num_train_steps, batch_size=config.train_batch_size,
            steps_per_epoch=meta["n_examples"] // config.train_batch_size,
            save_checkpoints_steps=config.save_checkpoints_steps, save_checkpoints_secs=config.save_checkpoints_secs,
            keep_checkpoint_max=config.keep_checkpoint_max,
            resume=config.resume, eval_every_steps=config.eval_every_steps, eval_each_epoch=config.eval_each_epoch,
            best_metric=config.best_metric, early_stopping_patience=config.early_stopping_patience,
            log_every_steps=config.log_every_steps, progress=config.progress,
            description=f" ({meta['n_examples']} examples incl. padding, batch {config.train_batch_size}, "
                        f"{config.num_train_epochs} epochs)")
        dev_dir = model_dir if self.is_chief else None
        return engine.fit(dataset, model_dir, options,
                          evaluate=lambda step: self.evaluator.evaluate(model, "dev", dev_dir, step),
                          initialize=lambda: self.load_pretrained(model))

    def restore_finetuned(self, model, model_dir: str) -> int:
        """Load the fine-tuned weights of ``model_dir`` into ``model``; returns their step."""
        step = self.evaluator.engine(model).restore(model_dir)
        if step is None:
            raise CheckpointError(
                f"No fine-tuned model in {model_dir}: train first (do_train true) or point model_dir at a fine-tuned run."
            )
        return step

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, model, split: str, model_dir: Optional[str] = None, step: int = 0) -> Dict[str, Dict[str, float]]:
        """Metrics of ``model`` on ``split`` (see ``Evaluator.evaluate``)."""
        return self.evaluator.evaluate(model, split, model_dir, step)

    def check_inputs(self) -> None:
        """Read, check and featurize every split the run will use before the first training step:
        a broken dev/test file or an unknown label is reported now, not after hours of training."""
        config = self.config
        splits = []
        if config.do_train:
            splits.append("train")
        if config.do_eval:
            splits.append("dev")
        if config.do_train:
            warn_unknown_tokens(self.dataset("train", True)[1])  # cached features; train() reuses them
        for task in self.tasks:
            for split in splits + ["eval"] * bool(config.do_test) + task.test_splits() * bool(config.write_test_outputs):
                if split == "train":
                    continue
                if task.has_split(split):
                    self.dataset(split, False, tasks=[task])
                elif split == "dev":
                    raise DataError(f"Task {task.name}: no dev data in {task.raw_data_dir()}.")

    # ------------------------------------------------------------------ trials
    def identity(self, trial: int):
        """The run identity of ``trial``: what determines its training (see finetuning/identity.py)."""
        from electra_tf.finetuning import data
        from electra_tf.training.run_identity import RunIdentity, path_digest

        config = self.config
        files = [f for t in self.tasks if t.has_split("train") for f in t.data_files("train")]
        key = data.cache_key(config, self.tasks, "train", files, config.train_batch_size, portable=True)
        init = None if config.debug or not config.init_checkpoint else path_digest(config.init_checkpoint)
        return RunIdentity(config.trial_model_dir(trial), training_settings(config, self.model_config, key, init, trial),
                           absent=config.DEFAULTS)

    _WAYS_OUT = ('To train with the new settings, set "overwrite_model_dir": true (the folder is replaced) or use '
                 'another "run_name" (its own folders and results, beside this run); to reuse the trained model, run with the settings it was trained with.')

    def trial_seed(self, trial: int, identity) -> int:
        """The trial's seed: the one recorded in its folder (a resumed or reused run keeps it), else
        ``seed + trial - 1``, else a fresh random one (recorded before training starts).

        Training refuses a folder trained with other settings. Evaluating one (do_train false,
        the original's way to score a fine-tuned model) is allowed: the differences are logged and
        the results' config file records the settings the model was trained with."""
        if self.config.do_train:
            stored = identity.check(self._WAYS_OUT) if os.path.isdir(identity.folder) else None
        else:
            record = identity.stored() if os.path.isdir(identity.folder) else None
            stored = record.get("seed") if record else None
            if record:
                self.trained_settings[trial] = record.get("settings", {})
                changed = [name for name, _, _ in identity.differences(record.get("settings", {}))]
                if changed:
                    logger.warning("Evaluating %s, trained with other values of: %s (the results' config file "
                                   "records the trained ones).", identity.folder, ", ".join(changed))
        if stored is not None:
            return int(stored)
        if self.config.seed is not None:
            return self.config.seed + trial - 1
        return random.SystemRandom().randrange(2 ** 31)

    def run(self) -> List[Dict]:
        """Trials of train -> evaluate -> results, one process per run folder."""
        from electra_tf.training.run_lock import RunLock

        if not self.is_chief:
            return self._run_trials()
        with RunLock(self.config.model_dir, what="fine-tuning run"):
            return self._run_trials()

    def _trial_numbers(self) -> Iterator[int]:
        """1 .. num_trials; a negative num_trials (the original's "forever") counts without end."""
        n = self.config.num_trials
        return itertools.count(1) if n < 0 else iter(range(1, n + 1))

    def plan_trial(self, trial: int) -> "TrialPlan":
        """The trial's identity and, unless a fresh training replaces its folder, its seed: every
        decision that can refuse the run, taken before anything is trained or written."""
        config = self.config
        identity = self.identity(trial)
        if config.do_train and config.overwrite_model_dir:
            return TrialPlan(trial, identity, None)  # the seed is drawn once the old folder is gone
        if not config.do_train and os.path.isdir(identity.folder) and identity.stored() is None:
            logger.warning("%s has no record of its training settings (an older run); evaluating it as it is.",
                           identity.folder)
        return TrialPlan(trial, identity, self.trial_seed(trial, identity))

    def _run_trials(self) -> List[Dict]:
        config = self.config
        resolved = {**config.to_dict(), "model_config": self.model_config.to_dict()}
        for task in self.tasks:
            for note in task.notes():
                logger.info("%s", note)
        # Planned up front (a bounded number of trials): the fingerprint covers every trial.
        plans = {} if config.num_trials < 0 else {t: self.plan_trial(t) for t in self._trial_numbers()}
        resolved["run_fingerprint"] = self.fingerprint(resolved, {t: (p.identity, p.seed) for t, p in plans.items()})
        finished = self.finished_trials(resolved["run_fingerprint"])
        if finished is not None:
            return finished
        self.check_inputs()
        if self.is_chief:
            os.makedirs(os.path.dirname(config.results_txt), exist_ok=True)
        trials: List[Dict] = []
        for trial in self._trial_numbers():
            plan = plans.get(trial) or TrialPlan(trial, self.identity(trial), None)
            before = self._export_stamp(trial)
            model, record = self.run_trial(plan)
            if self._export_stamp(trial) != before:
                self.fresh_exports.add(trial)
            if record is not None:
                trials.append(record)
                if self.trained_settings:
                    resolved["trained_settings"] = {str(t): s for t, s in self.trained_settings.items()}
                if self.is_chief:
                    write_results(config, trials, resolved)
            model_dir = config.trial_model_dir(trial)
            if config.write_test_outputs and trial <= config.n_writes_test:
                self.evaluator.write_test_outputs(model, trial)
            if trial != config.num_trials and not config.keep_all_models and os.path.isdir(model_dir):
                shutil.rmtree(model_dir)
            if self.is_chief:
                self.write_model_cards(trial)
        return trials

    # ------------------------------------------------------------------ model cards
    def _export_stamp(self, trial: int):
        """Which task.json files the trial's model directories hold (inode, mtime): a change
        across run_trial means this run wrote the export."""
        from electra_tf.model_dir.layout import METADATA_FILE, task_model_dir

        stamps = []
        for task in self.tasks:
            try:
                st = os.stat(os.path.join(task_model_dir(self.config.trial_model_dir(trial), task.name, len(self.tasks)),
                                          METADATA_FILE))
                stamps.append((st.st_ino, st.st_mtime_ns))
            except OSError:
                stamps.append(None)
        return stamps

    def write_model_cards(self, last_trial: int) -> None:
        """README.md and plots in the model directories of trials 1..``last_trial`` whose export
        this run wrote, or that have no card yet (finetuning/model_card.py). A model directory the
        run left as it was (an evaluation-only rerun) keeps its card: electra-report refreshes it."""
        from electra_tf.finetuning.model_card import CARD_FILE, UserReadme, record_data_files, write_report
        from electra_tf.model_dir.layout import task_model_dir

        n = len(self.tasks)
        files = {t.name: {split: [f for f in t.data_files(split) if os.path.isfile(f)]
                          for split in ("train", "dev", "eval", *t.test_splits()) if t.has_split(split)}
                 for t in self.tasks}
        for trial in range(1, last_trial + 1):
            folder = self.config.trial_model_dir(trial)
            dirs = [task_model_dir(folder, t.name, n) for t in self.tasks]
            if not all(os.path.isdir(d) for d in dirs):
                continue
            if trial not in self.fresh_exports and all(os.path.lexists(os.path.join(d, CARD_FILE)) for d in dirs):
                continue
            record_data_files(folder, files)
            try:
                for path in write_report(folder):
                    logger.info("Wrote %s", path)
            except UserReadme as e:
                logger.warning("%s", e)

    def run_trial(self, plan: "TrialPlan") -> Tuple[object, Optional[Dict]]:
        """Train (or restore) and evaluate one trial; returns (its model, its results record or
        None when nothing was evaluated)."""
        config, trial, identity, seed = self.config, plan.trial, plan.identity, plan.seed
        model_dir = config.trial_model_dir(trial)
        if config.do_train and config.overwrite_model_dir and os.path.isdir(model_dir):
            shutil.rmtree(model_dir)
        if seed is None:
            seed = self.trial_seed(trial, identity)
        set_seed(seed)
        logger.info("Trial %d (seed %d): %s", trial, seed, model_dir)
        model = self.build_model()
        global_step = 0
        started = time.time()
        if config.do_train:
            if self.is_chief:
                identity.record(seed)
                write_run_tasks(model, self.tasks, self.model_config, config, model_dir)
            global_step = self.train(model, model_dir, seed)
            if self.is_chief:
                export_task_models(model, self.tasks, self.model_config, config, model_dir,
                                   {"run": os.path.abspath(model_dir), "trial": trial, "seed": seed,
                                    "global_step": int(global_step), "mixed_precision": config.mixed_precision})
        elif config.do_eval or config.write_test_outputs or config.do_test:
            global_step = self.restore_finetuned(model, model_dir)
        record = {"trial": trial, "seed": seed, "global_step": global_step, "results": {}, "evaluated": {}}
        if config.do_eval:
            record["results"] = self.evaluator.evaluate(model, "dev", model_dir, global_step)
            record["evaluated"]["dev"] = {t.name: t.evaluated_data("dev") for t in self.tasks}
        if config.do_test and any(t.has_split("eval") for t in self.tasks):
            record["eval_results"] = self.evaluator.evaluate(model, "eval", model_dir, global_step)
            record["evaluated"]["eval"] = {t.name: t.evaluated_data("eval") for t in self.tasks if t.has_split("eval")}
        record["time"] = time.time() - started
        return model, (record if config.do_eval or "eval_results" in record else None)

    # ------------------------------------------------------------------ finished runs
    def fingerprint(self, resolved: Dict, identities: Dict) -> str:
        """A digest of everything a run's results depend on: the resolved hparams, each trial's
        training identity and seed, and the contents of every file evaluated or predicted."""
        import hashlib
        import json

        from electra_tf.training.run_identity import path_digest

        files = {}
        for task in self.tasks:
            for split in ("dev", "eval", *task.test_splits()):
                if task.has_split(split):
                    files[f"{task.name}/{split}"] = [path_digest(f) for f in task.data_files(split)]
        trials = {str(t): {"settings": identity.settings, "seed": seed} for t, (identity, seed) in identities.items()}
        data = {"hparams": resolved, "trials": trials, "evaluated_files": files}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def finished_trials(self, fingerprint: str) -> Optional[List[Dict]]:
        """The trials of this very run when it already finished (same fingerprint in its results'
        config file, every results file present, each kept trial's models exported): then nothing
        is trained, evaluated or written, and the run says so. Else None."""
        from electra_tf.model_dir.layout import has_metadata, task_model_dir
        from electra_tf.finetuning.results import config_json_path

        config = self.config
        paths = (config_json_path(config), config.results_json, config.results_txt, config.results_pkl)
        if config.overwrite_model_dir or not self.is_chief or not all(os.path.isfile(p) for p in paths):
            return None
        # unreadable results are rewritten by running again
        stored, results = read_json_or_none(paths[0]), read_json_or_none(paths[1])
        if not isinstance(stored, dict) or not isinstance(results, dict):
            return None
        trials = results.get("trials")
        if (stored.get("run_fingerprint") != fingerprint
                or results.get("run_fingerprint") != fingerprint or not isinstance(trials, list)):
            return None
        if config.num_trials >= 0 and len(trials) != config.num_trials:
            return None
        for trial in range(1, max(config.num_trials, 0) + 1):
            kept = config.keep_all_models or trial == config.num_trials
            if config.do_train and kept and not all(
                    has_metadata(task_model_dir(config.trial_model_dir(trial), t.name, len(self.tasks)))
                    for t in self.tasks):
                return None  # a model directory is missing: run again (training is reused, the export rewritten)
        logger.info("This run already finished with these settings and data: its results are in %s and its models in "
                    "%s_<trial>. Nothing was trained, evaluated or written. To run it again, set \"overwrite_model_dir\": "
                    "true (the run's folders are replaced), or set another \"run_name\" to keep both.",
                    config.results_txt, config.model_dir)
        return trials


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """One trial as decided before the run starts: its number, run identity and seed (None: drawn
    when the trial starts, after ``overwrite_model_dir`` removed its old folder)."""

    trial: int
    identity: object
    seed: Optional[int]


def run_finetuning(config) -> List[Dict]:
    """Run the fine-tuning of ``config`` (see ``FinetuningRunner.run``)."""
    return FinetuningRunner(config).run()
