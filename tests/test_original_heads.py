"""The original ELECTRA heads (head="electra") against NumPy transcriptions of finetune/*.

The NumPy code follows the original formulas literally (including the tiled
concat([start_features, end_features]) the original builds), independently of our Keras code.
"""

import numpy as np
import pytest

import electra_tf as et
from tests.conftest import tiny_config, tiny_inputs

TOL = 1e-5


def gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def log_softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def dense(x, layer):
    return x @ np.asarray(layer.kernel) + np.asarray(layer.bias)


def topk(x, k):
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, idx, axis=-1), idx


def numpy_qa_head(hidden, mask, types, head, start_positions=None, training=False):
    """google-research/electra finetune/qa/qa_tasks.py get_prediction_module, in NumPy."""
    B, L, H = hidden.shape
    K = min(head.beam_size, L)
    answer_mask = mask * types
    answer_mask[:, 0] += 1.0
    start_logits = dense(hidden, head.start)[..., 0]
    out = {}
    if head.joint_prediction:
        start_logits = start_logits + 1000.0 * (answer_mask - 1)
        start_log_probs = log_softmax(start_logits)
        start_top_log_probs, start_top_index = topk(start_log_probs, K)
        if not training:
            end_features = np.tile(hidden[:, None], [1, K, 1, 1])
            onehot = np.eye(L)[start_top_index]  # [B, K, L]
            start_features = np.sum(hidden[:, None] * onehot[..., None], axis=-2)  # [B, K, H]
            start_features = np.tile(start_features[:, :, None], [1, 1, L, 1])
        else:
            onehot = np.eye(L)[start_positions]
            start_features = np.sum(onehot[..., None] * hidden, axis=1)
            start_features = np.tile(start_features[:, None], [1, L, 1])
            end_features = hidden
        final_repr = np.concatenate([start_features, end_features], -1)
        final_repr = gelu(dense(final_repr, head.qa_hidden))
        end_logits = dense(final_repr, head.end)[..., 0]
        if not training:
            end_logits = end_logits + 1000.0 * (answer_mask[:, None] - 1)
            end_log_probs = log_softmax(end_logits)
            end_top_log_probs, end_top_index = topk(end_log_probs, K)
            end_logits = np.zeros([B, L])
            out.update(start_top_log_probs=start_top_log_probs, start_top_index=start_top_index,
                       end_top_log_probs=end_top_log_probs, end_top_index=end_top_index)
        else:
            end_logits = end_logits + 1000.0 * (answer_mask - 1)
    else:
        end_logits = dense(hidden, head.end)[..., 0]
        start_logits = start_logits + 1000.0 * (answer_mask - 1)
        end_logits = end_logits + 1000.0 * (answer_mask - 1)
    if head.answerable_classifier:
        final_repr = hidden[:, 0]
        if head.answerable_uses_start_logits:
            start_p = np.exp(log_softmax(start_logits))
            start_feature = np.sum(start_p[..., None] * hidden, axis=1)
            final_repr = gelu(dense(np.concatenate([final_repr, start_feature], -1), head.answerable_hidden))
        answerable_logit = dense(final_repr, head.answerable)[..., 0]
    else:
        answerable_logit = np.zeros([B])
    out.update(start_logits=start_logits, end_logits=end_logits, answerable_logit=answerable_logit)
    return out


def numpy_qa_loss(out, start_positions, end_positions, is_impossible, head):
    L = out["start_logits"].shape[1]

    def ce(logits, pos):
        return -np.sum(np.eye(L)[pos] * log_softmax(logits), axis=-1)

    losses = (ce(out["start_logits"], start_positions) + ce(out["end_logits"], end_positions)) / 2.0
    if head.answerable_classifier:
        x, z = out["answerable_logit"], is_impossible.astype(np.float64)
        losses = losses + head.answerable_weight * (np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))))
    return losses


def _qa_model(options):
    config = tiny_config(head="electra", head_options=options)
    model = et.TFElectraForQuestionAnswering(config).build_with_dummy_inputs()
    # Make head weights large enough that the beam order is not decided by rounding noise.
    rng = np.random.default_rng(3)
    for ref in model.head_weights():
        ref.variable.assign(rng.normal(0, 0.3, size=ref.variable.shape).astype("float32"))
    return model


