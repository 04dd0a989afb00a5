"""Mixed precision and XLA forward passes agree with float32.

Tolerances (max abs difference of logits whose magnitude is O(1)): float16 3e-2,
bfloat16 1.5e-1 (8 mantissa bits), XLA 1e-5.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import electra_tf as et
from electra_tf.checkpoints.state import assign_state, model_state
from tests.conftest import tiny_config, tiny_inputs

MIXED_TOL = {"mixed_float16": 3e-2, "mixed_bfloat16": 1.5e-1}

CASES = [
    (et.TFElectraForSequenceClassification, {"num_labels": 3}, "logits"),
    (et.TFElectraForTokenClassification, {"num_labels": 5}, "logits"),
    (et.TFElectraForQuestionAnswering, {}, "start_logits"),
    (et.TFElectraForQuestionAnswering, {"head": "electra"}, "answerable_logit"),
    (et.TFElectraForPreTraining, {}, "logits"),
]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("cls,changes,key", CASES, ids=[f"{c.__name__}-{k}" for c, _, k in CASES])
def test_mixed_precision_forward_close_to_float32(policy, cls, changes, key):
    config = tiny_config(**changes)
    ref = cls(config).build_with_dummy_inputs()
    state = model_state(ref)
    ids, mask, types = tiny_inputs()
    want = np.asarray(ref(ids, attention_mask=mask, token_type_ids=types)[key])

    keras.mixed_precision.set_dtype_policy(policy)
    mixed = cls(config).build_with_dummy_inputs()
    assign_state(mixed, state, source="float32 model", strict=True)
    got = mixed(ids, attention_mask=mask, token_type_ids=types)
    # Variables stay float32; logits come out in float32.
    assert all(v.dtype == "float32" for v in mixed.weights)
    assert got[key].dtype == tf.float32
    assert mixed.electra.layers_[0].intermediate.compute_dtype == policy.split("_")[1]
    diff = np.max(np.abs(np.asarray(got[key]) - want))
    assert np.all(np.isfinite(np.asarray(got[key])))
    assert diff < MIXED_TOL[policy], f"{policy} differs from float32 by {diff}"


@pytest.mark.parametrize("cls,changes,key", CASES, ids=[f"{c.__name__}-{k}" for c, _, k in CASES])
def test_xla_forward_equals_eager(cls, changes, key):
    model = cls(tiny_config(**changes)).build_with_dummy_inputs()
    ids, mask, types = tiny_inputs()
    eager = np.asarray(model(ids, attention_mask=mask, token_type_ids=types)[key])

    @tf.function(jit_compile=True)
    def forward(i, m, t):
        return model(i, attention_mask=m, token_type_ids=t)[key]

    compiled = np.asarray(forward(tf.constant(ids), tf.constant(mask), tf.constant(types)))
    np.testing.assert_allclose(compiled, eager, atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 7, 16), (5, 16)])
def test_token_flattening_dense_equals_keras_dense(shape):
    """Our Dense (flattened to [tokens, features] so that MatMul, BiasAdd and the activation can
    fuse) is keras' Dense: same weights and names, equal outputs eagerly, within rounding in a graph
    (where Grappler may fuse them)."""
    from electra_tf.modeling.encoder import Dense, get_activation

    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    ours = Dense(32, activation=get_activation("gelu"), name="dense")
    reference = keras.layers.Dense(32, activation=get_activation("gelu"), name="dense")
    ours.build(shape)
    reference.build(shape)
    assert [w.path for w in ours.weights] == [w.path for w in reference.weights]
    for a, b in zip(reference.weights, ours.weights):
        a.assign(rng.normal(size=a.shape).astype("float32"))
        b.assign(a.numpy())
    np.testing.assert_array_equal(ours(x).numpy(), reference(x).numpy())
    graph = tf.function(lambda t: ours(t))(x).numpy()
    np.testing.assert_allclose(graph, reference(x).numpy(), rtol=1e-6, atol=1e-6)
    assert ours(x).shape == shape[:-1] + (32,)


@pytest.mark.parametrize("name", ["gelu", "gelu_new"])
def test_gelu_of_low_precision_inputs_is_computed_in_float32(name):
    """Under mixed_bfloat16 the GELU is evaluated in float32 (TensorFlow's bfloat16 Erfc is a
    scalar loop on CPUs) and returned in bfloat16: exactly the float32 GELU rounded to bfloat16;
    float32 and float16 inputs get Keras' GELU unchanged."""
    from electra_tf.modeling.encoder import get_activation

    gelu = get_activation(name)
    x = tf.constant(np.linspace(-6, 6, 1001), tf.float32)
    approximate = name != "gelu"
    np.testing.assert_array_equal(gelu(x).numpy(), keras.activations.gelu(x, approximate=approximate).numpy())
    low = tf.cast(x, tf.bfloat16)
    out = gelu(low)
    assert out.dtype == tf.bfloat16
    expected = tf.cast(keras.activations.gelu(tf.cast(low, tf.float32), approximate=approximate), tf.bfloat16)
    np.testing.assert_array_equal(out.numpy().astype("float32"), expected.numpy().astype("float32"))
    half = tf.cast(x, tf.float16)  # float16 keeps Keras' GELU (its loss-scaled training was tuned on it)
    np.testing.assert_array_equal(gelu(half).numpy(), keras.activations.gelu(half, approximate=approximate).numpy())


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_graph_optimizer_options_leave_training_steps_bit_identical(policy):
    """The Grappler passes the trainer turns off (for a faster first step) change no number:
    three training steps of a tiny classifier with them on and off give identical losses,
    gradient norms and weights. (Turning constant folding off would fail this: it rewrites
    divisions by constants into multiplications by reciprocals.)"""
    from electra_tf.training.checkpointing import rng_state_variables
    from electra_tf.training.loop import Trainer
    from electra_tf.training.optimization import AdamWeightDecay
    from electra_tf.training.runtime import GRAPH_OPTIMIZER_OPTIONS

    keras.mixed_precision.set_global_policy(policy)
    strategy = tf.distribute.get_strategy()
    model = et.TFElectraForSequenceClassification(tiny_config(num_labels=3)).build_with_dummy_inputs()
    refs = model.hf_weights()
    initial = [r.variable.numpy() for r in refs]
    rng_states = rng_state_variables(model)
    initial_rng = [v.numpy() for v in rng_states]
    assert rng_states  # the dropout draws are reset below
    ids, mask, types = tiny_inputs(batch=4, seq_len=12)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": np.array([0, 1, 2, 1], "int32")}

    def per_example_loss(outputs, features):
        return keras.losses.sparse_categorical_crossentropy(features["labels"], outputs["logits"], from_logits=True)

    def run(options):
        for variable, value in zip([r.variable for r in refs] + rng_states, initial + initial_rng):
            variable.assign(value)  # the same weights and the same dropout draws in both runs
        optimizer = AdamWeightDecay([r.variable for r in refs], [r.name for r in refs], base_lr=1e-3, num_train_steps=10,
                                    warmup_proportion=0.0)
        trainer = Trainer(strategy, lambda f, training: model(
            f["input_ids"], attention_mask=f["attention_mask"], token_type_ids=f["token_type_ids"], training=training),
            optimizer, [r.variable for r in refs], per_example_loss=per_example_loss)
        tf.config.optimizer.set_experimental_options(options)  # after the Trainer applied its own
        iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
        results = [tuple(float(x) for x in trainer.train_step(iterator)) for _ in range(3)]
        return results, [r.variable.numpy() for r in refs]

    previous = tf.config.optimizer.get_experimental_options()
    try:
        default_results, default_weights = run({name: True for name in GRAPH_OPTIMIZER_OPTIONS})
        reduced_results, reduced_weights = run(GRAPH_OPTIMIZER_OPTIONS)
    finally:  # the process-wide setting as it was (set_experimental_options cannot unset a key)
        tf.config.optimizer.set_experimental_options({name: previous.get(name, True) for name in GRAPH_OPTIMIZER_OPTIONS})
    assert reduced_results == default_results
    assert len(default_weights) == len(refs)
    for a, b in zip(default_weights, reduced_weights):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(initial, reduced_weights))  # the steps did train
