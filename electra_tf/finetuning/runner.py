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
from electra_tf.training.runtime import is_chief, set_seed

logger = logging.getLogger("electra_tf")

MODEL_SUBDIR = "model"  # the exported single-task model inside a trial's model_dir


# ---------------------------------------------------------------------------- model config
# Reconciling the hparams with the checkpoint lives with the checkpoint formats.
from electra_tf.checkpoints.reconcile import checkpoint_config, resolve_model_config  # noqa: E402,F401


# ---------------------------------------------------------------------------- helpers
def hf_named_weights(model):
    """The fine-tuning model's (canonical HF-style name, variable) pairs: its checkpoint names."""
    return [(ref.name, ref.variable) for ref in model.hf_weights()]


def training_checkpoint(model, optimizer=None):
    """The engine's training checkpoint of a fine-tuning model, its weights named canonically
    (``weights/by_name/<hf name>``, ``weights/rng_states``, ``optimizer``)."""
    from electra_tf.training import checkpointing

    return checkpointing.training_checkpoint(model, optimizer, named_weights=hf_named_weights(model))


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
        from electra_tf.checkpoints.reconcile import load_pretrained_encoder
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
                                jit_compile=resolve_jit_compile(config, self.strategy))
        options = FitOptions(
            num_train_steps=num_train_steps, batch_size=config.train_batch_size,
            steps_per_epoch=meta["n_examples"] // config.train_batch_size,
            save_checkpoints_steps=config.save_checkpoints_steps, keep_checkpoint_max=config.keep_checkpoint_max,
            resume=config.resume, eval_every_steps=config.eval_every_steps, eval_each_epoch=config.eval_each_epoch,
            best_metric=config.best_metric, early_stopping_patience=config.early_stopping_patience,
            log_every_steps=config.log_every_steps, progress=config.progress,
            description=f" ({meta['n_examples']} examples incl. padding, batch {config.train_batch_size}, "
                        f"{config.num_train_epochs} epochs)")
        dev_dir = model_dir if self.is_chief else None
        return engine.fit(dataset, model_dir, options, evaluate=lambda step: self.evaluate(model, "dev", dev_dir, step),
                          initialize=lambda: self.load_pretrained(model))

    def eval_trainer(self, model):
        """One evaluation engine per model (its tf.function is traced once, not per evaluation)."""
        from electra_tf.training.engine import TrainingEngine

        if getattr(self, "_eval_trainer_model", None) is not model:
            self._eval_trainer = TrainingEngine(self.strategy, model, per_example_loss=model.per_example_loss,
                                                named_weights=lambda: hf_named_weights(model))
            self._eval_trainer_model = model
        return self._eval_trainer

    def restore_finetuned(self, model, model_dir: str) -> int:
        """Load the fine-tuned weights of ``model_dir`` into ``model``; returns their step."""
        step = self.eval_trainer(model).restore(model_dir)
        if step is None:
            raise CheckpointError(
                f"No fine-tuned model in {model_dir}: train first (do_train true) or point model_dir at a fine-tuned run."
            )
        return step

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
            from electra_tf.serving import export_saved_model

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


def run_finetuning(config) -> List[Dict]:
    return FinetuningRunner(config).run()
