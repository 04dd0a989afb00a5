"""Pre-training runs: train with the training engine, evaluate with the original metrics, export
the original TF1 layout. Used by ``run_pretraining.py``.

Layout of ``model_dir`` (``<data-dir>/models/<model-name>``):

* ``training_checkpoints/ckpt-<step>``: weights, optimizer slots, step, masking/sampling and
  dropout RNG states (every ``save_checkpoints_steps``, the last ``keep_checkpoint_max`` kept);
  rerunning the same command resumes exactly (same data, same draws); ``seed.json`` the seed;
  ``run_identity.json`` the settings that determine the training (a rerun with other ones is
  refused, naming them; see ``identity.py``); ``records_verified.json`` the record files already
  checked (see ``manifest.py``);
* ``training_checkpoints/tensorboard``: loss, learning rate, gradient norm;
* ``model.ckpt-<step>`` + ``checkpoint`` + ``discriminator.json`` / ``generator.json`` + vocab:
  the original TF1 layout, written at the end of training (what run_finetuning.py reads);
* ``results/unsup_results.txt``: the evaluation metrics (do_eval).

Run safety (our extension; the original had none): one process per ``model_dir``
(``<model_dir>.lock``, see ``training/run_lock.py``); the record files are checked before the
first step; a finished run stays finished (a rerun says so and trains nothing).

Loss normalisation: the original normalises the MLM and discriminator losses over its (per
core) batch. With gradient accumulation or several replicas each micro-batch is normalised by
itself and the contributions are averaged, i.e. the per-core semantics of the original on TPU
(which summed per-core gradients; Adam is insensitive to that scale). Gradients are clipped once
after the sum (the original on TPU clipped per core).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from typing import Dict, Optional

from electra_tf.errors import ConfigError, DataError
from electra_tf.utils.files import atomic_write_json, read_json_file, read_json_or_none
from electra_tf.pretraining.compatibility import check_training_checkpoint

logger = logging.getLogger("electra_tf")

SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[MASK]")


def read_special_ids(config) -> Dict[str, int]:
    """Ids of [CLS], [SEP], [MASK] in the vocabulary, which must have vocab_size entries (the
    original never checked; a mismatch trained on zero embeddings silently)."""
    from electra_tf.text.tokenizer import build_tokenizer

    if not os.path.isfile(config.vocab_file):
        raise ConfigError(f"Vocabulary not found: {config.vocab_file} (put vocab.txt in <data-dir>/ or set the hparam "
                          f"vocab_file).")
    tokenizer = build_tokenizer(config.vocab_file, do_lower_case=True)
    if tokenizer.vocab_size != config.vocab_size:
        raise ConfigError(f"The vocabulary {config.vocab_file} has {tokenizer.vocab_size} tokens but the hparam "
                          f"vocab_size is {config.vocab_size}; set vocab_size to {tokenizer.vocab_size}.")
    ids = {}
    for token in SPECIAL_TOKENS:
        try:
            ids[token] = int(tokenizer.special_id(token))
        except KeyError:
            raise ConfigError(f"The vocabulary {config.vocab_file} has no {token} token (google-research/electra#8); "
                              f"build it with build_vocab.py.") from None
    return ids


def check_records(config, files=None) -> None:
    """The first record must have max_seq_length tokens (the original failed inside the step)."""
    import tensorflow as tf

    from electra_tf.pretraining.input import list_tfrecords

    files = files or list_tfrecords(config.pretrain_tfrecords)
    for record in tf.data.TFRecordDataset(files[:1]).take(1):
        example = tf.train.Example.FromString(record.numpy())
        length = len(example.features.feature["input_ids"].int64_list.value)
        if length != config.max_seq_length:
            raise DataError(f"{files[0]}: records have {length} tokens but max_seq_length is {config.max_seq_length}; "
                            f"set max_seq_length to {length} or rebuild the data with --max-seq-length "
                            f"{config.max_seq_length}.")
        return
    raise DataError(f"{files[0]} holds no records.")


def verify_records(config, write_stamps: bool = True) -> Dict[str, str]:
    """Check every record file before the first step (see ``manifest.py``); {file: sha256}."""
    from electra_tf.pretraining.input import list_tfrecords
    from electra_tf.pretraining.manifest import RecordCheck

    files = list_tfrecords(config.pretrain_tfrecords)
    return RecordCheck(config.training_dir).verify(files, write_stamps=write_stamps)


def run_seed(config) -> int:
    """The run's seed: the hparam, else the one recorded in the training directory, else a new one
    (recorded, so that rerunning the command resumes with the same data order and draws)."""
    path = os.path.join(config.training_dir, "seed.json")
    if config.seed is not None:
        return int(config.seed)
    fix = (f"set the hparam \"seed\" to the seed this run started with (its log names it), or remove "
           f"{config.training_dir} to start over.")
    stored = read_json_file(path, ConfigError, fix, problem="is unreadable")
    if stored is not None:
        if not (isinstance(stored, dict) and type(stored.get("seed")) is int):
            raise ConfigError(f"{path} is unreadable (no integer \"seed\"); {fix}")
        return stored["seed"]
    seed = random.SystemRandom().randrange(2 ** 31)
    os.makedirs(config.training_dir, exist_ok=True)
    atomic_write_json(path, {"seed": seed})  # whole or absent, even if the process is killed mid-write
    return seed


class PretrainingRunner:
    """Builds the strategy, model, optimizer and data of one pre-training run (see module doc)."""

    def __init__(self, config):
        from electra_tf.pretraining.warm_start import resolve_from_checkpoint
        from electra_tf.training.distribute import build_strategy, resolve_strategy_name
        from electra_tf.training.precision import apply_precision
        from electra_tf.training.runtime import is_chief
        from electra_tf.training.settings import DistributionSettings

        self.config = config
        distribution = DistributionSettings.from_hparams(config)
        # With init_checkpoint the vocabulary and sizes come from the checkpoint (before the vocabulary is read).
        self.disc_config, self.gen_config = resolve_from_checkpoint(config)
        self.special_ids = read_special_ids(config)
        if config.max_seq_length > self.disc_config.max_position_embeddings:
            raise ConfigError(f"max_seq_length {config.max_seq_length} exceeds the {self.disc_config.max_position_embeddings} "
                              f"position embeddings.")
        if config.seed is None and resolve_strategy_name(distribution) == "multi_worker_mirrored":
            # Every worker must draw the same initial weights, data order and masks.
            raise ConfigError("Multi-worker pre-training needs the hparam seed (the same on every worker).")
        # the policy trained with, "auto" resolved: what the logs, results and run identity record
        config.mixed_precision = apply_precision(config.mixed_precision, distribution)
        # The strategy first: MultiWorkerMirroredStrategy must configure the collective ops before
        # TensorFlow runs any op (check_records reads a record).
        self.strategy = build_strategy(distribution)
        self.is_chief = is_chief(self.strategy)
        self.record_digests = verify_records(config, write_stamps=self.is_chief)  # damaged files: one error, now
        check_records(config, list(self.record_digests))
        self.n_replicas = self.strategy.num_replicas_in_sync
        self._lock = None
        self._lock_depth = 0
        self.already_finished = False
        micro = config.train_batch_size // config.gradient_accumulation_steps
        if micro % self.n_replicas or config.eval_batch_size % self.n_replicas:
            raise ConfigError(f"train_batch_size / gradient_accumulation_steps ({micro}) and eval_batch_size "
                              f"({config.eval_batch_size}) must be divisible by the {self.n_replicas} replicas.")

    # ------------------------------------------------------------------ pieces
    def build_model(self, seed: int):
        """The PretrainingModel with all variables created, seeded by ``seed``."""
        from electra_tf.pretraining.model import PretrainingModel
        from electra_tf.training.runtime import set_seed

        set_seed(seed)
        scale = 1.0 / (self.config.gradient_accumulation_steps * self.n_replicas)
        with self.strategy.scope():
            model = PretrainingModel(self.config, self.disc_config, self.gen_config, self.special_ids, seed=seed,
                                     loss_scale=scale)
            model.build_for(self.config.max_seq_length)  # builds from the configs: no draw is taken
        return model

    def make_optimizer(self, model):
        from electra_tf.training.optimization import AdamWeightDecay, DynamicLossScale
        from electra_tf.training.precision import needs_loss_scaling

        pairs = model.tf1_weights()
        config = self.config
        with self.strategy.scope():
            # The original's create_optimizer for pre-training: warm-up num_warmup_steps, polynomial
            # decay of power lr_decay_power, no layer-wise decay, decay excluded for LayerNorm/bias.
            return AdamWeightDecay([v for _, v in pairs], [n for n, _ in pairs], base_lr=config.learning_rate,
                                   num_train_steps=config.num_train_steps, warmup_proportion=0.0,
                                   warmup_steps=config.num_warmup_steps, decay_power=config.lr_decay_power,
                                   weight_decay_rate=config.weight_decay_rate,
                                   bias_correction=config.adam_bias_correction,
                                   loss_scale=DynamicLossScale() if needs_loss_scaling(config.mixed_precision) else None)

    def dataset(self, seed: int, is_training: bool):
        from electra_tf.pretraining.input import pretraining_dataset

        config = self.config
        batch = config.train_batch_size // config.gradient_accumulation_steps if is_training else config.eval_batch_size
        return pretraining_dataset(config.pretrain_tfrecords, batch, config.max_seq_length, seed, is_training)

    def initialize_from(self, model, path: str) -> None:
        """Warm start from released weights (TF1 or HF): both networks where present; the
        optimizer slots start at zero (the original had no such option, #103)."""
        from electra_tf.pretraining.warm_start import load_pretrained_weights

        load_pretrained_weights(model, path)

    # ------------------------------------------------------------------ run safety
    @contextlib.contextmanager
    def locked(self):
        """Hold ``<model_dir>.lock`` for the block (the chief only; re-entrant within the runner):
        a second process on the same model gets one RunLockedError naming the first."""
        from electra_tf.training.run_lock import RunLock

        if not self.is_chief:
            yield
            return
        if self._lock_depth == 0:
            self._lock = RunLock(self.config.model_dir, what="pre-training run",
                                 advice="to pre-train something else at the same time, use another --model-name.")
            self._lock.acquire()
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                self._lock.release()
                self._lock = None

    def identity(self):
        """The run identity of this run (see ``identity.py``), kept in ``training_dir``."""
        from electra_tf.pretraining.identity import records_fingerprint, training_settings
        from electra_tf.training.run_identity import RunIdentity, file_digest, path_digest

        config = self.config
        vocabulary = file_digest(config.vocab_file) if os.path.isfile(config.vocab_file) else None
        init = path_digest(config.init_checkpoint) if config.init_checkpoint else None
        settings = training_settings(config, self.disc_config, self.gen_config, records_fingerprint(self.record_digests),
                                     vocabulary, init)
        return RunIdentity(config.training_dir, settings, absent=config.DEFAULTS)

    def _check_identity(self):
        """(identity, recorded seed or None); a RunMismatchError naming each changed setting."""
        from electra_tf.pretraining.identity import WAYS_OUT
        from electra_tf.training.checkpointing import latest_checkpoint

        identity = self.identity()
        if not latest_checkpoint(self.config.training_dir):
            if identity.stored() is not None:  # stopped before its first checkpoint: nothing to keep
                logger.info("%s holds no checkpoint yet: starting with these settings.", self.config.training_dir)
            return identity, None
        recorded = identity.check(WAYS_OUT.format(folder=self.config.training_dir))
        if recorded is None:
            logger.warning("%s has no record of its training settings (an older run); resuming it with these "
                           "settings, which are recorded from now on.", self.config.training_dir)
        return identity, recorded

    def finished_step(self) -> Optional[int]:
        """The step of a finished run of these settings whose outputs are all written, else None."""
        from electra_tf.training.checkpointing import latest_checkpoint
        from electra_tf.training.engine import FINISHED_FILE

        config = self.config
        path = os.path.join(config.training_dir, FINISHED_FILE)
        if not os.path.isfile(path):
            return None
        finished = read_json_or_none(path)
        try:
            step = int(finished["step"])
        except (KeyError, TypeError, ValueError):
            return None
        latest = latest_checkpoint(config.training_dir)
        if finished.get("num_train_steps") != config.num_train_steps or not latest or not latest.endswith(f"-{step}"):
            return None
        exported = os.path.isfile(os.path.join(config.model_dir, f"model.ckpt-{step}.index"))
        if config.export_hf:
            exported = exported and all(os.path.isfile(os.path.join(config.model_dir, "hf", net, "config.json"))
                                        for net in ("discriminator", "generator"))
        return step if exported else None

    # ------------------------------------------------------------------ train
    def train(self) -> int:
        """Train to num_train_steps (resuming from training_checkpoints/), then write the TF1
        layout into model_dir. Returns the final step. A finished run of the same settings
        returns its step without training or writing (``already_finished``)."""
        with self.locked():
            return self._train()

    def _train(self) -> int:
        import tensorflow as tf

        from electra_tf.pretraining.export import write_pretraining_checkpoint
        from electra_tf.training.checkpointing import latest_checkpoint
        from electra_tf.training.engine import FitOptions, TrainingEngine

        config = self.config
        if config.debug and os.path.isdir(config.training_dir):
            # The original deletes model_dir in debug mode; only our training state is removed here.
            import shutil

            shutil.rmtree(config.training_dir, ignore_errors=True)
        identity, recorded_seed = self._check_identity()  # before anything is written
        finished = self.finished_step() if recorded_seed is not None else None
        if finished is not None:
            self.already_finished = True
            logger.info("Training already finished in %s (step %d); nothing to do.", config.training_dir, finished)
            return finished
        seed = int(recorded_seed) if recorded_seed is not None else run_seed(config)
        if self.is_chief:
            identity.record(seed)
            logger.info("Config: %s", write_config(config))  # the resolved config, not ~60 lines on screen
        model = self.build_model(seed)
        latest = latest_checkpoint(config.training_dir)
        if latest:  # resuming with other model hparams: one error naming them
            check_training_checkpoint(model, latest)
        optimizer = self.make_optimizer(model)
        engine = TrainingEngine(self.strategy, model, optimizer, per_example_loss=model.per_example_loss,
                                named_weights=model.tf1_weights, accumulation_steps=config.gradient_accumulation_steps,
                                jit_compile=bool(config.jit_compile))
        options = FitOptions(num_train_steps=config.num_train_steps, batch_size=config.train_batch_size,
                             save_checkpoints_steps=config.save_checkpoints_steps,
                             keep_checkpoint_max=config.keep_checkpoint_max or 100000,
                             log_every_steps=config.log_every_steps, progress=config.progress,
                             description=f" (batch {config.train_batch_size}, seed {seed})")
        init = (lambda: self.initialize_from(model, config.init_checkpoint)) if config.init_checkpoint else None
        health = self.health_checks(engine, model, seed)
        if health is not None:
            options.eval_every_steps = config.health_every  # health checks only: no best-model selection
        try:
            step = engine.fit(self.dataset(seed, True), config.training_dir, options, initialize=init,
                              evaluate=health)
            if health is not None:
                health(step, final=True)
        except tf.errors.DataLossError as e:
            raise self._damaged_records(e) from None
        if self.is_chief:
            prefix = write_pretraining_checkpoint(model, config.model_dir, step, optimizer=optimizer,
                                                  vocab_file=config.vocab_file)
            logger.info("Wrote the original TF1 layout: %s", prefix)
            if config.export_hf:  # our extension; the original wrote the TF1 layout only
                self.export_hf(model)
        return step

    def health_checks(self, engine, model, seed: int):
        """The ``evaluate(step)`` callback of the health checks (see ``health.py``; our extension,
        None when ``health_check_steps`` is 0); the checks made before the first step run now."""
        from electra_tf.pretraining.health import HealthMonitor, measure

        config = self.config
        if not config.health_every:
            return None
        monitor = HealthMonitor(config, self.disc_config.vocab_size, write_files=self.is_chief)
        monitor.start()
        probe = None
        if config.probe_task:
            from electra_tf.pretraining.probe import DownstreamProbe

            probe = DownstreamProbe(config, self.disc_config, self.strategy)

        def check(step: int, final: bool = False):
            if final:
                if not monitor.history or monitor.history[-1]["step"] != step:
                    check(step)
                monitor.finish()
                return {}
            batches = self.dataset(seed + 2, False).take(config.health_check_batches)
            metrics = measure(engine, model, batches, self.n_replicas)
            scores = probe.score(model, step) if probe is not None else None
            monitor.check(step, metrics, scores)
            return {}

        return check

    def _warn_other_settings(self) -> None:
        """Evaluating a run trained with other settings is allowed (as the original); say which."""
        from electra_tf.training.run_identity import RunMismatchError

        identity = self.identity()
        try:
            stored = identity.stored()
        except RunMismatchError:
            return
        changed = [name for name, _, _ in identity.differences((stored or {}).get("settings", {}))]
        if stored and changed:
            logger.warning("Evaluating %s, trained with other values of: %s.", self.config.training_dir,
                           ", ".join(changed))

    def _damaged_records(self, error) -> DataError:
        """The error for records that turned out damaged while being read (checked fine at the
        start, so damaged since, without a new modification time): they are checked again next time."""
        from electra_tf.pretraining.manifest import RecordCheck, record_error_detail

        RecordCheck(self.config.training_dir).forget()
        detail = record_error_detail(error)
        return DataError(f"The pre-training records ({self.config.pretrain_tfrecords}) are damaged: {detail}. The "
                         f"checkpoints written so far are kept; rebuild or restore the records, then run the same "
                         f"command again (every file is checked before training resumes).")

    def export_hf(self, model) -> Dict[str, str]:
        """Write model_dir/hf/discriminator (ElectraForPreTraining) and model_dir/hf/generator
        (ElectraForMaskedLM) for transformers; returns {network: directory}."""
        from electra_tf.pretraining.export import write_hf_pretrained

        config = self.config
        # A SentencePiece model is not a vocab.txt: the HF folders then get no tokenizer files.
        vocab = config.vocab_file if not config.vocab_file.endswith(".model") else None
        written = write_hf_pretrained(model, config.model_dir, vocab_file=vocab, do_lower_case=bool(config.do_lower_case))
        for name, path in written.items():
            logger.info("Wrote the %s for transformers: %s", name, path)
        return written

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, model=None, seed: Optional[int] = None) -> Dict[str, float]:
        """The original's metrics over num_eval_steps batches of the training records (no dropout;
        masking and sampling stay random, seeded). Without ``model``, the newest training
        checkpoint is evaluated. Writes results_txt."""
        with self.locked():
            return self._evaluate(model, seed)

    def _evaluate(self, model=None, seed: Optional[int] = None) -> Dict[str, float]:
        import tensorflow as tf

        from electra_tf.pretraining.metrics import PretrainingMetrics
        from electra_tf.training.checkpointing import latest_checkpoint, restore_weights
        from electra_tf.training.engine import TrainingEngine

        config = self.config
        seed = run_seed(config) if seed is None else seed
        step = 0
        if model is None:
            model = self.build_model(seed)
            latest = latest_checkpoint(config.training_dir)
            if latest is None:
                raise ConfigError(f"No training checkpoint in {config.training_dir} to evaluate; train first.")
            check_training_checkpoint(model, latest)  # other model hparams: one error naming them
            self._warn_other_settings()
            step = restore_weights(model, config.training_dir, model.tf1_weights)
        engine = TrainingEngine(self.strategy, model, per_example_loss=model.per_example_loss,
                                named_weights=model.tf1_weights)
        metrics = PretrainingMetrics(with_discriminator=model.has_discriminator and config.disc_weight > 0)
        dataset = self.dataset(seed + 1, False).take(config.num_eval_steps)
        try:
            for outputs, losses, _ in engine.predict_batches(dataset):
                # Each replica's contributions sum to its loss times loss_scale; the batch loss is their mean.
                metrics.update(outputs, float(sum(losses)) / (model.loss_scale * self.n_replicas))
        except tf.errors.DataLossError as e:
            raise self._damaged_records(e) from None
        results = metrics.results()
        results["global_step"] = step
        if self.is_chief:
            write_results(config.results_txt, results)
        for name, value in results.items():
            logger.info("%s = %s", name, f"{value:.4f}" if isinstance(value, float) else value)
        return results


CONFIG_FILE = "pretraining_config.txt"


def write_config(config) -> str:
    """The resolved config (sizes and vocabulary from init_checkpoint included), sorted one per
    line as the original printed it, in ``<model_dir>/pretraining_config.txt``; returns the path."""
    from electra_tf.utils.files import atomic_write_text

    path = os.path.join(config.model_dir, CONFIG_FILE)
    os.makedirs(config.model_dir, exist_ok=True)
    atomic_write_text(path, str(config) + "\n")
    return path


def write_results(path: str, results: Dict[str, float]) -> None:
    """``name: value`` lines, as the original's logged eval results (README:89 promised this file)."""
    from electra_tf.utils.files import atomic_write_text

    os.makedirs(os.path.dirname(path), exist_ok=True)
    lines = [f"{k}: {v:.6f}" if isinstance(v, float) else f"{k}: {v}" for k, v in results.items()]
    atomic_write_text(path, "\n".join(lines) + "\n")
