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
