"""The tagging head: the original's dense layer on gathered word positions, plus an optional CRF."""

from __future__ import annotations

import keras
import numpy as np

from electra_tf.modeling.crf import CRF
from electra_tf.modeling.heads import TokenClassificationHead
from electra_tf.modeling.naming import WeightRef


class TaggingHead(keras.layers.Layer):
    """Emission logits [B, P, C] at ``labeled_positions``; ``crf`` is None unless use_crf."""

    def __init__(self, config, use_crf: bool = False, constraints=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.classifier = TokenClassificationHead(config, name="classifier")
        self.crf = CRF(config.num_labels, constraints=constraints, name="crf") if use_crf else None

    def build(self, input_shape=None):
        self.classifier.build(None)
        if self.crf is not None:
            self.crf.build()
        self.built = True

    def call(self, sequence_output, labeled_positions, training=False):
        return self.classifier(sequence_output, labeled_positions=labeled_positions, training=training)

    def decoding_state(self):
        """What decoding needs from this head as NumPy arrays: the CRF's masked transition,
        start and end scores under "crf" (nothing without a CRF)."""
        if self.crf is None:
            return {}
        return {"crf": tuple(np.asarray(x) for x in self.crf.masked_params())}

    def hf_weights(self, prefix="classifier"):
        yield from self.classifier.hf_weights(prefix)
        if self.crf is not None:
            for name in ("transitions", "start", "end"):
                yield WeightRef(f"crf.{name}", getattr(self.crf, name))