QA_OPTIONS = [
    {},
    {"answerable_uses_start_logits": False},
    {"joint_prediction": False},
    {"answerable_classifier": False, "beam_size": 4},
]


@pytest.mark.parametrize("options", QA_OPTIONS, ids=["default", "plain-answerable", "not-joint", "no-answerable-beam4"])
def test_original_qa_head_inference_matches_numpy(options):
    model = _qa_model(options)
    ids, mask, types = tiny_inputs()
    hidden = np.asarray(model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"], dtype=np.float64)
    got = model(ids, attention_mask=mask, token_type_ids=types, training=False)
    want = numpy_qa_head(hidden, mask.astype(np.float64), types.astype(np.float64), model.qa_head)
    assert set(got) == set(want)
    for key in want:
        g, w = np.asarray(got[key]), want[key]
        assert g.shape == w.shape, key
        if key.endswith("index"):
            np.testing.assert_array_equal(g, w, err_msg=key)
        else:
            np.testing.assert_allclose(g, w, atol=TOL * 10, rtol=1e-4, err_msg=key)


@pytest.mark.parametrize("options", QA_OPTIONS[:3], ids=["default", "plain-answerable", "not-joint"])
def test_original_qa_head_training_matches_numpy(options):
    model = _qa_model(options)
    # No dropout, so training mode differs only by teacher forcing.
    ids, mask, types = tiny_inputs()
    start = np.array([6, 0, 5])
    end = np.array([8, 0, 5])
    impossible = np.array([0, 1, 0])
    hidden = np.asarray(model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"], dtype=np.float64)
    got = model.head_call(hidden.astype("float32"), mask, types, training=True, start_positions=start)
    want = numpy_qa_head(hidden, mask.astype(np.float64), types.astype(np.float64), model.qa_head, start_positions=start, training=True)
    for key in ("start_logits", "end_logits", "answerable_logit"):
        np.testing.assert_allclose(np.asarray(got[key]), want[key], atol=1e-4, rtol=1e-4, err_msg=key)
    loss = model.qa_head.per_example_loss(got, start, end, impossible)
    np.testing.assert_allclose(np.asarray(loss), numpy_qa_loss(want, start, end, impossible, model.qa_head), rtol=1e-5, atol=1e-4)


def test_original_qa_head_training_requires_start_positions():
    model = _qa_model({})
    ids, mask, types = tiny_inputs()
    with pytest.raises(et.ElectraError, match="start_positions"):
        model(ids, attention_mask=mask, token_type_ids=types, training=True)


def test_unknown_qa_head_option_is_a_clear_error():
    with pytest.raises(et.ConfigError, match="beam_size"):
        et.TFElectraForQuestionAnswering(tiny_config(head="electra", head_options={"beam_szie": 3}))


@pytest.mark.parametrize("num_labels", [3, 1])
def test_original_classification_head_is_one_dense_on_cls(num_labels):
    model = et.TFElectraForSequenceClassification(tiny_config(head="electra", num_labels=num_labels)).build_with_dummy_inputs()
    assert [r.name for r in model.head_weights()] == ["classifier.weight", "classifier.bias"]
    ids, mask, types = tiny_inputs()
    hidden = np.asarray(model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"])
    want = dense(hidden[:, 0], model.classifier.dense)
    got = model(ids, attention_mask=mask, token_type_ids=types)["logits"]
    np.testing.assert_allclose(np.asarray(got), want, atol=TOL)
    # Training applies dropout 0.1 to the [CLS] representation (keep_prob 0.9 in the original).
    assert model.classifier.dropout.rate == pytest.approx(0.1)


def test_original_tagging_head_gathers_first_subtokens():
    model = et.TFElectraForTokenClassification(tiny_config(head="electra", num_labels=4)).build_with_dummy_inputs()
    ids, mask, types = tiny_inputs()
    positions = np.array([[1, 2, 4, 0], [1, 3, 0, 0], [2, 5, 6, 7]])
    hidden = np.asarray(model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"])
    gathered = np.take_along_axis(hidden, positions[..., None], axis=1)
    want = dense(gathered, model.classifier.classifier)
    got = model(ids, attention_mask=mask, token_type_ids=types, labeled_positions=positions)["logits"]
    assert got.shape == (3, 4, 4)
    np.testing.assert_allclose(np.asarray(got), want, atol=TOL)
    # The original tagging head has no dropout.
    assert model.classifier.dropout.rate == 0.0
