"""run_finetuning: trials of train -> evaluate -> write results, as the original runner.

Outputs (paths from FinetuningConfig, as the original): fine-tuned checkpoints in
``finetuning_models/<tasks>_model_<trial>``, ``results/<tasks>_results.txt`` (one line per task
and trial, the original's format) plus ``<tasks>_results.json`` (per trial, seed, and max / mean
over trials) and ``<tasks>_config.json`` (the fully resolved hparams), test predictions in
``test_predictions/``.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import shutil
import time
from typing import Dict, List, Optional

import numpy as np

from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError, ConfigError, DataError
from electra_tf.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text

logger = logging.getLogger("electra_tf")

MODEL_SUBDIR = "model"  # the exported single-task model inside a trial's model_dir


# ---------------------------------------------------------------------------- model config
def checkpoint_config(path: str) -> Optional[ElectraConfig]:
    """The encoder config stored with (or inferred from) a pre-trained checkpoint."""
    from electra_tf.checkpoints import tf1
    from electra_tf.checkpoints.loading import HF, KERAS, detect_layout

    layout = detect_layout(path)
    if layout in (HF, KERAS):
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        return ElectraConfig.from_json_file(os.path.join(directory, "config.json"))
    prefix = tf1.resolve_checkpoint_prefix(path)
    shapes = tf1.list_tf1_variables(prefix)
    inferred = tf1.infer_config(shapes, prefix)
    found = tf1.find_config_file(prefix, "base")
    if found:
        stored = ElectraConfig.from_json_file(found)
        tf1.check_config_against_shapes(stored, inferred, prefix, found)
        return stored
    return inferred


_SIZE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def resolve_model_config(config) -> ElectraConfig:
    """The encoder the original would build from the hparams, reconciled with the checkpoint.

    Fields the user set explicitly (model_size, vocab_size, embedding_size,
    model_hparam_overrides) must agree with the checkpoint: a disagreement is an error naming
    the hparam. Defaulted fields take the checkpoint's value (the original would have failed
    with a shape mismatch in init_from_checkpoint).
    """
    user = config.user_hparams
    if config.debug:
        # FinetuningModel's debug model; it is trained from scratch (see run_trial).
        return ElectraConfig.from_finetuning_hparams(config.model_size, config.vocab_size, config.embedding_size,
                                                     config.model_hparam_overrides, debug=True)
    derived = ElectraConfig.from_finetuning_hparams(
        config.model_size, config.vocab_size, config.embedding_size, config.model_hparam_overrides)
    init = config.init_checkpoint
    if not init or not os.path.exists(init) and not os.path.exists(init + ".index"):
        if init:
            raise CheckpointError(
                f"Pre-trained model not found: {init}. Put the checkpoint in <data-dir>/models/<model-name>/ "
                f"(an original TF1 checkpoint, a HuggingFace directory or an electra-tf directory)."
            )
        return derived
    stored = checkpoint_config(init)
    explicit = {}
    if "vocab_size" in user:
        explicit["vocab_size"] = "vocab_size"
    if "embedding_size" in user or ("model_size" in user and config.model_size == "small"):
        explicit["embedding_size"] = "embedding_size" if "embedding_size" in user else "model_size (small implies embedding_size 128)"
    if "model_size" in user:
        explicit.update({f: "model_size" for f in _SIZE_FIELDS})
    for key in config.model_hparam_overrides:
        explicit[key] = f"model_hparam_overrides.{key}"
    changes = {}
    for field in ("vocab_size", "embedding_size", *_SIZE_FIELDS, "max_position_embeddings", "type_vocab_size"):
        want, have = getattr(derived, field), getattr(stored, field)
        if want == have:
            continue
        if field in explicit:
            if field == "num_attention_heads" and "num_attention_heads" not in config.model_hparam_overrides:
                changes[field] = have  # heads cannot be read from TF1 shapes; the stored config wins
                continue
            raise ConfigError(
                f"The hparam {explicit[field]} gives {field}={want}, but the checkpoint {init} has {field}={have}; "
                f"change the hparam (or remove it to use the checkpoint's value)."
            )
        changes[field] = have
    for field in ("hidden_act", "layer_norm_eps"):
        changes[field] = getattr(stored, field)
    # dropout and other overrides of the user stay as the hparams say
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if key in config.model_hparam_overrides:
            changes[key] = config.model_hparam_overrides[key]
    return derived.replace(**changes)


# ---------------------------------------------------------------------------- helpers
def training_checkpoint(model, optimizer=None):
    """A tf.train.Checkpoint naming every weight explicitly (canonical names), the dropout RNG
    states (in model order) and the optimizer (slots, step, loss scale).

    Explicit because tf.train.Checkpoint does not track Keras 3 layers kept in Python lists (the
    encoder's layers) nor Keras seed generators; without the RNG states a resumed run would draw
    different dropout masks than an uninterrupted one.
    """
    import tensorflow as tf

    from electra_tf.training.optimization import tf_variable

    weights = tf.Module(name="weights")
    weights.by_name = {ref.name: tf_variable(ref.variable) for ref in model.hf_weights()}
    rng = [v for v in model.non_trainable_variables if "seed_generator" in v.path]
    weights.rng_states = [tf_variable(v) for v in rng]
    parts = {"weights": weights}
    if optimizer is not None:
        parts["optimizer"] = optimizer
    return tf.train.Checkpoint(**parts)


def is_chief(strategy) -> bool:
    """Whether this process writes results and exports (multi-worker: the chief, or worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def set_seed(seed: int) -> None:
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def write_results(config, trials: List[Dict]) -> None:
    """results.txt in the original's format, results.pkl, and results.json with max/mean."""
    lines = []
    for trial in trials:
        for task, metrics in trial["results"].items():
            lines.append(task + ": " + " - ".join(f"{k}: {v:.2f}" for k, v in metrics.items()))
    atomic_write_text(config.results_txt, "\n".join(lines) + ("\n" if lines else ""))
    atomic_write_bytes(config.results_pkl, pickle.dumps([t["results"] for t in trials]))
    summary: Dict[str, Dict[str, Dict[str, float]]] = {}
    for task in config.task_names:
        values: Dict[str, List[float]] = {}
        for trial in trials:
            for metric, value in trial["results"].get(task, {}).items():
                values.setdefault(metric, []).append(value)
        summary[task] = {m: {"max": float(np.max(v)), "mean": float(np.mean(v)), "min": float(np.min(v)),
                             "std": float(np.std(v)), "n": len(v)} for m, v in values.items()}
    atomic_write_json(config.results_json, {"tasks": config.task_names, "trials": trials, "summary": summary})


def _flatten_outputs(outputs: Dict, row: int) -> Dict:
    return {k: v[row] for k, v in outputs.items()}


# ---------------------------------------------------------------------------- runner
class FinetuningRunner:
    """Builds tokenizer, tasks and strategy once; runs trials."""

    def __init__(self, config):
        from electra_tf.finetuning.builtin_tasks import get_task
        from electra_tf.finetuning.options import TaskOptions
        from electra_tf.text.tokenizer import build_tokenizer
        from electra_tf.training.distribute import build_strategy
        from electra_tf.training.precision import apply_precision

        self.config = config
        if not os.path.isfile(config.vocab_file):
            raise ConfigError(
                f"Vocabulary not found: {config.vocab_file}. Put vocab.txt in <data-dir>/models/<model-name>/ "
                f"or <data-dir>/, or set the hparam vocab_file."
            )
        self.tokenizer = build_tokenizer(config.vocab_file, config.do_lower_case, space_token=config.space_token)
        self.tasks = [get_task(TaskOptions.from_config(config, name), name, self.tokenizer) for name in config.task_names]
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
        apply_precision(config)
        self.strategy = build_strategy(config)
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

    # ------------------------------------------------------------------ model
    def build_model(self):
        from electra_tf.finetuning.model import FinetuningModel

        with self.strategy.scope():
            model = FinetuningModel(self.model_config, self.tasks, head_type=self.config.head)
            model.build_for(self.config.max_seq_length)
        return model

    def load_pretrained(self, model) -> None:
        from electra_tf.checkpoints.loading import read_checkpoint
        from electra_tf.checkpoints.state import assign_state

        if self.config.debug or not self.config.init_checkpoint:
            logger.info("No pre-trained checkpoint (debug mode): training from random initialisation.")
            return
        _, state, skipped, layout = read_checkpoint(self.config.init_checkpoint, config=self.model_config, model_type="base")
        report = assign_state(model, state, source=self.config.init_checkpoint, skip_reasons=skipped)
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
                loss_scale=DynamicLossScale() if needs_loss_scaling(self.config) else None)
        return optimizer, [r.variable for r in refs]

    # ------------------------------------------------------------------ data
    def dataset(self, split: str, is_training: bool, tasks=None, seed: int = 0):
        from electra_tf.finetuning import data

        tasks = tasks or self.tasks
        batch = self.config.train_batch_size if is_training else self.config.eval_batch_size
        files = [f for t in tasks for f in t.data_files(split)]
        path, meta = data.prepare_split(self.config, self.tasks, tasks, split, is_training, batch, files)
        spec = data.full_feature_spec(self.tasks, self.config.max_seq_length)
        if is_training:  # micro-batches of one optimizer step (gradient accumulation)
            batch //= self.config.gradient_accumulation_steps
        dynamic = self.config.dynamic_padding and all(t.supports_dynamic_padding for t in self.tasks)
        bucket = self.config.bucket_size if dynamic else 0
        return data.make_dataset(path, spec, batch, is_training, seed=seed, bucket_size=bucket,
                                 max_seq_length=self.config.max_seq_length), meta

    # ------------------------------------------------------------------ train
    def train(self, model, model_dir: str, seed: int):
        import tensorflow as tf

        from electra_tf.training.loop import Trainer
        from electra_tf.training.progress import TrainingMonitor, progress_enabled

        dataset, meta = self.dataset("train", True, seed=seed)
        num_train_steps = int(meta["n_examples"] // self.config.train_batch_size * self.config.num_train_epochs)
        optimizer, variables = self.make_optimizer(model, num_train_steps)
        checkpoint = training_checkpoint(model, optimizer)
        if not self.is_chief:
            # Every worker takes part in saving; only the chief's copy is kept (TF's multi-worker rule).
            resolver = self.strategy.cluster_resolver
            model_dir = os.path.join(model_dir, f".{resolver.task_type}_{resolver.task_id}_tmp")
        manager = tf.train.CheckpointManager(checkpoint, model_dir, max_to_keep=self.config.keep_checkpoint_max,
                                             step_counter=optimizer.iterations,
                                             checkpoint_interval=self.config.save_checkpoints_steps)
        start = 0
        if manager.latest_checkpoint:
            if not self.config.resume:
                raise ConfigError(f"{model_dir} already holds checkpoints; set resume true, or overwrite_model_dir true to start over.")
            checkpoint.restore(manager.latest_checkpoint).assert_consumed()
            start = int(optimizer.iterations.numpy())
            logger.info("Resuming from %s at step %d of %d", manager.latest_checkpoint, start, num_train_steps)
        else:
            self.load_pretrained(model)
        if start >= num_train_steps:
            logger.info("Training already finished in %s (step %d).", model_dir, start)
            return start
        # The input position is part of the state: skip the batches already consumed (the
        # shuffled order is a function of the seed, so the resumed run sees the same data).
        accumulation = self.config.gradient_accumulation_steps
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset.skip(start * accumulation)))
        from electra_tf.training.distribute import resolve_jit_compile

        trainer = Trainer(self.strategy, model, optimizer, variables, accumulation_steps=accumulation,
                          jit_compile=resolve_jit_compile(self.config, self.strategy))
        monitor = TrainingMonitor(num_train_steps, self.config.train_batch_size, start_step=start,
                                  every=self.config.log_every_steps, enabled=progress_enabled(self.config.progress),
                                  tensorboard_dir=os.path.join(model_dir, "tensorboard"),
                                  steps_per_epoch=meta["n_examples"] // self.config.train_batch_size)
        logger.info("Training for %d steps (%d examples incl. padding, batch %d, %s epochs)", num_train_steps,
                    meta["n_examples"], self.config.train_batch_size, self.config.num_train_epochs)
        selector = BestModelSelector(self, model, model_dir if self.is_chief else None)
        steps_per_epoch = max(meta["n_examples"] // self.config.train_batch_size, 1)
        last = num_train_steps
        try:
            for step in range(start + 1, num_train_steps + 1):
                lr = float(optimizer.learning_rate())
                loss, norm = trainer.train_step(iterator)
                monitor.step(step, float(loss), lr, float(norm))
                if self.config.save_checkpoints_steps and step % self.config.save_checkpoints_steps == 0:
                    manager.save(checkpoint_number=step)
                every = self.config.eval_every_steps
                if (every and step % every == 0) or (self.config.eval_each_epoch and step % steps_per_epoch == 0):
                    if selector.evaluate(step):
                        logger.info("Early stopping at step %d: no dev improvement in %d evaluations.", step,
                                    self.config.early_stopping_patience)
                        last = step
                        break
        finally:
            monitor.close()
        selector.restore_best()  # before the final checkpoint, so that it holds the model that is kept
        manager.save(checkpoint_number=last, check_interval=False)
        if not self.is_chief:
            shutil.rmtree(model_dir, ignore_errors=True)
        return last

    def eval_trainer(self, model):
        """One evaluation Trainer per model (its tf.function is traced once, not per evaluation)."""
        from electra_tf.training.loop import Trainer

        if getattr(self, "_eval_trainer_model", None) is not model:
            self._eval_trainer = Trainer(self.strategy, model, optimizer=None, variables=[])
            self._eval_trainer_model = model
        return self._eval_trainer

    def restore_finetuned(self, model, model_dir: str) -> int:
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(model_dir) if os.path.isdir(model_dir) else None
        if not latest:
            raise CheckpointError(
                f"No fine-tuned model in {model_dir}: train first (do_train true) or point model_dir at a fine-tuned run."
            )
        status = training_checkpoint(model).restore(latest)
        status.expect_partial()  # the optimizer slots are not needed to evaluate
        status.assert_existing_objects_matched()
        return int(latest.rsplit("-", 1)[-1]) if latest.rsplit("-", 1)[-1].isdigit() else 0

    # ------------------------------------------------------------------ evaluate
    def predict(self, model, task, split: str):
        """Run the model on ``split`` of one task; returns (rows, scorer)."""
        from electra_tf.training.progress import progress_bar, progress_enabled

        dataset, meta = self.dataset(split, False, tasks=[task])
        trainer = self.eval_trainer(model)
        scorer = task.get_scorer(split, model.head_state(task.name))
        task_index = self.tasks.index(task)  # padding records carry len(self.tasks)
        rows = []
        seen = 0
        bar = progress_bar(meta["n_examples"] // self.config.eval_batch_size, f"{task.name} {split}",
                           progress_enabled(self.config.progress), unit="batch")
        for outputs, losses, features in trainer.predict_batches(dataset):
            bar.update(1)
            task_ids = features["task_id"]
            for i in range(len(task_ids)):
                if task_ids[i] != task_index:
                    continue
                row_out = _flatten_outputs(outputs[task.name], i)
                row_feat = {k: v[i] for k, v in features.items()}
                task.update_scorer(scorer, row_out, row_feat, float(losses[i]))
                rows.append((row_out, row_feat))
                seen += 1
        bar.close()
        if seen != meta["n_real"]:
            raise DataError(f"Evaluation of {task.name} {split} saw {seen} of {meta['n_real']} examples.")
        return rows, scorer

    def evaluate(self, model, split: str, model_dir: Optional[str] = None, step: int = 0) -> Dict[str, Dict[str, float]]:
        from electra_tf.training.progress import write_eval_summaries

        results = {}
        for task in self.tasks:
            if not task.has_split(split):
                if split == "dev":
                    raise DataError(f"Task {task.name}: no dev data in {task.raw_data_dir()}.")
                continue
            _, scorer = self.predict(model, task, split)
            results[task.name] = scorer.get_results()
            logger.info("%s %s: %s", task.name, split, scorer.results_str())
            self.write_task_predictions(task, split, scorer)
        if model_dir and self.is_chief:
            write_eval_summaries(os.path.join(model_dir, "tensorboard"), split, step, results)
        return results

    def write_task_predictions(self, task, split: str, scorer) -> None:
        if task.prediction_folder_suffix and self.is_chief:
            folder = os.path.join(os.path.dirname(self.config.results_txt), f"{self.config.tasks_str}_{task.prediction_folder_suffix}")
            path = os.path.join(folder, f"{task.name}_{split}_predictions.txt")
            task.write_predictions(split, scorer, path)
            logger.info("Wrote %s %s predictions to %s", task.name, split, folder)

    def write_test_outputs(self, model, trial: int) -> None:
        from electra_tf.finetuning.task import TEST_OUTPUTS_PREDICTION_FILES

        if not self.is_chief:
            for task in self.tasks:  # take part in the distributed prediction, write nothing
                for split in task.test_splits():
                    if task.has_split(split):
                        self.predict(model, task, split)
            return
        for task in self.tasks:
            for split in task.test_splits():
                if not task.has_split(split):
                    continue
                rows, scorer = self.predict(model, task, split)
                if task.test_outputs == TEST_OUTPUTS_PREDICTION_FILES:
                    self.write_task_predictions(task, split, scorer)
                    continue
                eid_key = f"{task.name}_eid"
                predictions = {int(f[eid_key]): task.prediction_for_output(o) for o, f in rows}
                path = self.config.test_predictions_for(task.name, split, trial)
                atomic_write_bytes(path, pickle.dumps(predictions))
                labels = "".join(f"{int(f[eid_key])}\t{task.label_of(o)}\n" for o, f in rows)
                atomic_write_text(os.path.splitext(path)[0] + ".tsv", "index\tprediction\n" + labels)
                logger.info("Wrote %d %s %s predictions to %s", len(rows), task.name, split, path)

    def export_single_task(self, model, model_dir: str) -> None:
        """Save a single-task run as an electra-tf model directory (loadable with from_pretrained)."""
        from electra_tf.checkpoints.state import assign_state
        from electra_tf.finetuning.task import head_weight_prefix
        from electra_tf.modeling.models import MODEL_CLASSES

        if len(self.tasks) != 1 or not self.is_chief:
            return
        task = self.tasks[0]
        info = task.export_info()
        if not info.exportable:
            logger.info("%s", info.reason)
            return
        prefix = head_weight_prefix(task.name)
        state = {ref.name[len(prefix):] if ref.name.startswith(prefix) else ref.name: ref.variable.numpy()
                 for ref in model.hf_weights()}
        labels = info.labels
        cfg = self.model_config.replace(num_labels=info.num_labels, head=self.config.head)
        if labels:
            cfg = cfg.replace(id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        export = MODEL_CLASSES[info.model_type](cfg).build_with_dummy_inputs()
        assign_state(export, state, source="fine-tuned model", strict=True)
        export.save_pretrained(os.path.join(model_dir, MODEL_SUBDIR), format="keras")
        from electra_tf.checkpoints.hf import write_tokenizer_files

        if self.config.vocab_file.endswith(".txt"):
            write_tokenizer_files(os.path.join(model_dir, MODEL_SUBDIR), self.config.vocab_file, self.config.do_lower_case)
        if self.config.export_saved_model:
            from electra_tf.export import export_saved_model

            vocab = self.config.vocab_file if self.config.vocab_file.endswith(".txt") else None
            export_saved_model(export, os.path.join(model_dir, "saved_model"), vocab, self.config.do_lower_case,
                               self.config.max_seq_length)
            logger.info("SavedModel written to %s", os.path.join(model_dir, "saved_model"))

    # ------------------------------------------------------------------ trials
    def run(self) -> List[Dict]:
        config = self.config
        os.makedirs(os.path.dirname(config.results_txt), exist_ok=True)
        resolved = {k: v for k, v in config.to_dict().items()}
        resolved["model_config"] = self.model_config.to_dict()
        if self.is_chief:
            atomic_write_json(os.path.splitext(config.results_txt)[0].replace("_results", "_config") + ".json", resolved)
        trials: List[Dict] = []
        trial = 1
        while config.num_trials < 0 or trial <= config.num_trials:
            seed = (config.seed + trial - 1) if config.seed is not None else random.SystemRandom().randrange(2 ** 31)
            set_seed(seed)
            model_dir = config.trial_model_dir(trial)
            logger.info("Trial %d (seed %d): %s", trial, seed, model_dir)
            model = self.build_model()
            global_step = 0
            started = time.time()
            if config.do_train:
                if config.overwrite_model_dir and os.path.isdir(model_dir):
                    shutil.rmtree(model_dir)
                global_step = self.train(model, model_dir, seed)
                self.export_single_task(model, model_dir)
            elif config.do_eval or config.write_test_outputs or config.do_test:
                global_step = self.restore_finetuned(model, model_dir)
            record = {"trial": trial, "seed": seed, "global_step": global_step, "results": {}}
            if config.do_eval:
                record["results"] = self.evaluate(model, "dev", model_dir, global_step)
            if config.do_test and any(t.has_split("eval") for t in self.tasks):
                record["eval_results"] = self.evaluate(model, "eval", model_dir, global_step)
            record["time"] = time.time() - started
            if config.do_eval or "eval_results" in record:
                trials.append(record)
                if self.is_chief:
                    write_results(config, trials)
            if config.write_test_outputs and trial <= config.n_writes_test:
                self.write_test_outputs(model, trial)
            if trial != config.num_trials and not config.keep_all_models and os.path.isdir(model_dir):
                shutil.rmtree(model_dir)
            trial += 1
        return trials


LOWER_IS_BETTER = ("loss", "mse")


class BestModelSelector:
    """Dev evaluations during training: keep the best weights by ``best_metric`` (mean over the
    tasks that report it) and signal early stopping after ``early_stopping_patience`` evaluations
    without improvement. The best weights are written to ``<model_dir>/best/`` and restored at the
    end of training."""

    def __init__(self, runner, model, model_dir: Optional[str]):
        self.runner, self.model, self.model_dir = runner, model, model_dir
        self.metric = runner.config.best_metric
        self.patience = runner.config.early_stopping_patience
        self.best: Optional[float] = None
        self.best_step: Optional[int] = None
        self.bad_evaluations = 0
        self._best_weights = None

    def _value(self, results) -> float:
        values = [metrics[self.metric] for metrics in results.values() if self.metric in metrics]
        if not values:
            available = sorted({m for metrics in results.values() for m in metrics})
            raise ConfigError(f"hparam best_metric {self.metric!r} is not among the dev metrics: {', '.join(available)}.")
        return float(np.mean(values))

    def evaluate(self, step: int) -> bool:
        """Evaluate dev now; return True when training should stop early."""
        results = self.runner.evaluate(self.model, "dev", self.model_dir, step)
        if not self.metric:
            return False
        value = self._value(results)
        better = self.best is None or (value < self.best if self.metric in LOWER_IS_BETTER else value > self.best)
        if better:
            self.best, self.best_step, self.bad_evaluations = value, step, 0
            self._best_weights = [np.array(ref.variable.numpy()) for ref in self.model.hf_weights()]
            if self.model_dir:
                path = os.path.join(self.model_dir, "best")
                training_checkpoint(self.model).write(os.path.join(path, "weights"))
                atomic_write_json(os.path.join(path, "best.json"), {"metric": self.metric, "value": value, "step": step,
                                                                  "results": results})
            logger.info("New best dev %s %.4f at step %d", self.metric, value, step)
            return False
        self.bad_evaluations += 1
        return bool(self.patience) and self.bad_evaluations >= self.patience

    def restore_best(self) -> None:
        if self._best_weights is None:
            return
        for ref, value in zip(self.model.hf_weights(), self._best_weights):
            ref.variable.assign(value)
        logger.info("Restored the best weights (dev %s %.4f at step %d).", self.metric, self.best, self.best_step)


def run_finetuning(config) -> List[Dict]:
    return FinetuningRunner(config).run()
