"""The ``adam_bias_correction`` option (#27): AdamWeightDecay's updates with and without it against
NumPy, the pre-training hparam's validation, and its place in a pre-training run's identity."""

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.errors import ConfigError
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.training.optimization import AdamWeightDecay
from electra_tf.training.run_identity import RunIdentity, RunMismatchError

NAMES = ["layer.dense.weight", "layer.dense.bias", "layer.LayerNorm.weight"]
LR, WD, B1, B2, EPS = 0.1, 0.01, 0.9, 0.999, 1e-6


def numpy_updates(params, grads_per_step, bias_correction):
    """Hand-written Adam (epsilon outside the square root, decoupled decay for non-bias, non-LayerNorm
    weights, constant learning rate, no clipping): the parameters after each step."""
    params = [p.astype(np.float64) for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = []
    for t, grads in enumerate(grads_per_step, start=1):
        for i, (g, name) in enumerate(zip(grads, NAMES)):
            m[i] = B1 * m[i] + (1 - B1) * g
            v[i] = B2 * v[i] + (1 - B2) * g * g
            m_hat, v_hat = (m[i] / (1 - B1 ** t), v[i] / (1 - B2 ** t)) if bias_correction else (m[i], v[i])
            update = m_hat / (np.sqrt(v_hat) + EPS)
            if "bias" not in name and "LayerNorm" not in name:
                update = update + WD * params[i]
            params[i] = params[i] - LR * update
        history.append([p.copy() for p in params])
    return history


@pytest.mark.parametrize("bias_correction", [False, True])
def test_first_updates_equal_hand_computed_adam(bias_correction):
    rng = np.random.default_rng(0)
    init = [rng.normal(size=(3, 2)), rng.normal(size=(2,)), 1.0 + rng.normal(size=(2,))]
    grads_per_step = [[rng.normal(scale=0.1, size=p.shape) for p in init] for _ in range(4)]
    variables = [tf.Variable(p.astype(np.float32)) for p in init]
    # no warm-up, a huge N (constant lr), no clipping: only the Adam arithmetic is compared
    opt = AdamWeightDecay(variables, NAMES, base_lr=LR, num_train_steps=10 ** 9, warmup_proportion=0.0,
                          weight_decay_rate=WD, clip_norm=None, bias_correction=bias_correction)
    expected = numpy_updates(init, grads_per_step, bias_correction)
    other = numpy_updates(init, grads_per_step, not bias_correction)
    for step, grads in enumerate(grads_per_step):
        opt.apply_gradients([tf.constant(g, tf.float32) for g in grads])
        for var, want, not_want, name in zip(variables, expected[step], other[step], NAMES):
            np.testing.assert_allclose(var.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=f"step {step + 1}: {name}")
            # the two rules differ (by 3.2x at the first step): the comparison can fail
            assert np.max(np.abs(var.numpy() - not_want)) > 1e-3


def test_default_is_the_original_optimizer():
    variables = [tf.Variable(np.ones((2,), np.float32))]
    assert AdamWeightDecay(variables, ["w"], base_lr=1.0, num_train_steps=10).bias_correction is False
    config = PretrainingConfig("m", "/nonexistent")
    assert config.adam_bias_correction is False
    assert PretrainingConfig("m", "/nonexistent", adam_bias_correction=True).adam_bias_correction is True


@pytest.mark.parametrize("value", [None, "true", 1])
def test_hparam_must_be_a_boolean(value):
    with pytest.raises(ConfigError, match="adam_bias_correction must be") as error:
        PretrainingConfig("m", "/nonexistent", adam_bias_correction=value)
    assert str(value) in str(error.value) or repr(value) in str(error.value)


def test_identity_counts_the_hparam_and_old_records_mean_the_default(tmp_path):
    config = PretrainingConfig("m", "/nonexistent")
    old_record = {k: v for k, v in config.to_dict().items() if k != "adam_bias_correction"}  # before the hparam
    RunIdentity(str(tmp_path), old_record).record(seed=7)
    same = RunIdentity(str(tmp_path), config.to_dict(), absent=config.DEFAULTS)
    assert same.check("ways out") == 7  # a record without the key was trained without bias correction
    changed = PretrainingConfig("m", "/nonexistent", adam_bias_correction=True)
    with pytest.raises(RunMismatchError, match="adam_bias_correction false -> true"):
        RunIdentity(str(tmp_path), changed.to_dict(), absent=changed.DEFAULTS).check("ways out")
