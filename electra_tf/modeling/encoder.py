"""The ELECTRA encoder as plain Keras 3 layers.

Post-LN BERT blocks, exact erf GELU, LayerNorm epsilon from the config (1e-12), the additive
-10000 key mask and no pooler, as in google-research/electra's ``model/modeling.py`` and
HuggingFace's ``modeling_electra.py``. Layer names mirror HF's module paths
(``electra/encoder/layer_0/attention/self/query``) so that weight conversion is mechanical.

Mixed precision: matmuls run in the policy's compute dtype; layer norm, the attention softmax
and the mask addition always run in float32.
"""

from __future__ import annotations

import math
from typing import Dict, Iterator, List, Optional

import keras
from keras import ops

from electra_tf.config import ElectraConfig
from electra_tf.modeling.naming import WeightRef, dense_weights, embedding_weights, layer_norm_weights

# The original adds -10000 (not -inf) to the scores of padded keys (modeling.py, attention_layer).
MASK_ADDER = -10000.0


def _gelu(approximate: bool):
    """GELU; for bfloat16 inputs computed in float32 and returned in bfloat16.

    Under mixed_bfloat16 TensorFlow's bfloat16 ``Erfc`` on a CPU is a scalar loop: it took a fifth of
    ELECTRA-small's evaluation step on an AVX512-BF16 EPYC (114 of 556 ms per batch of 32), against
    15 ms in float32. Other dtypes take Keras' GELU unchanged: float32 (the graph oneDNN fuses) and
    float16, whose training trajectory (with loss scaling) the float32 detour changed enough to fail
    tests/test_scale.py's closeness to float32 (dev accuracy 62.3 vs 74.3 in its one run)."""

    def gelu(x):
        if keras.backend.standardize_dtype(x.dtype) != "bfloat16":
            return keras.activations.gelu(x, approximate=approximate)
        return ops.cast(keras.activations.gelu(ops.cast(x, "float32"), approximate=approximate), x.dtype)

    return gelu


def get_activation(name: str):
    """Activation by HF name; "gelu" is the exact erf form the original uses."""
    if name == "gelu":
        return _gelu(approximate=False)
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return _gelu(approximate=True)
    if name in ("silu", "swish"):
        return keras.activations.silu
    return keras.activations.get(name)


class Dense(keras.layers.Dense):
    """``keras.layers.Dense`` (same weights, names and arguments) computed on [tokens, features].

    Keras multiplies a [B, L, H] input by the kernel through reshapes that sit between the MatMul
    and the bias addition, which keeps Grappler and oneDNN from fusing MatMul, BiasAdd and the
    activation into one kernel. Here the input is flattened first, the three ops are adjacent, and
    the result is reshaped back. With the bfloat16 GELU above: evaluation 18% faster under
    mixed_bfloat16 and 9% in float32 (ELECTRA-small, 2-core AVX512-BF16 EPYC; bench/RESULTS.md).
    Eagerly the outputs equal Keras' bit for bit; in a graph a fused kernel may round differently."""

    def call(self, inputs, training=None):
        """[..., in] -> [..., units]: x @ kernel + bias, then the activation."""
        import tensorflow as tf

        flat = len(inputs.shape) == 2
        x = tf.matmul(inputs if flat else tf.reshape(inputs, (-1, inputs.shape[-1])), self.kernel)  # [tokens, units]
        if self.bias is not None:
            x = tf.nn.bias_add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        if flat:
            return x
        leading = inputs.shape[:-1]
        if leading.is_fully_defined():  # static shapes (training batches): one op, not eight, to trace
            return tf.reshape(x, leading.as_list() + [self.units])
        return tf.reshape(x, tf.concat([tf.shape(inputs)[:-1], [self.units]], axis=0))


