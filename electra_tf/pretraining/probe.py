"""The downstream probe of a pre-training run (the ``probe_task`` hparam; our extension, #27).

Every ``every_steps`` steps (default: at the health checks), a copy of the current
discriminator's encoder gets a fresh sentence-classification head and is fine-tuned for
``steps`` optimizer steps on a small labelled set, then scored on its dev set; the score goes to
the log, TensorBoard and ``pretraining_health.json`` (see ``health.py``), so transfer shows up
during the run. The pre-training weights are only read. The same run from random weights is
scored once at the first probe (``random_init``) for comparison.

``probe_task`` is a fine-tuning ``task_config`` entry (``"type": "tsv"`` by default, columns
``text_a`` / ``label``, ``files``) plus ``dir``: the folder of its files (relative to the
pre-training ``--data-dir``), and the probe's own settings (``PROBE_DEFAULTS``). It reuses the
fine-tuning pieces: FinetuningConfig, the task registry, SplitDatasets, FinetuningModel, the
original optimizer and the Evaluator's predictions and scorer.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Optional

from electra_tf.errors import ConfigError

logger = logging.getLogger("electra_tf")

PROBE_TASK = "probe"
PROBE_DEFAULTS = {
    "dir": "probe",  # the folder of train.tsv / dev.tsv, relative to --data-dir
    "every_steps": 0,  # 0: at every health check
    "steps": 100,  # fine-tuning steps per probe
    "learning_rate": 1e-4,  # the original's fine-tuning learning rate
    "batch_size": 32,
    "max_seq_length": 64,
    "metric": "accuracy",
    "seed": 1,
}


class DownstreamProbe:
    """Fine-tunes a copy of the discriminator briefly and scores it (see the module docstring)."""

    def __init__(self, config, disc_config, strategy=None):
        from electra_tf.finetuning.builtin_tasks import get_task
        from electra_tf.finetuning.data import SplitDatasets
        from electra_tf.finetuning.hparams import FinetuningConfig
        from electra_tf.finetuning.options import TaskOptions
        from electra_tf.text.tokenizer import build_tokenizer

        spec = dict(config.probe_task)
        unknown = [k for k in spec if k not in PROBE_DEFAULTS and k not in ("type", "files", "text_a", "text_b",
                                                                             "label", "labels", "metrics")]
        settings = {k: spec.pop(k, v) for k, v in PROBE_DEFAULTS.items()}
        if unknown:
            raise ConfigError(f"hparam probe_task: unknown key(s) {', '.join(sorted(unknown))}; known: "
                              f"{', '.join(sorted(PROBE_DEFAULTS))} and the task_config keys type, files, text_a, "
                              f"text_b, label.")
        folder = os.path.join(config.data_dir, settings["dir"])
        if not os.path.isdir(folder):
            raise ConfigError(f"hparam probe_task: its folder {folder} does not exist (key \"dir\", relative to "
                              f"--data-dir); put train.tsv and dev.tsv there.")
        spec.setdefault("type", "tsv")
        spec.setdefault("text_a", "text")
        spec.setdefault("label", "label")
        self.settings = settings
        self.every = int(settings["every_steps"] or config.health_every)
        work = os.path.join(config.model_dir, "probe")
        self.config = FinetuningConfig(
            PROBE_TASK, work, task_names=[PROBE_TASK], task_config={PROBE_TASK: spec}, raw_data_dir=folder,
            vocab_file=config.vocab_file, preprocessed_data_dir=os.path.join(work, "features"),
            results_txt=os.path.join(work, "results.txt"), results_pkl=os.path.join(work, "results.pkl"),
            max_seq_length=int(settings["max_seq_length"]), train_batch_size=int(settings["batch_size"]),
            eval_batch_size=int(settings["batch_size"]), learning_rate=float(settings["learning_rate"]),
            seed=int(settings["seed"]), progress=False, vocab_size=disc_config.vocab_size)
        if self.config.max_seq_length > disc_config.max_position_embeddings:
            raise ConfigError(f"hparam probe_task: max_seq_length {self.config.max_seq_length} exceeds the model's "
                              f"{disc_config.max_position_embeddings} position embeddings.")
        tokenizer = build_tokenizer(config.vocab_file, do_lower_case=bool(config.do_lower_case))
        self.task = get_task(TaskOptions.from_config(self.config, PROBE_TASK), PROBE_TASK, tokenizer)
        self.datasets = SplitDatasets(self.config, [self.task])
        self.disc_config = disc_config
        self.strategy = strategy
        self.baseline: Optional[float] = None

    def due(self, step: int) -> bool:
        """Whether a probe runs at this health check."""
        return step % self.every == 0

    def _finetune(self, encoder_refs) -> float:
        """Fine-tune a new model whose encoder starts from ``encoder_refs`` (None: random) and
        return its dev metric."""
        import tensorflow as tf

        from electra_tf.finetuning.evaluation import Evaluator
        from electra_tf.finetuning.model import FinetuningModel
        from electra_tf.training.distribute import distributed_input
        from electra_tf.training.engine import TrainingEngine
        from electra_tf.training.optimization import AdamWeightDecay
        from electra_tf.training.runtime import set_seed

        strategy = self.strategy or tf.distribute.get_strategy()
        set_seed(int(self.settings["seed"]))
        with strategy.scope():
            model = FinetuningModel(self.disc_config, [self.task]).build_for(self.config.max_seq_length)
            if encoder_refs is not None:
                source = {ref.name: ref.variable for ref in encoder_refs}
                for ref in model.electra.hf_weights("electra"):
                    ref.variable.assign(source[ref.name])
            refs = model.hf_weights()
            steps = int(self.settings["steps"])
            optimizer = AdamWeightDecay([r.variable for r in refs], [r.name for r in refs],
                                        base_lr=float(self.settings["learning_rate"]), num_train_steps=steps,
                                        warmup_proportion=0.1, weight_decay_rate=0.01)
        engine = TrainingEngine(strategy, model, optimizer, per_example_loss=model.per_example_loss,
                                variables=[r.variable for r in refs], named_weights=lambda: [(r.name, r.variable)
                                                                                            for r in refs])
        dataset, _ = self.datasets.get("train", True, seed=int(self.settings["seed"]))
        iterator = iter(distributed_input(strategy, dataset.repeat()))
        for _ in range(steps):
            engine.train_step(iterator)
        evaluator = Evaluator(self.config, [self.task], self.datasets, strategy, is_chief=True)
        _, scorer = evaluator.predict(model, self.task, "dev")
        results = scorer.get_results()
        metric = self.settings["metric"]
        if metric not in results:
            raise ConfigError(f"hparam probe_task: metric {metric!r} is not among the probe's dev metrics "
                              f"({', '.join(sorted(results))}).")
        return float(results[metric])

    def score(self, model, step: int) -> Optional[Dict[str, float]]:
        """{metric: dev score of the current discriminator, "random_init": the same from random
        weights (measured once)} at a due step, else None."""
        if not self.due(step):
            return None
        if self.baseline is None:
            self.baseline = self._finetune(None)
        metric = self.settings["metric"]
        return {metric: self._finetune(list(model.electra.hf_weights("electra"))), f"random_init_{metric}": self.baseline}
