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
