"""The encoder runs its layers token-major ([B*L, H], as the original's transformer_model): the
same values as the [B, L, H] layout, bit for bit, with the attention's shape computed once."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import electra_tf as et
from tests.conftest import tiny_config, tiny_inputs


def _dropout_states(layer):
    return [d.seed_generator.state for d in layer._flatten_layers() if isinstance(d, keras.layers.Dropout)]


@pytest.mark.parametrize("heads", [3, 4])  # hidden 12: head size 4 (queries pre-scaled, a power of two) or 3
def test_token_major_layer_equals_batch_major_with_dropout(heads):
    config = tiny_config(hidden_size=12, intermediate_size=24, num_attention_heads=heads,
                         hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    model = et.TFElectraModel(config).build_with_dummy_inputs()
    layer = model.electra.layers_[0]
    rng = np.random.default_rng(1)
    batch, length, hidden = 3, 7, config.hidden_size
    x = tf.constant(rng.normal(size=(batch, length, hidden)).astype("float32"))
    mask = np.ones((batch, length), "int32")
    mask[1, 4:] = 0
    from electra_tf.modeling.encoder import attention_bias

    bias = attention_bias(tf.constant(mask))
    states = [s.numpy() for s in _dropout_states(layer)]
    want, want_probs = layer(x, bias, training=True)  # [B, L, H]: shapes derived per layer
    for variable, value in zip(_dropout_states(layer), states):
        variable.assign(value)  # the same dropout masks again
    head_shape = (batch, length, heads, config.head_size)
    got, got_probs = layer(tf.reshape(x, (-1, hidden)), bias, training=True, head_shape=head_shape)
    assert got.shape == (batch * length, hidden)
    np.testing.assert_array_equal(np.reshape(got.numpy(), want.shape), want.numpy())
    np.testing.assert_array_equal(got_probs.numpy(), want_probs.numpy())


def test_encoder_outputs_keep_their_shapes_and_one_shape_computation():
    config = tiny_config()
    model = et.TFElectraModel(config).build_with_dummy_inputs()
    ids, mask, types = tiny_inputs()
    out = model(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True, output_attentions=True)
    batch, length = ids.shape
    assert out["last_hidden_state"].shape == (batch, length, config.hidden_size)
    assert len(out["hidden_states"]) == config.num_hidden_layers + 1
    assert all(h.shape == (batch, length, config.hidden_size) for h in out["hidden_states"])
    np.testing.assert_array_equal(out["hidden_states"][-1].numpy(), out["last_hidden_state"].numpy())

    spec = tf.TensorSpec([None, None], tf.int32)
    traced = tf.function(lambda i, m, t: model(i, attention_mask=m, token_type_ids=t)["last_hidden_state"])
    graph = traced.get_concrete_function(spec, spec, spec).graph
    shapes = [op for op in graph.get_operations() if op.type == "Shape"]
    # Per-layer shape ops grew with the depth (7 per layer before the encoder went token-major);
    # now the batch and length come from the input ids once (and once for the position ids).
    assert len(shapes) <= 3, [op.name for op in shapes]
    # Any batch and length run through the one trace.
    for b, n in ((2, 5), (4, 9)):
        result = traced(tf.zeros((b, n), tf.int32), tf.ones((b, n), tf.int32), tf.zeros((b, n), tf.int32))
        assert result.shape == (b, n, config.hidden_size)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("graph", [False, True])
def test_lean_dropout_equals_keras_dropout(dtype, graph):
    from electra_tf.modeling.encoder import Dropout

    ours, theirs = Dropout(0.3, seed=5), keras.layers.Dropout(0.3, seed=5)
    x = tf.cast(tf.reshape(tf.range(1, 241, dtype=tf.float32), (4, 6, 10)), dtype)

    def draw(layer):
        call = tf.function(lambda t: layer(t, training=True)) if graph else (lambda t: layer(t, training=True))
        return [call(x).numpy() for _ in range(3)], layer.seed_generator.state.numpy()

    (got, got_state), (want, want_state) = draw(ours), draw(theirs)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got_state, want_state)
    assert not np.array_equal(got[0], got[1])  # the state advanced: a new mask per call
    assert 0 < np.mean(got[0] == 0) < 0.6
    np.testing.assert_array_equal(ours(x, training=False).numpy(), x.numpy())
    assert np.all(Dropout(1.0)(x, training=True).numpy() == 0)  # rate 1 drops everything, as Keras does
