"""Task heads: HuggingFace's and the original ELECTRA fine-tuning code's.

The "electra" heads reproduce google-research/electra ``finetune/`` exactly (single dense
classifier on [CLS], tagging dense on gathered word starts, the joint start/end QA head with
beam search and the answerable classifier). The "hf" heads reproduce HuggingFace's
``ElectraFor*`` classes so HF fine-tuned checkpoints load. Logits are always float32.

Canonical weight names of the original heads (no HF equivalent) are HF-style names of our own;
the TF1 converter maps them to ``task_specific/<task>/dense``, ``dense_1``, ...
"""

from __future__ import annotations

from typing import Dict

import keras
from keras import ops

from electra_tf.config import QA_HEAD_DEFAULTS, ElectraConfig
from electra_tf.errors import check_known_keys
from electra_tf.modeling.encoder import Dense, Dropout, get_activation, layer_norm, truncated_normal
from electra_tf.modeling.losses import sigmoid_cross_entropy, span_cross_entropy
from electra_tf.modeling.naming import dense_weights, layer_norm_weights

# The original's heads are tf.layers.dense with no initializer argument: TF1's glorot uniform.
ORIGINAL_INIT = "glorot_uniform"
# The original masks positions outside the answer region by adding 1000 * (mask - 1).
ANSWER_MASK_ADDER = 1000.0


def _logits_dense(units, init, name, activation=None):
    # Logits and the layers feeding softmaxes stay float32 under mixed precision.
    return Dense(units, activation=activation, kernel_initializer=init, dtype="float32", name=name)


def hf_dropout_rate(config: ElectraConfig) -> float:
    """HF's classifier dropout: classifier_dropout if set, else hidden_dropout_prob."""
    return config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob


class HFClassificationHead(keras.layers.Layer):
    """HF ElectraClassificationHead: [CLS] -> dropout -> dense(H) -> gelu -> dropout -> out_proj."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        init = truncated_normal(config)
        # HF: "Electra authors used gelu here"
        self.dense = Dense(config.hidden_size, activation=get_activation("gelu"), kernel_initializer=init, name="dense")
        self.out_proj = _logits_dense(config.num_labels, init, "out_proj")
        self.dropout = Dropout(hf_dropout_rate(config))

    def build(self, input_shape):
        H = self.config.hidden_size
        self.dense.build((None, H))
        self.out_proj.build((None, H))
        self.built = True

    def call(self, sequence_output, training=False):
        x = self.dropout(sequence_output[:, 0], training=training)
        x = self.dense(x)  # dense, then gelu
        x = self.dropout(x, training=training)
        return self.out_proj(x)

    def hf_weights(self, prefix="classifier"):
        yield from dense_weights(f"{prefix}.dense", self.dense)
        yield from dense_weights(f"{prefix}.out_proj", self.out_proj)


class OriginalClassificationHead(keras.layers.Layer):
    """The original classification/regression head: [CLS] -> dropout(0.1) -> one dense layer.

    ``classification_tasks.py`` uses ``tf.nn.dropout(reprs, keep_prob=0.9)`` then
    ``tf.layers.dense(reprs, num_labels)`` (1 unit for regression).
    """

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        rate = config.classifier_dropout if config.classifier_dropout is not None else 0.1
        self.dropout = Dropout(rate)
        self.dense = _logits_dense(config.num_labels, ORIGINAL_INIT, "dense")

    def build(self, input_shape):
        self.dense.build((None, self.config.hidden_size))
        self.built = True

    def call(self, sequence_output, training=False):
        return self.dense(self.dropout(sequence_output[:, 0], training=training))

    def hf_weights(self, prefix="classifier"):
        yield from dense_weights(prefix, self.dense)


def gather_positions(sequence, positions):
    """[B, L, H] gathered at [B, P] int positions -> [B, P, H] (the original's gather_positions).

    One batched gather, not ``ops.take_along_axis``: that casts the positions to int64 and transposes
    them, and with oneDNN on (utils/onednn.py) an integer Transpose makes TensorFlow log "E ...
    oneDNN supports DT_INT64 only on platforms with AVX-512" on AVX2-only CPUs when a pre-training,
    tagging or original-QA step is built. The same values and gradients, bit for bit (a copy; duplicate
    positions' gradients are summed in the same order)."""
    import tensorflow as tf

    return tf.gather(sequence, ops.cast(positions, "int32"), axis=1, batch_dims=1)


class TokenClassificationHead(keras.layers.Layer):
    """Per-token logits: dropout (HF) or none (original) then one dense layer ``classifier``."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        original = config.head == "electra"
        # The original tagging head has no dropout (tagging_tasks.py).
        self.dropout = Dropout(0.0 if original else hf_dropout_rate(config))
        self.classifier = _logits_dense(config.num_labels, ORIGINAL_INIT if original else truncated_normal(config), "classifier")

    def build(self, input_shape):
        self.classifier.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, sequence_output, labeled_positions=None, training=False):
        if labeled_positions is not None:
            sequence_output = gather_positions(sequence_output, labeled_positions)
        return self.classifier(self.dropout(sequence_output, training=training))

    def hf_weights(self, prefix="classifier"):
        yield from dense_weights(prefix, self.classifier)


class HFQuestionAnsweringHead(keras.layers.Layer):
    """HF's QA head: one dense layer ``qa_outputs`` with 2 units split into start/end logits."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.qa_outputs = _logits_dense(2, truncated_normal(config), "qa_outputs")

    def build(self, input_shape):
        self.qa_outputs.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, sequence_output, **unused):
        logits = self.qa_outputs(sequence_output)
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}

    def hf_weights(self, prefix="qa_outputs"):
        yield from dense_weights(prefix, self.qa_outputs)




