"""Mixed precision for fine-tuning: the Keras dtype policy from the ``mixed_precision`` hparam."""

from __future__ import annotations

import keras



def apply_precision(config) -> None:
    """Set the global Keras policy before the model is built (float32 keeps the original)."""
    keras.mixed_precision.set_dtype_policy(config.mixed_precision)


def needs_loss_scaling(config) -> bool:
    """float16 gradients underflow without it; bfloat16 has float32's range."""
    return config.mixed_precision == "mixed_float16"
