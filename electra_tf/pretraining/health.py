"""Health checks of a pre-training run (our extension, #27; the original had none).

A pre-training run that will not transfer usually shows it early; these checks say so in the
log (one warning the first time each fires), in TensorBoard (``health/*`` scalars, in the
``health`` run beside ``train``) and in ``<model_dir>/pretraining_health.json`` (every check's
metrics, the warnings with the first and last step they fired, the probe's scores):

* at the start: warm-up longer than training (the learning rate never reaches its peak), a
  batch smaller than the original recipe's for the model size;
* every ``health_check_steps`` after warm-up, on ``health_check_batches`` batches of the
  records (no dropout; the masking and sampling stream of training is put back afterwards, so
  training is unchanged): a discriminator that predicts almost nothing as replaced
  (``disc_recall`` below ``RECALL_FLOOR``), a generator that stays near chance
  (``masked_lm_accuracy`` below ``CHANCE_FACTOR`` / vocab_size);
* optionally a downstream probe (``probe_task``, see ``probe.py``): its dev score is logged.

``assess`` is a pure function of the config and one check's metrics, so the thresholds are
testable on metric histories directly.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, List, Optional

logger = logging.getLogger("electra_tf")

HEALTH_FILE = "pretraining_health.json"
RECALL_FLOOR = 0.01  # the non-transferring run: disc_recall 0.004 after 2,000 steps
CHANCE_FACTOR = 5.0  # masked_lm_accuracy below 5 / vocab_size: the generator learned (almost) nothing
# The original recipe's batch per model size (configure_pretraining.py's 128 for small; the
# paper's 256 for base and 2048 for large).
RECIPE_BATCH = {"small": 128, "base": 256, "large": 2048}

MESSAGES = {
    "warmup_longer_than_training": "num_warmup_steps ({warmup}) exceeds num_train_steps ({steps}): the learning rate "
                                   "never reaches learning_rate; lower num_warmup_steps (the original: 10000 of "
                                   "1000000 steps, 1%).",
    "batch_too_small": "train_batch_size {batch} is below the original recipe's {recipe} for model_size {size}: "
                       "expect slower, noisier learning (raise it, or use gradient_accumulation_steps).",
    "discriminator_predicts_nothing": "after warm-up the discriminator predicts almost no token as replaced "
                                      "(disc_recall {value:.4f} < {floor}) at step {step}: it has learned only that "
                                      "most tokens are original, and will transfer poorly; train longer, check the "
                                      "learning rate and disc_weight.",
    "generator_near_chance": "after warm-up the generator is near chance (masked_lm_accuracy {value:.5f} < "
                             "{factor:g} / vocab_size = {limit:.5f}) at step {step}: it learned nothing; check the "
                             "learning rate, the records and the vocabulary.",
}


def start_warnings(config) -> Dict[str, str]:
    """{check: message} of the checks made before the first step."""
    found = {}
    if config.num_warmup_steps > config.num_train_steps:
        found["warmup_longer_than_training"] = MESSAGES["warmup_longer_than_training"].format(
            warmup=config.num_warmup_steps, steps=config.num_train_steps)
    recipe = RECIPE_BATCH.get(config.model_size, 128)
    if config.train_batch_size < recipe:
        found["batch_too_small"] = MESSAGES["batch_too_small"].format(batch=config.train_batch_size, recipe=recipe,
                                                                      size=config.model_size)
    return found


def assess(config, vocab_size: int, step: int, metrics: Dict[str, float]) -> Dict[str, str]:
    """{check: message} of the metric checks that fire at ``step`` on ``metrics`` (the original's
    evaluation metrics); nothing before the end of warm-up."""
    found = {}
    if step < max(1, config.num_warmup_steps):
        return found
    recall = metrics.get("disc_recall")
    if recall is not None and recall < RECALL_FLOOR:
        found["discriminator_predicts_nothing"] = MESSAGES["discriminator_predicts_nothing"].format(
            value=recall, floor=RECALL_FLOOR, step=step)
    accuracy = metrics.get("masked_lm_accuracy")
    limit = CHANCE_FACTOR / max(vocab_size, 1)
    if accuracy is not None and not config.uniform_generator and accuracy < limit:
        found["generator_near_chance"] = MESSAGES["generator_near_chance"].format(
            value=accuracy, factor=CHANCE_FACTOR, limit=limit, step=step)
    return found


def measure(engine, model, dataset, n_replicas: int) -> Dict[str, float]:
    """The original's evaluation metrics of ``model`` on ``dataset`` (a few batches), drawing
    masks and samples from the model's stream and putting its state back afterwards."""
    from electra_tf.pretraining.metrics import PretrainingMetrics

    state = model.noise_seed.state
    saved = state.numpy()
    metrics = PretrainingMetrics(with_discriminator=model.has_discriminator and model.pconfig.disc_weight > 0)
    try:
        for outputs, losses, _ in engine.predict_batches(dataset):
            metrics.update(outputs, float(sum(losses)) / (model.loss_scale * n_replicas))
    finally:
        state.assign(saved)
    return metrics.results()


