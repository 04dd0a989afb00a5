"""Mixed precision for fine-tuning: the Keras dtype policy from the ``mixed_precision`` hparam."""

from __future__ import annotations

import keras

from electra_tf.errors import ConfigError


def apply_precision(config) -> None:
    """Set the global Keras policy before the model is built (float32 keeps the original)."""
    policy = config.mixed_precision
    if policy == "mixed_float16":
        raise ConfigError(
            "mixed_precision mixed_float16 needs dynamic loss scaling, which the training loop does not have yet; "
            "use mixed_bfloat16 (no loss scaling needed) or float32."
        )
    keras.mixed_precision.set_dtype_policy(policy)
