"""The optimizer and schedule against a NumPy transcription of the original formulas."""

import re

import numpy as np
import pytest
import tensorflow as tf

import electra_tf as et
from electra_tf.training.optimization import AdamWeightDecay, layerwise_multipliers, learning_rate_at
from tests.conftest import tiny_config, tiny_inputs


def numpy_lr(t, base, N, warmup_proportion):
    """polynomial_decay(power 1, end 0) * min(1, t / W)  (model/optimization.py)."""
    lr = base * (1 - min(t, N) / N)
    return lr * min(1.0, t / (N * warmup_proportion))


def test_schedule_matches_original_formula():
    N, base = 100, 1e-4
    for t in [0, 1, 5, 10, 11, 50, 99, 100, 120]:
        assert float(learning_rate_at(t, base, N, 0.1)) == pytest.approx(numpy_lr(t, base, N, 0.1), rel=1e-5, abs=1e-12)  # float32, as in TF1
    # warm-up multiplies the decay: the peak at t = W is 0.9 * base
    assert float(learning_rate_at(10, base, N, 0.1)) == pytest.approx(0.9 * base)
    assert float(learning_rate_at(0, base, N, 0.1)) == 0.0


def test_layerwise_multipliers_follow_the_original_depths():
    model = et.TFElectraForSequenceClassification(tiny_config(num_hidden_layers=3, head="electra")).build_with_dummy_inputs()
    mult = layerwise_multipliers(model.canonical_depths(), 3, 0.8)
    assert mult["electra.embeddings.word_embeddings.weight"] == pytest.approx(0.8 ** 5)
    assert mult["electra.embeddings_project.weight"] == pytest.approx(0.8 ** 5)
    assert mult["electra.encoder.layer.0.attention.self.query.weight"] == pytest.approx(0.8 ** 4)
    # the top layer gets decay^2 (the original's off-by-one, kept on purpose)
    assert mult["electra.encoder.layer.2.output.LayerNorm.bias"] == pytest.approx(0.8 ** 2)
    assert mult["classifier.weight"] == 1.0
    assert set(layerwise_multipliers(model.canonical_depths(), 3, 0.0).values()) == {1.0}


def numpy_adamw_step(params, grads, m, v, names, lr, mult, wd=0.01, b1=0.9, b2=0.999, eps=1e-6, clip=1.0):
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
    scale = clip / max(norm, clip)
    out = []
    for i, (p, g, name) in enumerate(zip(params, grads, names)):
        g = g * scale
        m[i] = b1 * m[i] + (1 - b1) * g
        v[i] = b2 * v[i] + (1 - b2) * g * g
        update = m[i] / (np.sqrt(v[i]) + eps)
        if not re.search("LayerNorm|layer_norm|bias", name):
            update = update + wd * p
        out.append(p - lr * mult[name] * update)
    return out, norm


def test_optimizer_matches_numpy_for_several_steps():
    model = et.TFElectraForSequenceClassification(tiny_config(head="electra", num_labels=3)).build_with_dummy_inputs()
    refs = model.hf_weights()
    names = [r.name for r in refs]
    variables = [r.variable for r in refs]
    mult = layerwise_multipliers(model.canonical_depths(), model.config.num_hidden_layers, 0.8)
    N = 10
    opt = AdamWeightDecay(variables, names, base_lr=5e-2, num_train_steps=N, warmup_proportion=0.2, lr_multipliers=mult)
    ids, mask, types = tiny_inputs()
    labels = np.array([0, 2, 1])
    params = [np.asarray(v.numpy(), np.float64) for v in variables]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    norms = []
    for step in range(6):
        with tf.GradientTape() as tape:
            logits = model(ids, attention_mask=mask, token_type_ids=types)["logits"]
            # summed per-example loss, times 50 so that clipping is active
            loss = 50.0 * tf.reduce_sum(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, [r.variable.value for r in refs])
        np_grads = [np.asarray(tf.convert_to_tensor(g).numpy(), np.float64) for g in grads]
        lr = numpy_lr(step, 5e-2, N, 0.2)
        params, norm = numpy_adamw_step(params, np_grads, m, v, names, lr, mult)
        got_norm = opt.apply_gradients(grads)
        norms.append(norm)
        assert float(got_norm) == pytest.approx(norm, rel=1e-5)
        for p, var, name in zip(params, variables, names):
            np.testing.assert_allclose(var.numpy(), p, rtol=1e-5, atol=1e-6, err_msg=f"step {step}: {name}")
    assert int(opt.iterations.numpy()) == 6
    assert max(norms) > 1.0  # clipping was exercised


@pytest.mark.parametrize("bias_correction,loss_scale", [(False, False), (True, True)])
def test_grouped_update_equals_the_per_weight_update_bit_for_bit(monkeypatch, bias_correction, loss_scale):
    """Weights of one shape are updated together on their stacked values (fewer graph nodes);
    every weight and slot must equal the one-by-one update exactly, with per-layer learning rates,
    weight-decay exclusions, bias correction and a skipped (non-finite) loss-scaled step."""
    from electra_tf.training import optimization
    from electra_tf.training.optimization import DynamicLossScale

    model = et.TFElectraForSequenceClassification(tiny_config(num_hidden_layers=3, num_labels=3)).build_with_dummy_inputs()
    refs = model.hf_weights()
    names = [r.name for r in refs]
    mult = layerwise_multipliers(model.canonical_depths(), model.config.num_hidden_layers, 0.8)
    initial = [r.variable.numpy() for r in refs]
    ids, mask, types = tiny_inputs()
    labels = np.array([0, 2, 1])

    def run(group_elements):
        monkeypatch.setattr(optimization, "GROUP_ELEMENTS", group_elements)
        for r, value in zip(refs, initial):
            r.variable.assign(value)
        opt = AdamWeightDecay([r.variable for r in refs], names, base_lr=5e-2, num_train_steps=10, warmup_proportion=0.2,
                              lr_multipliers=mult, bias_correction=bias_correction,
                              loss_scale=DynamicLossScale(initial_scale=4.0) if loss_scale else None)

        @tf.function
        def step(poison):
            with tf.GradientTape() as tape:
                logits = model(ids, attention_mask=mask, token_type_ids=types)["logits"]
                loss = 50.0 * tf.reduce_sum(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
                if opt.loss_scale is not None:
                    loss = loss * opt.loss_scale.scale
                loss = loss + poison  # inf: a step the loss scale must skip
            return opt.apply_gradients(tape.gradient(loss, [r.variable.value for r in refs]))

        for poison in (0.0, 0.0, float("inf") if loss_scale else 0.0, 0.0):
            step(tf.constant(poison))
        nodes = len(step.get_concrete_function(tf.constant(0.0)).graph.get_operations())
        state = [r.variable.numpy() for r in refs] + [x.numpy() for x in opt.adam_m + opt.adam_v]
        return state, opt._update_groups(), nodes

    default = optimization.GROUP_ELEMENTS
    one_by_one, singletons, nodes_one = run(0)  # every group a single weight: the per-weight update
    grouped, groups, nodes_grouped = run(default)
    assert all(len(g) == 1 for g in singletons)
    assert max(len(g) for g in groups) >= 3  # e.g. the three layers' query kernels
    assert nodes_grouped < nodes_one
    for name, a, b in zip(names + [f"{n}/adam_m" for n in names] + [f"{n}/adam_v" for n in names], one_by_one, grouped):
        np.testing.assert_array_equal(b, a, err_msg=name)
    assert not np.array_equal(grouped[0], initial[0])  # training moved the weights