# ops.expand_dims rather than x[:, None] on the inference paths below: TFLite's builtin strided
# slice cannot add axes to a tensor of dynamic shape, and the LiteRT export uses builtins only.


class OriginalQuestionAnsweringHead(keras.layers.Layer):
    """The original QA head of ``finetune/qa/qa_tasks.py`` (see its docstring there).

    Start logits from one dense layer. With ``joint_prediction`` the end logits are conditioned
    on a start: the gold start when training (teacher forcing), each of the ``beam_size`` best
    starts at inference, through ``qa_hidden`` (dense 512, gelu) and a dense(1). Positions
    outside the context (except [CLS]) are masked by -1000. The answerable classifier predicts
    "is impossible" from [CLS] and, optionally, the start-probability-weighted context.

    Inference outputs add ``start_top_log_probs``/``start_top_index`` [B, K] and
    ``end_top_log_probs``/``end_top_index`` [B, K, K]; ``end_logits`` is zeros then, as in the
    original.
    """

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        opts = dict(QA_HEAD_DEFAULTS)
        check_known_keys("head_options", config.head_options, opts, what="QA head option")
        opts.update(config.head_options)
        self.options = opts
        self.joint_prediction = bool(opts["joint_prediction"])
        self.beam_size = int(opts["beam_size"])
        self.answerable_classifier = bool(opts["answerable_classifier"])
        self.answerable_uses_start_logits = bool(opts["answerable_uses_start_logits"])
        self.answerable_weight = float(opts["answerable_weight"])
        width = int(opts["qa_hidden_size"])
        gelu = get_activation("gelu")
        # TF1 names under task_specific/<task>/: dense, qa_hidden, dense_1, dense_2, dense_3.
        self.start = _logits_dense(1, ORIGINAL_INIT, "start")
        self.qa_hidden = _logits_dense(width, ORIGINAL_INIT, "qa_hidden", activation=None) if self.joint_prediction else None
        self.gelu = gelu
        self.end = _logits_dense(1, ORIGINAL_INIT, "end")
        if self.answerable_classifier and self.answerable_uses_start_logits:
            self.answerable_hidden = _logits_dense(width, ORIGINAL_INIT, "answerable_hidden", activation=None)
        else:
            self.answerable_hidden = None
        self.answerable = _logits_dense(1, ORIGINAL_INIT, "answerable") if self.answerable_classifier else None

    def build(self, input_shape):
        H = self.config.hidden_size
        width = int(self.options["qa_hidden_size"])
        self.start.build((None, None, H))
        if self.qa_hidden is not None:
            self.qa_hidden.build((None, None, 2 * H))
            self.end.build((None, None, width))
        else:
            self.end.build((None, None, H))
        if self.answerable_hidden is not None:
            self.answerable_hidden.build((None, 2 * H))
            self.answerable.build((None, width))
        elif self.answerable is not None:
            self.answerable.build((None, H))
        self.built = True

    def _end_logits_given_starts(self, hidden, start_features):
        """qa_hidden(concat([start, end])) computed as start @ W_s + end @ W_e + b.

        The same function as the original's concat-then-dense, split so the [B, K, L, 2H]
        tiled tensor the original builds at inference is never materialised.
        hidden: [B, L, H]; start_features: [B, K, H] -> end logits [B, K, L].
        """
        H = self.config.hidden_size
        kernel = ops.cast(self.qa_hidden.kernel, "float32")
        from_start = ops.matmul(start_features, kernel[:H])  # [B, K, W]
        from_end = ops.matmul(hidden, kernel[H:]) + ops.cast(self.qa_hidden.bias, "float32")  # [B, L, W]
        pre = ops.expand_dims(from_start, 2) + ops.expand_dims(from_end, 1)  # [B, K, L, W]
        return ops.squeeze(self.end(self.gelu(pre)), -1)

    def call(self, sequence_output, attention_mask, token_type_ids, start_positions=None, training=False):
        hidden = ops.cast(sequence_output, "float32")  # [B, L, H]
        L = ops.shape(hidden)[1]
        static_len = hidden.shape[1]
        answer_mask = ops.cast(attention_mask, "float32") * ops.cast(token_type_ids, "float32")
        answer_mask = answer_mask + ops.one_hot(ops.zeros_like(answer_mask[:, 0], dtype="int32"), L)  # allow [CLS]
        mask_add = ANSWER_MASK_ADDER * (answer_mask - 1.0)  # [B, L]

        start_logits = ops.squeeze(self.start(hidden), -1) + mask_add
        out: Dict[str, object] = {}
        if self.joint_prediction:
            k = self.beam_size if static_len is None else min(self.beam_size, static_len)
            if training:
                if start_positions is None:
                    from electra_tf.errors import ElectraError

                    raise ElectraError(
                        "The original joint QA head needs start_positions in training (teacher forcing); "
                        "pass start_positions or call with training=False."
                    )
                gold = ops.one_hot(ops.cast(start_positions, "int32"), L)  # [B, L]
                start_features = ops.sum(gold[:, :, None] * hidden, axis=1)[:, None, :]  # [B, 1, H]
                end_logits = self._end_logits_given_starts(hidden, start_features)[:, 0] + mask_add
            else:
                start_log_probs = ops.log_softmax(start_logits, axis=-1)
                start_top_log_probs, start_top_index = ops.top_k(start_log_probs, k)  # [B, K]
                start_features = gather_positions(hidden, start_top_index)  # [B, K, H]
                beam_end_logits = self._end_logits_given_starts(hidden, start_features) + ops.expand_dims(mask_add, 1)
                end_log_probs = ops.log_softmax(beam_end_logits, axis=-1)
                end_top_log_probs, end_top_index = ops.top_k(end_log_probs, k)  # [B, K, K]
                out.update(
                    start_top_log_probs=start_top_log_probs,
                    start_top_index=start_top_index,
                    end_top_log_probs=end_top_log_probs,
                    end_top_index=end_top_index,
                )
                end_logits = ops.zeros_like(start_logits)  # the original returns zeros here
        else:
            end_logits = ops.squeeze(self.end(hidden), -1) + mask_add

        if self.answerable is not None:
            reprs = hidden[:, 0]
            if self.answerable_hidden is not None:
                # Gradient is not stopped through the start probabilities, as in the original.
                start_p = ops.softmax(start_logits, axis=-1)
                start_feature = ops.sum(ops.expand_dims(start_p, -1) * hidden, axis=1)
                reprs = self.gelu(self.answerable_hidden(ops.concatenate([reprs, start_feature], axis=-1)))
            answerable_logit = ops.squeeze(self.answerable(reprs), -1)
        else:
            answerable_logit = ops.zeros_like(start_logits[:, 0])
        out.update(start_logits=start_logits, end_logits=end_logits, answerable_logit=answerable_logit)
        return out

    def per_example_loss(self, outputs, start_positions, end_positions, is_impossible=None):
        """The original QA loss per example: mean of start/end CE + weighted answerable BCE."""
        losses = span_cross_entropy(outputs["start_logits"], outputs["end_logits"], start_positions, end_positions)
        if self.answerable is not None:
            if is_impossible is None:
                is_impossible = ops.zeros_like(losses)
            bce = sigmoid_cross_entropy(outputs["answerable_logit"], is_impossible)
            losses = losses + self.answerable_weight * bce
        return losses

    def hf_weights(self, prefix="qa_head"):
        yield from dense_weights(f"{prefix}.start", self.start)
        if self.qa_hidden is not None:
            yield from dense_weights(f"{prefix}.qa_hidden", self.qa_hidden)
        yield from dense_weights(f"{prefix}.end", self.end)
        if self.answerable_hidden is not None:
            yield from dense_weights(f"{prefix}.answerable_hidden", self.answerable_hidden)
        if self.answerable is not None:
            yield from dense_weights(f"{prefix}.answerable", self.answerable)


