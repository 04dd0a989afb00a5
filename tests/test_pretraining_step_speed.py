"""The pre-training step's speed changes (#26) compute what the original's formulas compute, bit for
bit: the MLM loss gathered rather than summed over one_hot x log_softmax, no division by a
temperature of 1, and the sampling noise of one replica used without a slice copy."""

from __future__ import annotations

import numpy as np


def test_gathered_mlm_nll_equals_the_one_hot_sum_and_its_gradient():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    logits = tf.constant(rng.normal(scale=4.0, size=(3, 5, 97)).astype("float32"))
    targets = tf.constant(rng.integers(0, 97, size=(3, 5)).astype("int32"))
    weights = tf.constant(rng.integers(0, 2, size=(3, 5)).astype("float32"))

    def original(x):  # the original's -sum(one_hot * log_softmax) over the vocabulary
        return -tf.reduce_sum(tf.nn.log_softmax(x, -1) * tf.one_hot(targets, 97, dtype=tf.float32), -1)

    def gathered(x):  # what PretrainingModel.forward computes now
        return -tf.gather(tf.nn.log_softmax(x, -1), targets, batch_dims=2)

    results = []
    for fn in (original, gathered):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            nll = fn(logits)
            loss = tf.reduce_sum(weights * nll) / (tf.reduce_sum(weights) + 1e-6)
        results.append((nll.numpy(), tf.convert_to_tensor(tape.gradient(loss, logits)).numpy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])
    assert np.abs(results[0][1]).max() > 0  # a gradient that could differ


def test_sampling_skips_only_a_division_by_one():
    import tensorflow as tf

    from electra_tf.pretraining.masking import sample_from_logits

    rng = np.random.default_rng(4)
    logits = tf.constant(rng.normal(size=(2, 4, 50)).astype("float32"))
    noise = tf.constant(rng.uniform(size=(2, 4, 50)).astype("float32"))
    gumbel = -tf.math.log(-tf.math.log(noise + 1e-9) + 1e-9)
    for temperature in (1.0, 0.5):
        expected = tf.argmax(logits / temperature + gumbel, -1, output_type=tf.int32).numpy()
        np.testing.assert_array_equal(sample_from_logits(logits, noise, temperature).numpy(), expected)
    # the two temperatures sample differently here, so the check above can fail
    assert not np.array_equal(sample_from_logits(logits, noise, 1.0).numpy(), sample_from_logits(logits, noise, 0.02).numpy())


def test_one_replica_noise_is_the_whole_seeded_draw():
    import keras
    import tensorflow as tf

    from electra_tf.pretraining.masking import replica_rows, uniform_rows

    assert replica_rows(5) == (0, 5)
    ours = uniform_rows(keras.random.SeedGenerator(7), 3, [4, 6]).numpy()
    reference = keras.random.uniform((3, 4, 6), seed=keras.random.SeedGenerator(7)).numpy()
    np.testing.assert_array_equal(ours, reference)
    # inside a one-device strategy's replica context: the same draw
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        seed = keras.random.SeedGenerator(7)
    replica = strategy.run(tf.function(lambda: uniform_rows(seed, 3, [4, 6])))
    np.testing.assert_array_equal(strategy.experimental_local_results(replica)[0].numpy(), reference)
