"""Warm-starting pre-training from released weights (the ``init_checkpoint`` extension).

The original could not continue from the released checkpoints (strict Estimator restore, no
Adam slots in them: #25, #45, #103). Here the discriminator and, when the checkpoint has one, the
generator are read through the checkpoint registry (TF1 or HF directories) and assigned by
their canonical names; the optimizer starts with zero slots and step 0.
"""

from __future__ import annotations

import logging

from electra_tf.errors import CheckpointError

logger = logging.getLogger("electra_tf")


class _WeightsView:
    """What ``assign_state`` needs of a model: canonical WeightRefs and the encoder prefix."""

    base_model_prefix = "electra"

    def __init__(self, refs):
        self._refs = refs

    def hf_weights(self):
        return list(self._refs)


def warm_start_sources(path: str):
    """(discriminator source, generator source or None) of ``init_checkpoint``.

    A TF1 checkpoint holds both networks (the generator under ``generator/``, when there is one);
    a HuggingFace directory holds one network, so it gives the discriminator only (an
    ``ElectraForMaskedLM`` directory is refused: it is a generator); a folder with
    ``discriminator/`` and ``generator/`` (what ``export_hf`` writes, ``<model_dir>/hf``) gives both.
    """
    import os

    from electra_tf.checkpoints.registry import default_model_type, detect_format

    disc_dir, gen_dir = os.path.join(path, "discriminator"), os.path.join(path, "generator")
    if os.path.isdir(disc_dir) and os.path.isdir(gen_dir):
        return disc_dir, gen_dir
    if detect_format(path).name != "hf":
        return path, path
    if default_model_type(path) == "generator":
        raise CheckpointError(f"init_checkpoint {path} is a generator (ElectraForMaskedLM); pass the discriminator's "
                              f"directory (ElectraForPreTraining), or a folder with discriminator/ and generator/.")
    return path, None


def load_pretrained_weights(model, path: str) -> None:
    """Assign the discriminator (required) and the generator (if ``path`` has one, see
    ``warm_start_sources``) to the PretrainingModel ``model``; logs what was loaded."""
    from electra_tf.checkpoints.registry import read_checkpoint
    from electra_tf.checkpoints.state import assign_state

    disc_source, gen_source = warm_start_sources(path)
    _, state, skipped, fmt = read_checkpoint(disc_source, config=model.disc_config, model_type="pretraining")
    report = assign_state(_WeightsView(model.discriminator_refs()), state, source=disc_source, skip_reasons=skipped)
    logger.info("Discriminator: %s", report.summary())
    if model.generator is None:
        return
    if gen_source is None:
        logger.warning("%s holds no generator: the generator starts from random weights.", path)
        return
    try:
        _, gen_state, gen_skipped, _ = read_checkpoint(gen_source, config=model.gen_config, model_type="generator")
    except CheckpointError as e:
        logger.warning("No generator in %s (%s): the generator starts from random weights.", path, str(e)[:200])
        return
    report = assign_state(_WeightsView(model.generator_refs()), gen_state, source=gen_source, skip_reasons=gen_skipped)
    logger.info("Generator: %s", report.summary())


# Architecture fields a continued pre-training run takes from ``init_checkpoint`` (as fine-tuning does).
_SIZE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
_ARCHITECTURE_FIELDS = ("vocab_size", "embedding_size", *_SIZE_FIELDS, "max_position_embeddings", "type_vocab_size")


def checkpoint_vocab_file(path: str, disc_source: str):
    """The ``vocab.txt`` stored with the checkpoint ``path`` (beside its discriminator, or in its
    folder), or None."""
    import os

    folders = []
    for candidate in (disc_source, path):
        folder = candidate if os.path.isdir(candidate) else os.path.dirname(candidate)
        if folder not in folders:
            folders.append(folder)
    for folder in folders:
        vocab = os.path.join(folder, "vocab.txt")
        if os.path.isfile(vocab):
            return vocab
    return None


def _explicit_fields(config, what: str):
    """{config field: the hparam that sets it} for the architecture hparams the user passed."""
    user = config.user_hparams
    explicit = {}
    if "vocab_size" in user:
        explicit["vocab_size"] = "vocab_size"
    if "embedding_size" in user:
        explicit["embedding_size"] = "embedding_size"
    elif "model_size" in user and config.model_size == "small":
        explicit["embedding_size"] = "model_size (small implies embedding_size 128)"
    if "model_size" in user:
        explicit.update({f: "model_size" for f in _SIZE_FIELDS})
    for key in config.model_hparam_overrides:
        explicit[key] = f"model_hparam_overrides.{key}"
    return explicit