class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` (the same seed generator, state and checkpoint name) whose training
    call draws the same mask from the same seed with fewer graph ops: the seed state advances by one
    AssignAdd instead of read, add and assign of a copy, and the uniform draw skips the ``* (1 - 0)
    + 0`` that maps it to [0, 1) (exact in every float type). Outputs and seed states equal
    Keras', bit for bit (tested); about 8 nodes fewer per dropout in the training step (38 of them
    in ELECTRA-small's fine-tuning step)."""

    def call(self, inputs, training=False):
        """Keras' dropout: ``inputs / (1 - rate)`` where a uniform draw is >= rate, else 0."""
        if not training or not 0 < self.rate < 1 or keras.backend.backend() != "tensorflow" or self.noise_shape is not None:
            return super().call(inputs, training=training)
        import tensorflow as tf

        state = self.seed_generator.state
        seed = tf.convert_to_tensor(state.value)  # the seed of this draw: the state before the increment
        with tf.control_dependencies([seed]):
            state.value.assign_add(tf.constant([0, 1], state.dtype), read_value=False)
        if seed.dtype != tf.int32:  # Keras' int64 state -> the int32 seed its TF backend draws with
            seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        x = tf.convert_to_tensor(inputs)
        key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=seed)
        # alg 3: AUTO_SELECT, what tf.random.stateless_uniform passes (Philox on CPUs and GPUs)
        uniform = tf.raw_ops.StatelessRandomUniformV2(shape=tf.shape(x), key=key, counter=counter, alg=3, dtype=x.dtype)
        scaled = x * tf.constant(1.0 / (1.0 - self.rate), x.dtype)
        return tf.where(uniform >= tf.constant(self.rate, x.dtype), scaled, tf.zeros([], x.dtype))


def truncated_normal(config: ElectraConfig):
    """The original's encoder initializer: truncated normal with stddev initializer_range."""
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def layer_norm(config: ElectraConfig, name: str) -> keras.layers.LayerNormalization:
    """A LayerNormalization with the config's epsilon, computed in float32 even under a mixed-precision policy."""
    # float32 even under a mixed policy: layer norm statistics need the range.
    return keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, dtype="float32", name=name)


def attention_bias(attention_mask, dtype="float32"):
    """[B, L] 0/1 key mask -> [B, 1, 1, L] additive bias (0 keep, -10000 masked)."""
    mask = ops.cast(attention_mask, dtype)
    # expand_dims, not [:, None, None, :]: TFLite's builtin strided slice cannot add two axes (LiteRT export).
    return ops.expand_dims(ops.expand_dims(1.0 - mask, 1), 1) * MASK_ADDER


class ElectraEmbeddings(keras.layers.Layer):
    """Word + position + token-type embeddings, then LayerNorm and dropout (width E)."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        init = truncated_normal(config)
        E = config.embedding_size
        self.word_embeddings = keras.layers.Embedding(config.vocab_size, E, embeddings_initializer=init, name="word_embeddings")
        self.position_embeddings = keras.layers.Embedding(
            config.max_position_embeddings, E, embeddings_initializer=init, name="position_embeddings"
        )
        self.token_type_embeddings = keras.layers.Embedding(
            config.type_vocab_size, E, embeddings_initializer=init, name="token_type_embeddings"
        )
        self.LayerNorm = layer_norm(config, "LayerNorm")
        self.dropout = Dropout(config.hidden_dropout_prob)

    def build(self, input_shape=None):
        """Create the embedding tables and the layer norm."""
        self.word_embeddings.build((None, None))
        self.position_embeddings.build((None,))
        self.token_type_embeddings.build((None, None))
        self.LayerNorm.build((None, None, self.config.embedding_size))
        self.built = True

    def call(self, input_ids, token_type_ids, training=False):
        """[B, L] ids -> [B, L, embedding_size]: word + token type + position embeddings, layer norm, dropout."""
        seq_len = ops.shape(input_ids)[1]
        positions = ops.arange(seq_len, dtype="int32")  # the original slices positions 0..L-1
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + ops.cast(self.position_embeddings(positions), x.dtype)[None]
        x = self.LayerNorm(x)
        return self.dropout(x, training=training)  # [B, L, E]

    def hf_weights(self, prefix: str) -> Iterator[WeightRef]:
        """The embedding weights under their HF names below ``prefix``."""
        yield from embedding_weights(f"{prefix}.word_embeddings", self.word_embeddings)
        yield from embedding_weights(f"{prefix}.position_embeddings", self.position_embeddings)
        yield from embedding_weights(f"{prefix}.token_type_embeddings", self.token_type_embeddings)
        yield from layer_norm_weights(f"{prefix}.LayerNorm", self.LayerNorm)


class ElectraSelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention with separate query/key/value projections."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        init = truncated_normal(config)
        H = config.hidden_size
        self.query = Dense(H, kernel_initializer=init, name="query")
        self.key = Dense(H, kernel_initializer=init, name="key")
        self.value = Dense(H, kernel_initializer=init, name="value")
        self.dropout = Dropout(config.attention_probs_dropout_prob)
        self._scale = math.sqrt(self.head_size)
        self._scale_queries = math.frexp(self._scale)[0] == 0.5  # a power of two (head size 4, 16, 64, 256)

    def build(self, input_shape):
        """Create the query, key and value projections for inputs of ``input_shape``."""
        for layer in (self.query, self.key, self.value):
            layer.build(input_shape)
        self.built = True

    def _split_heads(self, x, head_shape=None):
        if head_shape is None:  # [B, L, H]
            batch, length = ops.shape(x)[0], ops.shape(x)[1]
            head_shape = (batch, length, self.num_heads, self.head_size)
        x = ops.reshape(x, head_shape)  # [B*L, H] or [B, L, H] -> [B, L, heads, d]
        return ops.transpose(x, (0, 2, 1, 3))  # [B, heads, L, d]

    def call(self, hidden_states, bias, training=False, head_shape=None):
        """Multi-head scaled dot-product attention with the additive mask ``bias``: (context,
        probabilities [B, heads, L, L]). The context has the input's layout: [B, L, H], or [B*L, H]
        for the encoder's token-major input, which comes with ``head_shape`` ([B, L, heads, d] as a
        shape tensor, see :class:`ElectraMainLayer`)."""
        tokens_major = head_shape is not None
        q = self.query(hidden_states)
        if self._scale_queries:
            # Dividing q by a power of two is exact, so (q / s) k^T equals (q k^T) / s bit for
            # bit, on [B, L, H] instead of [B, heads, L, L] elements.
            q = q / self._scale
        q = self._split_heads(q, head_shape)
        k = self._split_heads(self.key(hidden_states), head_shape)
        v = self._split_heads(self.value(hidden_states), head_shape)
        # k is not transposed in memory: einsum contracts over d directly (a matmul with adj_y).
        scores = ops.einsum("bhld,bhmd->bhlm", q, k)
        if not self._scale_queries:
            scores = scores / self._scale
        # Keras casts float call arguments to the compute dtype; the mask addition and the
        # softmax run in float32 (-10000 is exact in float16 too).
        scores = ops.cast(scores, "float32") + ops.cast(bias, "float32")  # [B, heads, L, L]
        probs = ops.softmax(scores, axis=-1)
        dropped = self.dropout(ops.cast(probs, v.dtype), training=training)
        context = ops.matmul(dropped, v)  # [B, heads, L, d]
        context = ops.transpose(context, (0, 2, 1, 3))  # [B, L, heads, d]
        if tokens_major:
            return ops.reshape(context, (-1, self.num_heads * self.head_size)), probs  # [B*L, H]
        batch, length = ops.shape(context)[0], ops.shape(context)[1]
        return ops.reshape(context, (batch, length, self.num_heads * self.head_size)), probs

    def hf_weights(self, prefix):
        """The query / key / value weights under their HF names below ``prefix``."""
        for name in ("query", "key", "value"):
            yield from dense_weights(f"{prefix}.{name}", getattr(self, name))


class ElectraResidualOutput(keras.layers.Layer):
    """dense -> dropout -> LayerNorm(x + residual): the output half of both sublayers."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.dense = Dense(config.hidden_size, kernel_initializer=truncated_normal(config), name="dense")
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.LayerNorm = layer_norm(config, "LayerNorm")

    def build(self, input_shape):
        """Create the dense projection and the layer norm."""
        self.dense.build(input_shape)
        self.LayerNorm.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, hidden_states, residual, training=False):
        """LayerNorm(dropout(dense(hidden_states)) + residual), the sum in float32."""
        x = self.dropout(self.dense(hidden_states), training=training)
        return self.LayerNorm(ops.cast(x, "float32") + ops.cast(residual, "float32"))

    def hf_weights(self, prefix):
        """The dense and layer-norm weights under their HF names below ``prefix``."""
        yield from dense_weights(f"{prefix}.dense", self.dense)
        yield from layer_norm_weights(f"{prefix}.LayerNorm", self.LayerNorm)


class ElectraAttention(keras.layers.Layer):
    """Self-attention plus its residual output (HF's ``attention.self`` / ``attention.output``)."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.self_attention = ElectraSelfAttention(config, name="self")
        self.attention_output = ElectraResidualOutput(config, name="output")

    def build(self, input_shape):
        """Create the self-attention and its output block."""
        self.self_attention.build(input_shape)
        self.attention_output.build(input_shape)
        self.built = True

    def call(self, hidden_states, bias, training=False, head_shape=None):
        """Self-attention followed by the residual output block: (output, attention probabilities)."""
        context, probs = self.self_attention(hidden_states, bias, training=training, head_shape=head_shape)
        return self.attention_output(context, hidden_states, training=training), probs

    def hf_weights(self, prefix):
        """The attention weights under their HF names (``.self``, ``.output``) below ``prefix``."""
        yield from self.self_attention.hf_weights(f"{prefix}.self")
        yield from self.attention_output.hf_weights(f"{prefix}.output")


class ElectraLayer(keras.layers.Layer):
    """One post-LN transformer block: attention, then the GELU feed-forward network."""

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.attention = ElectraAttention(config, name="attention")
        # The activation inside the dense layer: MatMul, BiasAdd and GELU adjacent, fusable.
        self.intermediate = Dense(config.intermediate_size, activation=get_activation(config.hidden_act),
                                  kernel_initializer=truncated_normal(config), name="intermediate")
        self.ffn_output = ElectraResidualOutput(config, name="output")

    def build(self, input_shape):
        """Create the attention block, the intermediate dense and the output block."""
        self.attention.build(input_shape)
        self.intermediate.build(input_shape)
        self.ffn_output.build((None, None, self.config.intermediate_size))
        self.built = True

    def call(self, hidden_states, bias, training=False, head_shape=None):
        """One transformer layer (attention, then the feed-forward block): (output, attention
        probabilities). ``hidden_states`` [B, L, H], or [B*L, H] with ``head_shape`` (see
        :class:`ElectraMainLayer`); the output has the same layout."""
        attn_out, probs = self.attention(hidden_states, bias, training=training, head_shape=head_shape)
        inter = self.intermediate(attn_out)  # dense + hidden_act: [B, L, intermediate_size] (or [B*L, ...])
        return self.ffn_output(inter, attn_out, training=training), probs

    def hf_weights(self, prefix):
        """The layer's weights under their HF names below ``prefix``."""
        yield from self.attention.hf_weights(f"{prefix}.attention")
        yield from dense_weights(f"{prefix}.intermediate.dense", self.intermediate)
        yield from self.ffn_output.hf_weights(f"{prefix}.output")


class ElectraMainLayer(keras.layers.Layer):
    """The ELECTRA encoder: embeddings, optional E->H projection, N transformer layers.

    ``call`` returns a dict with ``last_hidden_state`` [B, L, H] and, on request,
    ``hidden_states`` (the encoder input after projection, then every layer's output) and
    ``attentions`` ([B, heads, L, L] per layer), like HuggingFace's ElectraModel.
    """

    def __init__(self, config: ElectraConfig, embeddings: Optional[ElectraEmbeddings] = None, **kwargs):
        """``embeddings``: another encoder's embedding block to use instead of a new one (the
        pre-training generator shares the discriminator's whole block, as the original's
        ``electra/embeddings`` scope reuse); it must have this config's vocab and embedding size."""
        kwargs.setdefault("name", "electra")
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = embeddings if embeddings is not None else ElectraEmbeddings(config, name="embeddings")
        self._shares_embeddings = embeddings is not None
        if config.has_embeddings_project:
            # The original's tf.layers.dense default initializer: glorot uniform.
            self.embeddings_project = Dense(
                config.hidden_size, kernel_initializer="glorot_uniform", name="embeddings_project"
            )
        else:
            self.embeddings_project = None
        self.layers_ = [ElectraLayer(config, name=f"layer_{i}") for i in range(config.num_hidden_layers)]

    def build(self, input_shape=None):
        """Create every weight (embeddings, projection, layers) without running the model (a
        shared embedding block may already be built by the network that owns it)."""
        if not self.embeddings.built:
            self.embeddings.build()
        if self.embeddings_project is not None:
            self.embeddings_project.build((None, None, self.config.embedding_size))
        for layer in self.layers_:
            layer.build((None, None, self.config.hidden_size))
        self.built = True

    def call(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        training=False,
        output_hidden_states=False,
        output_attentions=False,
    ) -> Dict[str, object]:
        """Encode a batch: {"last_hidden_state": [B, L, H]} plus the hidden states / attentions asked for."""
        input_ids = ops.cast(input_ids, "int32")
        if attention_mask is None:
            attention_mask = ops.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        token_type_ids = ops.cast(token_type_ids, "int32")
        embedded = self.embeddings(input_ids, token_type_ids, training=training)  # [B, L, E]
        # The layers run token-major, on [B*L, features], as the original's transformer_model
        # (it reshapes to a 2-D matrix once and back at the end): every dense layer is then one
        # MatMul + BiasAdd without reshapes around it, and the [B, L, heads, d] shape of the
        # attention is computed once here instead of in every layer. The same values, bit for
        # bit, with fewer graph ops (the training step traces and starts faster).
        hidden = ops.reshape(embedded, (-1, self.config.embedding_size))  # [B*L, E]
        if self.embeddings_project is not None:
            hidden = self.embeddings_project(hidden)  # [B*L, H]
        H = self.config.hidden_size
        # Static dimensions stay Python ints (fixed-length batches need no shape ops at all).
        batch, length = ops.shape(input_ids)[:2]
        head_shape = (batch, length, self.config.num_attention_heads, self.config.head_size)
        if not all(isinstance(d, int) for d in head_shape):  # one shape tensor for every layer
            head_shape = ops.stack([ops.convert_to_tensor(d, "int32") for d in head_shape])
        bias = attention_bias(attention_mask)

        def unflatten(x):  # [B*L, H] -> [B, L, H]
            return ops.reshape(x, (batch, length, H))

        all_hidden: List = [hidden]
        all_attn: List = []
        for layer in self.layers_:
            hidden, probs = layer(hidden, bias, training=training, head_shape=head_shape)
            all_hidden.append(hidden)
            all_attn.append(probs)
        out = {"last_hidden_state": unflatten(hidden)}
        if output_hidden_states:
            out["hidden_states"] = tuple(unflatten(h) for h in all_hidden[:-1]) + (out["last_hidden_state"],)
        if output_attentions:
            out["attentions"] = tuple(all_attn)
        return out

    def hf_weights(self, prefix: str = "electra") -> Iterator[WeightRef]:
        """Every encoder weight under its HF name below ``prefix`` ("electra"; "" for none)."""
        p = f"{prefix}." if prefix else ""
        yield from self.embeddings.hf_weights(f"{p}embeddings")
        if self.embeddings_project is not None:
            yield from dense_weights(f"{p}embeddings_project", self.embeddings_project)
        for i, layer in enumerate(self.layers_):
            yield from layer.hf_weights(f"{p}encoder.layer.{i}")

    def depths(self, refs) -> Dict[str, int]:
        """Depth of each weight for the original layer-wise LR decay (anything else: n + 2)."""
        n = self.config.num_hidden_layers
        return {ref.name: (n + 2 if self.depth_of(ref.name) is None else self.depth_of(ref.name)) for ref in refs}

    def depth_of(self, canonical_name: str) -> Optional[int]:
        """Depth used by the original layer-wise LR decay: embeddings 0, layer i -> i + 1."""
        if ".embeddings." in f".{canonical_name}" or "embeddings_project" in canonical_name:
            return 0
        marker = "encoder.layer."
        if marker in canonical_name:
            return int(canonical_name.split(marker, 1)[1].split(".", 1)[0]) + 1
        return None
