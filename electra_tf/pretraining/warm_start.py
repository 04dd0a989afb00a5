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


def load_pretrained_weights(model, path: str) -> None:
    """Assign the discriminator (required) and the generator (if present) of ``path`` to the
    PretrainingModel ``model``; logs what was loaded."""
    from electra_tf.checkpoints.registry import read_checkpoint
    from electra_tf.checkpoints.state import assign_state

    _, state, skipped, fmt = read_checkpoint(path, config=model.disc_config, model_type="pretraining")
    report = assign_state(_WeightsView(model.discriminator_refs()), state, source=path, skip_reasons=skipped)
    logger.info("Discriminator: %s", report.summary())
    if model.generator is None:
        return
    try:
        _, gen_state, gen_skipped, _ = read_checkpoint(path, config=model.gen_config, model_type="generator")
    except CheckpointError as e:
        logger.warning("No generator in %s (%s): the generator starts from random weights.", path, str(e)[:200])
        return
    report = assign_state(_WeightsView(model.generator_refs()), gen_state, source=path, skip_reasons=gen_skipped)
    logger.info("Generator: %s", report.summary())