def _reconcile(derived, stored, explicit, path: str, what: str):
    """``derived`` with every field the user did not set replaced by the checkpoint's ``stored``
    value; a field the user set that contradicts the checkpoint is one ConfigError naming both."""
    from electra_tf.errors import ConfigError

    changes = {}
    for field in _ARCHITECTURE_FIELDS:
        want, have = getattr(derived, field), getattr(stored, field)
        if want == have:
            continue
        if field in explicit:
            if field == "num_attention_heads" and explicit[field] == "model_size":
                changes[field] = have  # heads cannot be read from TF1 shapes; the stored config wins
                continue
            raise ConfigError(f"The hparam {explicit[field]} gives the {what} {field}={want}, but init_checkpoint "
                              f"{path} has {field}={have}; remove the hparam (continued pre-training takes the "
                              f"checkpoint's architecture) or pass another init_checkpoint.")
        changes[field] = have
    for field in ("hidden_act", "layer_norm_eps", "hidden_dropout_prob", "attention_probs_dropout_prob"):
        if field not in explicit:
            changes[field] = getattr(stored, field)
    return derived.replace(**changes)


def resolve_from_checkpoint(config):
    """(discriminator config, generator config or None) of a run with ``init_checkpoint``, taken
    from the checkpoint as fine-tuning does (our extension; the original had no warm start).

    The vocabulary file (the checkpoint's ``vocab.txt`` unless the hparam ``vocab_file`` is
    given), ``vocab_size``, the discriminator's sizes and, when the checkpoint holds a generator,
    the generator's sizes come from the checkpoint; ``config.vocab_file``, ``vocab_size`` and
    ``embedding_size`` are updated. An explicit hparam that contradicts the checkpoint (sizes,
    ``vocab_size``, ``generator_hidden_size`` / ``generator_layers``) is one ConfigError naming
    both values. Without ``init_checkpoint``: ``model_configs(config)``.
    """
    import os

    from electra_tf.checkpoints.registry import detect_format
    from electra_tf.errors import ConfigError
    from electra_tf.pretraining.config import generator_config, model_configs

    path = config.init_checkpoint
    if not path or config.debug:
        return model_configs(config)
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise CheckpointError(f"init_checkpoint {path} does not exist; pass an HF directory, an original TF1 "
                              f"checkpoint or an electra-tf pre-training model directory.")
    disc_source, gen_source = warm_start_sources(path)
    stored = detect_format(disc_source).read_config(disc_source, model_type="base")
    user = config.user_hparams
    vocab = checkpoint_vocab_file(path, disc_source)
    if vocab and "vocab_file" not in user:
        default = config.vocab_file
        if os.path.isfile(default) and not _same_file_contents(default, vocab):
            raise ConfigError(f"{default} differs from the vocabulary of init_checkpoint ({vocab}); the records "
                              f"must be built with the checkpoint's vocabulary. Set the hparam vocab_file to the "
                              f"one the records were built with.")
        config.vocab_file = vocab
    derived, _ = model_configs(config)
    disc = _reconcile(derived, stored, _explicit_fields(config, "discriminator"), path, "discriminator")
    config.vocab_size, config.embedding_size = disc.vocab_size, disc.embedding_size
    gen = generator_config(config, disc)
    stored_gen = None
    if gen is not None and gen_source is not None:
        try:
            stored_gen = detect_format(gen_source).read_config(gen_source, model_type="generator")
        except CheckpointError:
            stored_gen = None  # no generator in it: built from the fractions, trained from random weights
    if stored_gen is not None:
        for field, hparam in (("hidden_size", "generator_hidden_size"), ("num_hidden_layers", "generator_layers")):
            want, have = getattr(gen, field), getattr(stored_gen, field)
            if hparam in user and want != have:
                raise ConfigError(f"The hparam {hparam}={user[hparam]} gives the generator {field}={want}, but "
                                  f"init_checkpoint {path} has a generator with {field}={have}; remove the hparam "
                                  f"or pass another init_checkpoint.")
        gen = gen.replace(**{f: getattr(stored_gen, f) for f in (*_SIZE_FIELDS, "hidden_act", "layer_norm_eps")})
    logger.info("Architecture from init_checkpoint %s: discriminator hidden %d, %d layers, %d heads, embedding %d, "
                "vocabulary %d (%s)%s", path, disc.hidden_size, disc.num_hidden_layers, disc.num_attention_heads,
                disc.embedding_size, disc.vocab_size, config.vocab_file,
                f"; generator hidden {gen.hidden_size}, {gen.num_hidden_layers} layers" if gen is not None else "")
    return disc, gen


def _same_file_contents(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()