class HealthMonitor:
    """The checks of one run: ``start`` before the first step, ``check(step, metrics, probe)``
    during training, ``summary()`` / ``write()`` at the end (see the module docstring). Only the
    chief (``write_files``) writes the summary and TensorBoard."""

    def __init__(self, config, vocab_size: int, write_files: bool = True):
        from electra_tf.utils.files import read_json_or_none

        self.config = config
        self.vocab_size = vocab_size
        self.write_files = write_files
        self.path = os.path.join(config.model_dir, HEALTH_FILE)
        previous = read_json_or_none(self.path) if write_files else None  # a resumed run keeps its history
        self.history: List[Dict] = list((previous or {}).get("checks", []))
        self.warnings: Dict[str, Dict] = dict((previous or {}).get("warnings", {}))
        self._writer = None

    def _fire(self, name: str, message: str, step: int) -> None:
        entry = self.warnings.get(name)
        if entry is None:
            logger.warning("Pre-training health: %s", message)
            self.warnings[name] = {"message": message, "first_step": step, "last_step": step, "times": 1}
        else:
            entry.update(message=message, last_step=step, times=entry["times"] + 1)

    def start(self, step: int = 0) -> None:
        """The checks before the first step (again on a resume, as the settings are the same)."""
        for name, message in start_warnings(self.config).items():
            if name not in self.warnings:
                self._fire(name, message, step)
        self._scalars(step, {f"warning/{name}": 1.0 for name in self.warnings})
        self.write()

    def check(self, step: int, metrics: Dict[str, float], probe: Optional[Dict[str, float]] = None) -> Dict[str, str]:
        """Record one check's metrics (and probe scores); warn on what fires; returns {check: message}."""
        fired = assess(self.config, self.vocab_size, step, metrics)
        for name, message in fired.items():
            self._fire(name, message, step)
        entry = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        if probe:
            entry["probe"] = {k: float(v) for k, v in probe.items()}
            logger.info("Pre-training probe at step %d: %s", step,
                        ", ".join(f"{k} {v:.4f}" for k, v in sorted(probe.items())))
        self.history = [h for h in self.history if h["step"] < step] + [entry]
        logger.info("Pre-training health at step %d: masked_lm_accuracy %.4f, disc_recall %.4f, disc_auc %.4f%s", step,
                    metrics.get("masked_lm_accuracy", 0.0), metrics.get("disc_recall", 0.0),
                    metrics.get("disc_auc", 0.0), f"; warnings: {', '.join(sorted(fired))}" if fired else "")
        scalars = {k: v for k, v in metrics.items() if isinstance(v, float)}
        scalars.update({f"probe/{k}": v for k, v in (probe or {}).items()})
        scalars.update({f"warning/{name}": 1.0 if name in fired else 0.0
                        for name in ("discriminator_predicts_nothing", "generator_near_chance")})
        self._scalars(step, scalars)
        self.write()
        return fired

    def _scalars(self, step: int, values: Dict[str, float]) -> None:
        if not self.write_files or not values:
            return
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.config.training_dir, "tensorboard", "health"))
        with self._writer.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(f"health/{name}", float(value))
        self._writer.flush()

    def summary(self) -> Dict:
        """What ``pretraining_health.json`` holds."""
        return {"warnings": self.warnings, "checks": self.history,
                "thresholds": {"disc_recall": RECALL_FLOOR, "masked_lm_accuracy": CHANCE_FACTOR / max(self.vocab_size, 1),
                               "recipe_batch": RECIPE_BATCH}}

    def write(self) -> None:
        """Write the summary into the model directory (the chief only)."""
        if not self.write_files:
            return
        from electra_tf.utils.files import atomic_write_json

        os.makedirs(self.config.model_dir, exist_ok=True)
        atomic_write_json(self.path, self.summary())

    def finish(self) -> None:
        """The final summary: written, and one log line naming the warnings (or none)."""
        self.write()
        if self.warnings:
            logger.warning("Pre-training health: %d warning(s): %s (details: %s).", len(self.warnings),
                           ", ".join(sorted(self.warnings)), self.path)
        else:
            logger.info("Pre-training health: no warnings (%s).", self.path)
