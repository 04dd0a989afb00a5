"""The encoder a fine-tuning run builds: the hparams reconciled with the pre-trained checkpoint.

The original builds the encoder from the hparams (model_size, vocab_size, embedding_size,
model_hparam_overrides) and restores the checkpoint into it; a mismatch there is a shape error
deep inside TF. Here the checkpoint's own config (read through its format,
``checkpoints.registry.checkpoint_config``) wins for the fields the user did not set, and an
explicit hparam that contradicts it is an error naming the hparam. Used by ``finetuning.runner``.
"""

from __future__ import annotations

import os

from electra_tf.checkpoints.registry import checkpoint_config
from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError, ConfigError

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
        # FinetuningModel's debug model; it is trained from scratch (see FinetuningRunner.load_pretrained).
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