class DiscriminatorPredictions(keras.layers.Layer):
    """Replaced-token-detection head: dense(H, hidden_act) -> dense_prediction(1) per token."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.dense = Dense(config.hidden_size, activation=get_activation(config.hidden_act),
                           kernel_initializer=truncated_normal(config), name="dense")
        self.dense_prediction = _logits_dense(1, ORIGINAL_INIT, "dense_prediction")

    def build(self, input_shape):
        self.dense.build((None, None, self.config.hidden_size))
        self.dense_prediction.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, sequence_output):
        return ops.squeeze(self.dense_prediction(self.dense(sequence_output)), -1)  # dense includes hidden_act

    def hf_weights(self, prefix="discriminator_predictions"):
        yield from dense_weights(f"{prefix}.dense", self.dense)
        yield from dense_weights(f"{prefix}.dense_prediction", self.dense_prediction)


class GeneratorPredictions(keras.layers.Layer):
    """Generator MLM head: dense(E) -> gelu -> LayerNorm, then logits = h @ word_embeddings^T + bias."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.dense = Dense(config.embedding_size, activation=get_activation("gelu"), kernel_initializer=truncated_normal(config),
                           name="dense")
        self.LayerNorm = layer_norm(config, "LayerNorm")

    def build(self, input_shape):
        self.dense.build((None, None, self.config.hidden_size))
        self.LayerNorm.build((None, None, self.config.embedding_size))
        # autocast=False: under a mixed policy the bias stays float32 like the logits it is added to.
        self.output_bias = self.add_weight(shape=(self.config.vocab_size,), initializer="zeros", name="output_bias",
                                           dtype="float32", autocast=False)
        self.built = True

    def call(self, sequence_output, embedding_table):
        h = self.LayerNorm(self.dense(sequence_output))  # dense, gelu, LayerNorm: [B, L, E]
        return ops.matmul(h, ops.transpose(ops.cast(embedding_table, "float32"))) + self.output_bias

    def hf_weights(self, prefix="generator_predictions"):
        from electra_tf.modeling.naming import WeightRef

        yield from layer_norm_weights(f"{prefix}.LayerNorm", self.LayerNorm)
        yield from dense_weights(f"{prefix}.dense", self.dense)
        yield WeightRef("generator_lm_head.bias", self.output_bias)
