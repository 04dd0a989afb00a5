"""PretrainingConfig: every hparam of the original configure_pretraining.py, same names, defaults
and order of application, plus a few extensions whose defaults keep the original behaviour.

Order (configure_pretraining.py:28-143), quirks kept:

1. defaults, and the paths derived from ``data_dir`` (so ``data_dir`` itself is not an hparam:
   override ``pretrain_tfrecords``, ``vocab_file``, ``model_dir``, ... individually);
2. the user's hparams (an unknown one is an error naming the closest valid hparam);
3. ``max_predictions_per_seq = int((mask_prob + 0.005) * max_seq_length)`` from the *updated*
   values; it is created after step 2, so passing it is "unknown hparam" (not settable);
4. debug overrides (batch 8, 20 steps, eval batch 4, iterations_per_loop 1, 2 eval steps);
5. ``model_size == "small"`` forces ``embedding_size = 128``; the original's commented-out
   base/large settings (lr 2e-4, length 512, ...) are deliberately NOT applied;
6. ``electric_objective`` forces ``two_tower_generator``;
7. the user's hparams again, so an explicit value beats steps 4-6 (but not step 3: N stays
   computed from the values after step 2, as the original).

Electric (``electric_objective``, ``two_tower_generator``) is not implemented: asking for it is a
ConfigError naming the hparam.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

from electra_tf.training.cluster import CLUSTER_RESOLVERS
from electra_tf.training.runtime import TPU_HPARAMS
from electra_tf.errors import ConfigError, closest
from electra_tf.utils.hparams import Hparams

# name -> default, in the order (and with the comments) of configure_pretraining.py.
ORIGINAL_HPARAMS: Dict[str, Any] = {
    "debug": False,  # debug mode for quickly running things (also a 3-layer, 144-wide model)
    "do_train": True,  # pre-train ELECTRA
    "do_eval": False,  # evaluate generator/discriminator on unlabeled data
    # loss functions; if both objectives are false, trains a masked LM like BERT
    "electra_objective": True,
    "electric_objective": False,  # not supported here
    "gen_weight": 1.0,  # masked language modeling / generator loss
    "disc_weight": 50.0,  # discriminator loss
    "mask_prob": 0.15,  # percent of input tokens to mask out / replace
    # optimization
    "learning_rate": 5e-4,  # same for every size (2e-4 for base/large is in a commented-out block)
    "lr_decay_power": 1.0,  # the original comment says "linear weight decay": it is the LR decay
    "weight_decay_rate": 0.01,
    "num_warmup_steps": 10000,
    # training settings
    "iterations_per_loop": 200,  # TPU inner loop (kept for compatibility; no effect here)
    "save_checkpoints_steps": 1000,
    "num_train_steps": 1000000,
    "num_eval_steps": 100,
    "keep_checkpoint_max": 5,  # 0 or None keeps all checkpoints
    # model settings
    "model_size": "small",  # one of "small", "base", or "large"
    "model_hparam_overrides": {},  # merged into the discriminator's config (see model_configs)
    "embedding_size": None,  # bert hidden size by default (128 forced for small)
    "vocab_size": 30522,  # number of tokens in the vocabulary
    "do_lower_case": True,  # unused by pre-training, as the original (casing is the dataset builder's)
    # generator settings
    "uniform_generator": False,  # generator is uniform at random
    "two_tower_generator": False,  # Electric's two-tower cloze generator (not supported)
    # False = the generator SHARES the discriminator's embeddings (the original comment "tie ...?"
    # reads inverted)
    "untied_generator_embeddings": False,
    "untied_generator": True,  # True = a separate (small) generator; False = one network
    "generator_layers": 1.0,  # frac of discriminator layers for generator
    "generator_hidden_size": 0.25,  # frac of discrim hidden size for gen
    "disallow_correct": False,  # force the generator to sample incorrect tokens
    "temperature": 1.0,  # temperature for sampling from generator
    # batch sizes
    "max_seq_length": 128,
    "train_batch_size": 128,
    "eval_batch_size": 128,
    # TPU settings
    **TPU_HPARAMS,
}

# Our additions; every default keeps the original behaviour.
EXTENSION_HPARAMS: Dict[str, Any] = {
    "seed": None,  # None: drawn once per model_dir and recorded there (the original was unseeded)
    "mask_without_replacement": False,  # the original draws positions WITH replacement (#41)
    "mixed_precision": "float32",  # float32 | mixed_float16 | mixed_bfloat16 | auto (the original: float32)
    "gradient_accumulation_steps": 1,  # train_batch_size stays the batch of one optimizer step
    "distribution_strategy": "one_device",  # auto | one_device | mirrored | multi_worker_mirrored | tpu
    # Where multi_worker_mirrored / tpu find their cluster: tf_config (TF_CONFIG, as before) | slurm |
    # kubernetes | tpu | auto (see training/cluster.py)
    "cluster_resolver": "tf_config",
    # A worker that cannot reach the others within this many seconds fails, naming the address (0: TF's limits)
    "cluster_timeout_secs": 900.0,
    "jit_compile": False,
    "init_checkpoint": None,  # start from released weights (TF1 or HF); optimizer slots start at zero
    "export_hf": False,  # also write model_dir/hf/{discriminator,generator} for transformers (the original: TF1 only)
    "progress": "auto",  # progress bar: auto (on a terminal) | true | false
    # The original's ETAHook logged a line every step on CPU/GPU; 1 keeps that. The default logs every
    # 100 steps (and the last); TensorBoard's train scalars follow the same steps.
    "log_every_steps": 100,
    # Health checks (health.py; the original had none; they change no weight): every N steps
    # (None: num_train_steps // 10, at least 1; 0: off) on health_check_batches eval batches.
    "health_check_steps": None,
    "health_check_batches": 1,
    # A downstream probe (probe.py), e.g. {"train": "probe/train.tsv", "dev": "probe/dev.tsv"}; None: off.
    "probe_task": None,
    # The resolved config goes to <model_dir>/pretraining_config.txt; true also prints it (as the original).
    "print_config": False,
    # Adam with bias correction (m / (1 - beta_1^t), v / (1 - beta_2^t)); the default false is the
    # original's optimizer, which has none (its first steps are up to 6.5x Adam's; docs/pretraining.md).
    "adam_bias_correction": False,
}

# Set from data_dir before the user's hparams (configure_pretraining.py:95-101); overridable.
PATH_HPARAMS = ("pretrain_tfrecords", "vocab_file", "model_dir", "results_txt", "results_pkl")

UNSUPPORTED = {
    "electric_objective": "Electric (electric_objective) is not supported by electra-tf pre-training",
    "two_tower_generator": "the two-tower cloze generator (two_tower_generator, Electric's) is not supported "
                           "by electra-tf pre-training",
}

_CHOICES = {
    "model_size": ("small", "base", "large"),
    "mixed_precision": ("float32", "mixed_float16", "mixed_bfloat16", "auto"),
    "distribution_strategy": ("auto", "one_device", "mirrored", "multi_worker_mirrored", "tpu"),
    "cluster_resolver": CLUSTER_RESOLVERS,
}


class PretrainingConfig(Hparams):
    """Pre-training hyperparameters with the original's names, defaults and precedence (see the
    module docstring). ``max_predictions_per_seq`` is derived, never set."""

    DEFAULTS = {**ORIGINAL_HPARAMS, **EXTENSION_HPARAMS}
    PATHS = PATH_HPARAMS
    READ_FIRST = ("model_hparam_overrides",)  # as the original, read before the first update
    STR_OR_BOOL = ("progress",)
    ALLOW_NULL = True  # e.g. keep_checkpoint_max None keeps every checkpoint
    FINITE_FLOATS = True

    def __init__(self, model_name: str, data_dir: str, **kwargs):
        self.model_name = model_name
        self.set_defaults(kwargs)

        # default locations of data files, computed from data_dir now (step 1)
        self.data_dir = data_dir
        self.pretrain_tfrecords = os.path.join(data_dir, "pretrain_tfrecords/pretrain_data.tfrecord*")
        self.vocab_file = os.path.join(data_dir, "vocab.txt")
        self.model_dir = os.path.join(data_dir, "models", model_name)
        results_dir = os.path.join(self.model_dir, "results")
        self.results_txt = os.path.join(results_dir, "unsup_results.txt")
        self.results_pkl = os.path.join(results_dir, "unsup_results.pkl")
        self.user_hparams = dict(kwargs)

        self.update(kwargs)  # step 2

        # step 3: derived from the values after the first update, and not settable (the original
        # creates the attribute only now, so update() calls it unknown).
        self.max_predictions_per_seq = int((self.mask_prob + 0.005) * self.max_seq_length)

        if self.debug:  # step 4
            self.train_batch_size = 8
            self.num_train_steps = 20
            self.eval_batch_size = 4
            self.iterations_per_loop = 1
            self.num_eval_steps = 2

        # step 5: only small has a size default. The original's block for base/large (length
        # 512, lr 2e-4, embedding_size, generator 1/3, mask 0.25, batch sizes) is commented out
        # there and is not applied here either: pass the paper's values explicitly.
        if self.model_size == "small":
            self.embedding_size = 128
        if self.electric_objective:  # step 6
            self.two_tower_generator = True  # electric requires a two-tower generator

        self.update(kwargs)  # step 7: passed-in arguments override (for example) debug-mode defaults
        self.validate()

    # ------------------------------------------------------------------ updates
    def unknown_hparam(self, key: str, known: List[str]) -> ConfigError:
        """The error for an unknown hparam, explaining the two that look settable but are not
        (max_predictions_per_seq and data_dir)."""
        hint = ""
        if key == "max_predictions_per_seq":
            hint = (" It is derived as int((mask_prob + 0.005) * max_seq_length), as in the original, "
                    "and cannot be set; change mask_prob or max_seq_length.")
        elif key == "data_dir":
            hint = " data_dir is the --data-dir flag; override pretrain_tfrecords, vocab_file or model_dir instead."
        return ConfigError(f"Unknown hparam {key!r}.{hint or closest(key, known)}")

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Refuse what cannot run: unsupported Electric settings, do_train == do_eval, bad types
        and ranges, unknown choices."""
        for name, message in UNSUPPORTED.items():
            if getattr(self, name):
                raise ConfigError(f"{message}; set {name} false (hparam {name!r}).")
        if bool(self.do_train) == bool(self.do_eval):
            raise ConfigError("Exactly one of do_train or do_eval must be true (as the original: "
                              "train with the defaults, or pass {\"do_train\": false, \"do_eval\": true}).")
        self.check_types()
        for name in ("train_batch_size", "eval_batch_size", "max_seq_length", "num_eval_steps",
                     "gradient_accumulation_steps", "log_every_steps", "health_check_batches"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"hparam {name} must be a positive integer, got {getattr(self, name)!r}.")
        if self.cluster_timeout_secs < 0:
            raise ConfigError(f"hparam cluster_timeout_secs must be >= 0 (0: TensorFlow's own limits), got "
                              f"{self.cluster_timeout_secs!r}.")
        if self.health_check_steps is not None and (not isinstance(self.health_check_steps, int)
                                                    or self.health_check_steps < 0):
            raise ConfigError(f"hparam health_check_steps must be null (auto), 0 (off) or a positive integer, got "
                              f"{self.health_check_steps!r}.")
        if not isinstance(self.adam_bias_correction, bool):
            raise ConfigError(f"hparam adam_bias_correction must be true or false (false: the original's Adam, "
                              f"without bias correction), got {self.adam_bias_correction!r}.")
        if self.probe_task is not None and not isinstance(self.probe_task, dict):
            raise ConfigError(f"hparam probe_task must be null or a JSON object such as {{\"train\": \"probe/train.tsv\", "
                              f"\"dev\": \"probe/dev.tsv\"}}, got {self.probe_task!r}.")
        if self.num_train_steps < 0 or self.num_warmup_steps < 0 or self.save_checkpoints_steps < 0:
            raise ConfigError("hparams num_train_steps, num_warmup_steps and save_checkpoints_steps must be >= 0.")
        if not 0.0 < self.mask_prob < 1.0:
            raise ConfigError(f"hparam mask_prob must be in (0, 1), got {self.mask_prob!r}.")
        if self.max_predictions_per_seq < 1:
            raise ConfigError(f"max_predictions_per_seq = int((mask_prob + 0.005) * max_seq_length) is "
                              f"{self.max_predictions_per_seq}; raise mask_prob or max_seq_length.")
        if self.max_seq_length < 3:
            raise ConfigError(f"hparam max_seq_length must be at least 3 ([CLS] x [SEP]), got {self.max_seq_length}.")
        if not self.learning_rate > 0:
            raise ConfigError(f"hparam learning_rate must be positive, got {self.learning_rate!r}.")
        if not self.temperature > 0:
            raise ConfigError(f"hparam temperature must be positive, got {self.temperature!r}.")
        if not (self.generator_hidden_size > 0 and self.generator_layers > 0):
            raise ConfigError("hparams generator_hidden_size and generator_layers are fractions of the "
                              "discriminator's size and must be positive.")
        self.check_choices(_CHOICES)
        if not isinstance(self.model_hparam_overrides, dict):
            raise ConfigError("hparam model_hparam_overrides must be a JSON object.")
        if self.train_batch_size % self.gradient_accumulation_steps:
            raise ConfigError(f"train_batch_size={self.train_batch_size} must be divisible by "
                              f"gradient_accumulation_steps={self.gradient_accumulation_steps}.")

    # ------------------------------------------------------------------ derived
    @property
    def training_dir(self) -> str:
        """Where the training checkpoints (weights, optimizer, RNG and data position) go;
        ``model_dir`` itself gets the original TF1 layout at the end."""
        return os.path.join(self.model_dir, "training_checkpoints")

    @property
    def health_every(self) -> int:
        """Steps between health checks (0: off); see ``health_check_steps``."""
        if self.health_check_steps is None:
            return max(1, self.num_train_steps // 10)
        return int(self.health_check_steps)

    @property
    def uses_discriminator(self) -> bool:
        return bool(self.electra_objective or self.electric_objective)

    def to_dict(self) -> Dict[str, Any]:
        """Every hparam and the derived max_predictions_per_seq, for the printed config."""
        out = super().to_dict()
        out["max_predictions_per_seq"] = self.max_predictions_per_seq
        return out

    def __str__(self) -> str:
        """The config printed sorted, one per line, as the original's utils.log_config."""
        return "\n".join(f"{k}: {v}" for k, v in sorted(self.to_dict().items()))


def model_configs(config: PretrainingConfig):
    """(discriminator ElectraConfig, generator ElectraConfig or None) as the original builds them.

    Discriminator: ``get_bert_config`` (size defaults, overrides, heads = max(1, H // 64), FFN 4H,
    overrides again) with ``embedding_size`` (None -> H), then the debug model (3 layers, H 144,
    FFN 576, 4 heads) when ``debug``. Generator (``get_generator_config``): H and layers scaled by
    the fractions (Python round, half to even), FFN 4·Hg, heads max(1, Hg // 64) -- overridden heads
    or FFN are NOT inherited -- with the shared embedding width E, or its own width Hg with
    ``untied_generator_embeddings``. None when there is no separate generator (uniform generator,
    untied_generator false, or the MLM-only objective).
    """
    from electra_tf.config import ElectraConfig

    overrides = dict(config.model_hparam_overrides)
    disc = ElectraConfig.from_finetuning_hparams(config.model_size, config.vocab_size, None, overrides)
    if config.debug:
        disc = disc.replace(num_hidden_layers=3, hidden_size=144, intermediate_size=144 * 4, num_attention_heads=4)
    embedding_size = disc.hidden_size if config.embedding_size is None else config.embedding_size
    disc = disc.replace(embedding_size=embedding_size)
    return disc, generator_config(config, disc)


def generator_config(config: PretrainingConfig, disc):
    """The generator's ElectraConfig from the discriminator's ``disc`` and the fractions (see
    ``model_configs``); None when there is no separate generator."""
    if config.uniform_generator or not (config.uses_discriminator and config.untied_generator):
        return None
    embedding_size = disc.embedding_size
    hidden = int(round(disc.hidden_size * config.generator_hidden_size))
    layers = int(round(disc.num_hidden_layers * config.generator_layers))
    if hidden < 1 or layers < 1:
        raise ConfigError(f"The generator would have hidden size {hidden} and {layers} layers; raise "
                          f"generator_hidden_size / generator_layers.")
    gen = disc.replace(hidden_size=hidden, num_hidden_layers=layers, intermediate_size=4 * hidden,
                       num_attention_heads=max(1, hidden // 64),
                       embedding_size=hidden if config.untied_generator_embeddings else embedding_size)
    return gen
