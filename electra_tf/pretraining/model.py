"""The ELECTRA pre-training model (``run_pretraining.PretrainingModel``) as one Keras model.

Built from the existing layers (``ElectraMainLayer``, ``GeneratorPredictions``,
``DiscriminatorPredictions``), so every weight has the canonical (HF) name of
``TFElectraForMaskedLM`` / ``TFElectraForPreTraining`` and the original TF1 name of §6.5:

=================================  =======================================================
generator (``generator/``)          a smaller ElectraMainLayer that SHARES the discriminator's
                                    whole embedding block (word, position, token-type tables
                                    and their LayerNorm) unless ``untied_generator_embeddings``;
                                    its own ``embeddings_project`` when widths differ
``generator_predictions/``          dense(E) -> gelu -> LayerNorm -> tied word table + bias
discriminator (``electra/``)        the full ElectraMainLayer
``discriminator_predictions/``      dense(H, gelu) -> dense_1 (one logit per token)
=================================  =======================================================

``untied_generator`` false, and the MLM-only objective, use the discriminator's network as the
generator (one network, as the original's scope reuse); ``uniform_generator`` has no generator
network (logits 0 over the vocabulary).

A step (``forward``): mask the batch (``masking.mask``), run the generator on the masked ids,
gather the masked slots, MLM loss Σ w·nll / (Σ w + 1e-6); sample one token per slot by
Gumbel-max on logits / temperature (no gradient), write the samples into the *un-masked* ids
(duplicate positions get the floor average, as the original), label a token fake when it
changed; the discriminator's sigmoid loss over non-pad tokens Σ m·ce / (Σ m + 1e-6); total =
gen_weight · MLM + disc_weight · disc.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from electra_tf.config import ElectraConfig
from electra_tf.modeling.encoder import ElectraMainLayer
from electra_tf.modeling.heads import DiscriminatorPredictions, GeneratorPredictions, gather_positions
from electra_tf.modeling.models import build_sublayers
from electra_tf.pretraining import masking

# Outputs that are per example (batch-major) and describe one evaluation step (§7).
EVAL_OUTPUT_KEYS = ("masked_lm_preds", "mlm_loss", "masked_lm_ids", "masked_lm_weights", "sampled_tokids",
                    "disc_loss", "disc_labels", "disc_probs", "disc_preds", "input_mask", "loss_contribution")


class PretrainingModel(keras.Model):
    """Generator + discriminator of ELECTRA pre-training (see the module docstring).

    ``config``: a PretrainingConfig; ``disc_config`` / ``gen_config`` from
    ``config.model_configs`` (gen_config None: no separate generator); ``special_ids``: the
    vocabulary ids of ``[CLS]``, ``[SEP]``, ``[MASK]``; ``seed`` seeds the masking and sampling
    draws. ``loss_scale`` multiplies the per-example loss contributions (the engine sums them
    over micro-batches and replicas; 1 / (micro-batches per step) gives their mean).
    """

    def __init__(self, config, disc_config: ElectraConfig, gen_config: Optional[ElectraConfig], special_ids: Dict[str, int],
                 seed: int = 0, loss_scale: float = 1.0, **kwargs):
        kwargs.setdefault("name", "pretraining_model")
        super().__init__(**kwargs)
        self.pconfig = config
        self.disc_config = disc_config
        self.gen_config = gen_config
        self.mask_id = int(special_ids["[MASK]"])
        self.special_ids = (int(special_ids["[CLS]"]), int(special_ids["[SEP]"]), self.mask_id)
        self.max_predictions = int(config.max_predictions_per_seq)
        self.loss_scale = float(loss_scale)
        self.has_discriminator = bool(config.uses_discriminator)
        self.electra = ElectraMainLayer(disc_config, name="electra")
        self.discriminator_predictions = (
            DiscriminatorPredictions(disc_config, name="discriminator_predictions") if self.has_discriminator else None)
        self.generator = None
        self.generator_predictions = None
        if config.uniform_generator:
            pass
        elif gen_config is not None:
            shared = None if config.untied_generator_embeddings else self.electra.embeddings
            self.generator = ElectraMainLayer(gen_config, embeddings=shared, name="generator")
            self.generator_predictions = GeneratorPredictions(gen_config, name="generator_predictions")
        else:  # one network: the generator is the discriminator's body (full size)
            self.generator_predictions = GeneratorPredictions(disc_config, name="generator_predictions")
        # Masking and sampling randomness: a Keras seed generator, so its state is a model variable
        # saved in training checkpoints (a resumed run continues the same stream).
        self.noise_seed = keras.random.SeedGenerator(seed, name="pretraining_seed_generator")

    # ------------------------------------------------------------------ pieces
    def _generator_body(self):
        return self.generator if self.generator is not None else self.electra

    def generator_logits(self, masked: masking.MaskedInputs, training=False):
        """[B, N, V] float32 logits of the generator at the masked slots."""
        if self.pconfig.uniform_generator:
            shape = tf.concat([tf.shape(masked.masked_lm_ids), [self.disc_config.vocab_size]], 0)
            return tf.zeros(shape, tf.float32)
        body = self._generator_body()
        hidden = body(masked.input_ids, attention_mask=masked.input_mask, token_type_ids=masked.segment_ids,
                      training=training)["last_hidden_state"]
        relevant = gather_positions(hidden, masked.masked_lm_positions)
        table = body.embeddings.word_embeddings.embeddings
        return tf.cast(self.generator_predictions(relevant, table), tf.float32)

    def mask_inputs(self, features) -> masking.MaskedInputs:
        """The original's dynamic masking of a batch, with this model's seeded draws."""
        return masking.mask(features["input_ids"], features["input_mask"], features["segment_ids"],
                            mask_prob=self.pconfig.mask_prob, max_predictions=self.max_predictions,
                            mask_id=self.mask_id, special_ids=self.special_ids, seed_generator=self.noise_seed,
                            without_replacement=self.pconfig.mask_without_replacement)

    # ------------------------------------------------------------------ forward
    def forward(self, features, masked: Optional[masking.MaskedInputs] = None, sampled_ids=None, sampling_noise=None,
                training=False) -> Dict[str, tf.Tensor]:
        """One pre-training step's outputs: scalar losses (``mlm_loss_total``, ``disc_loss_total``,
        ``total_loss``), the per-example ``loss_contribution`` [B] summing to ``total_loss``
        (times ``loss_scale``) and the evaluation tensors of ``EVAL_OUTPUT_KEYS``.

        ``masked`` / ``sampled_ids`` / ``sampling_noise`` replace the random draws (tests)."""
        config = self.pconfig
        original_ids = tf.cast(features["input_ids"], tf.int32)
        input_mask = tf.cast(features["input_mask"], tf.int32)
        if masked is None:
            masked = self.mask_inputs(features)
        weights = tf.cast(masked.masked_lm_weights, tf.float32)
        logits = self.generator_logits(masked, training=training)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        # -log p(target) gathered, where the original sums one_hot * log_probs over the vocabulary:
        # the same value bit for bit (every other term is 0 * a finite number) and the same
        # gradient, without building and reducing two [B, N, vocabulary] tensors per step.
        nll = -tf.gather(log_probs, tf.cast(masked.masked_lm_ids, tf.int32), batch_dims=2)
        denominator = tf.reduce_sum(weights) + 1e-6
        mlm_rows = tf.reduce_sum(weights * nll, axis=-1) / denominator  # sums to the original's loss
        out = {
            "masked_lm_preds": tf.argmax(logits, axis=-1, output_type=tf.int32),
            "mlm_loss": nll,
            "masked_lm_ids": masked.masked_lm_ids,
            "masked_lm_weights": weights,
            "input_mask": input_mask,
            "mlm_loss_total": tf.reduce_sum(mlm_rows),
        }
        contribution = config.gen_weight * mlm_rows

        # Fake data: sample, write into the un-masked ids (the original's _get_fake_data).
        if sampled_ids is None:
            if sampling_noise is None:
                sampling_noise = masking.uniform_rows(self.noise_seed, tf.shape(logits)[0], tf.shape(logits)[1:])
            sampled_ids = masking.sample_from_logits(
                logits, sampling_noise, config.temperature,
                disallow_ids=masked.masked_lm_ids if config.disallow_correct else None)
        sampled_ids = tf.stop_gradient(tf.cast(sampled_ids, tf.int32))
        out["sampled_tokids"] = sampled_ids
        unmasked = masking.unmask(masked)
        fake_ids, updated = masking.scatter_update(unmasked, sampled_ids, masked.masked_lm_positions)
        labels = updated * (1 - tf.cast(tf.equal(fake_ids, unmasked), tf.int32))
        out["fake_input_ids"] = fake_ids
        out["disc_labels"] = labels

        total = config.gen_weight * out["mlm_loss_total"]
        if self.has_discriminator:
            hidden = self.electra(fake_ids, attention_mask=input_mask, token_type_ids=masked.segment_ids,
                                  training=training)["last_hidden_state"]
            disc_logits = tf.cast(self.discriminator_predictions(hidden), tf.float32)
            mask_f = tf.cast(input_mask, tf.float32)
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32), logits=disc_logits) * mask_f
            disc_rows = tf.reduce_sum(losses, axis=-1) / (1e-6 + tf.reduce_sum(mask_f))
            out.update(
                disc_logits=disc_logits,
                disc_loss=tf.reduce_sum(losses, axis=-1) / (1e-6 + tf.reduce_sum(mask_f, axis=-1)),
                disc_probs=tf.sigmoid(disc_logits),
                # round((sign(logit) + 1) / 2), half to even: a logit of exactly 0 predicts "real".
                disc_preds=tf.cast(disc_logits > 0, tf.int32),
                disc_loss_total=tf.reduce_sum(disc_rows),
            )
            contribution += config.disc_weight * disc_rows
            total += config.disc_weight * out["disc_loss_total"]
        out["total_loss"] = total
        out["loss_contribution"] = contribution * self.loss_scale
        return out

    def call(self, features, training=False):
        """The batch-major outputs of ``forward`` (what the engine's step and evaluation use)."""
        out = self.forward(features, training=training)
        return {k: out[k] for k in EVAL_OUTPUT_KEYS if k in out}

    @staticmethod
    def per_example_loss(outputs, features):
        """[B] contributions whose sum is the step's (scaled) total loss, for the engine."""
        return outputs["loss_contribution"]

    def build(self, input_shape=None):
        """Every variable, from the configurations (see modeling.models.build_sublayers): the
        generator's and discriminator's sublayers build from their own configs."""
        build_sublayers(self, self.disc_config.hidden_size)

    def build_for(self, max_seq_length: int) -> "PretrainingModel":
        """Create every variable (no batch runs, so no random draw is taken); returns the model.
        ``max_seq_length`` is accepted for the runners' uniform call."""
        self.build(None)
        return self

    # ------------------------------------------------------------------ names
    def discriminator_refs(self):
        """WeightRefs of the discriminator under HF ``ElectraForPreTraining`` names."""
        refs = list(self.electra.hf_weights("electra"))
        if self.discriminator_predictions is not None:
            refs += list(self.discriminator_predictions.hf_weights("discriminator_predictions"))
        return refs

    def generator_refs(self):
        """WeightRefs of the generator under HF ``ElectraForMaskedLM`` names (its body includes the
        shared embeddings); [] for the uniform generator."""
        if self.generator_predictions is None:
            return []
        return list(self._generator_body().hf_weights("electra")) + list(self.generator_predictions.hf_weights("generator_predictions"))

    def tf1_weights(self) -> List[Tuple[str, object]]:
        """(original TF1 variable name, variable) of every weight, each variable once: the names
        the original checkpoint has (§6.5); shared embeddings appear once, as electra/embeddings."""
        from electra_tf.checkpoints.tf1 import canonical_to_tf1

        pairs: Dict[str, object] = {}

        def add(name, variable):
            if name in pairs:
                if pairs[name] is not variable:
                    raise ValueError(f"two weights map to the TF1 name {name}")
                return
            pairs[name] = variable

        for ref in self.discriminator_refs():
            add(canonical_to_tf1(ref.name, "pretraining"), ref.variable)
        if self.generator is not None:
            untied = bool(self.pconfig.untied_generator_embeddings)
            for ref in self.generator_refs():
                add(canonical_to_tf1(ref.name, "generator", untied_generator_embeddings=untied), ref.variable)
        elif self.generator_predictions is not None:
            for ref in self.generator_predictions.hf_weights("generator_predictions"):
                add(canonical_to_tf1(ref.name, "generator"), ref.variable)
        return list(pairs.items())
