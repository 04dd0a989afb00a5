"""The models are Keras serializables: ``model.save("x.keras")`` then ``keras.models.load_model`` in a
fresh process gives the same outputs; the ways of passing inputs all work or say how to call.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from electra_tf.modeling import models
from tests.conftest import tiny_config, tiny_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# file stem -> (class, config changes); the original heads carry their settings in the config.
CASES = {
    "base": (models.TFElectraModel, {}),
    "sequence_hf": (models.TFElectraForSequenceClassification, {"num_labels": 3, "id2label": {0: "a", 1: "b", 2: "c"}}),
    "sequence_electra": (models.TFElectraForSequenceClassification, {"num_labels": 1, "head": "electra"}),
    "token": (models.TFElectraForTokenClassification, {"num_labels": 5}),
    "qa_hf": (models.TFElectraForQuestionAnswering, {}),
    "qa_electra": (models.TFElectraForQuestionAnswering, {"head": "electra", "head_options": {"beam_size": 3}}),
    "pretraining": (models.TFElectraForPreTraining, {}),
    "generator": (models.TFElectraForMaskedLM, {}),
}

# The fresh process imports what the README says (a model class from electra_tf registers them all).
_LOAD = """
import sys
import numpy as np
import keras
from electra_tf import TFElectraModel  # noqa: F401  (registers the electra_tf model classes)
folder, stems = sys.argv[1], sys.argv[2:]
data = np.load(folder + "/inputs.npz")
for stem in stems:
    model = keras.models.load_model(f"{folder}/{stem}.keras")
    out = model(data["ids"], attention_mask=data["mask"], token_type_ids=data["types"])
    np.savez(f"{folder}/{stem}.loaded.npz", __class__=np.array(type(model).__name__),
             __config__=np.array(repr(model.config.to_dict())), **{k: np.asarray(v) for k, v in out.items()})
"""


def _outputs(model, ids, mask, types):
    return {k: np.asarray(v) for k, v in model(ids, attention_mask=mask, token_type_ids=types).items()}


def test_keras_file_round_trip_in_a_fresh_process(tmp_path):
    ids, mask, types = tiny_inputs()
    np.savez(tmp_path / "inputs.npz", ids=ids, mask=mask, types=types)
    expected = {}
    for stem, (cls, changes) in CASES.items():
        model = cls(tiny_config(**changes)).build_with_dummy_inputs()
        expected[stem] = (model, _outputs(model, ids, mask, types))
        model.save(str(tmp_path / f"{stem}.keras"))

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-c", _LOAD, str(tmp_path), *CASES], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    for stem, (model, outputs) in expected.items():
        loaded = dict(np.load(tmp_path / f"{stem}.loaded.npz"))
        assert str(loaded.pop("__class__")) == type(model).__name__
        assert str(loaded.pop("__config__")) == repr(model.config.to_dict()), stem  # head, head_options, labels kept
        assert sorted(loaded) == sorted(outputs), stem
        for key, value in outputs.items():
            np.testing.assert_allclose(loaded[key], value, rtol=0, atol=1e-6, err_msg=f"{stem}: {key}")


def test_every_model_class_is_registered():
    for cls in models.MODEL_CLASSES.values():
        name = keras.saving.get_registered_name(cls)
        assert name == f"electra_tf>{cls.__name__}"
        assert keras.saving.get_registered_object(name) is cls


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(3)
    return models.TFElectraForSequenceClassification(tiny_config(num_labels=3)).build_with_dummy_inputs()


def test_positional_tuple_list_and_dict_inputs_give_the_same_outputs(classifier):
    ids, mask, types = tiny_inputs()
    expected = np.asarray(classifier(ids, attention_mask=mask, token_type_ids=types)["logits"])
    calls = {
        "positional": lambda: classifier(ids, mask, types),
        "tuple": lambda: classifier((ids, mask, types)),
        "list": lambda: classifier([ids, mask, types]),
        "dict": lambda: classifier({"input_ids": ids, "attention_mask": mask, "token_type_ids": types}),
    }
    for how, call in calls.items():
        np.testing.assert_allclose(np.asarray(call()["logits"]), expected, rtol=0, atol=1e-6, err_msg=how)
    # A shorter tuple means the remaining inputs take their defaults, as with keyword arguments.
    np.testing.assert_allclose(np.asarray(classifier((ids, mask))["logits"]),
                               np.asarray(classifier(ids, attention_mask=mask)["logits"]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("how", ["too_many", "unbatched_tuple", "dict_without_ids", "rank_3", "twice"])
def test_wrong_inputs_say_how_to_call_the_model(classifier, how):
    ids, mask, types = tiny_inputs()
    calls = {
        "too_many": lambda: classifier((ids, mask, types, types)),
        "unbatched_tuple": lambda: classifier((ids[0], mask[0], types[0])),
        "dict_without_ids": lambda: classifier({"ids": ids, "attention_mask": mask}),
        "rank_3": lambda: classifier(np.stack([ids, mask, types])),
        "twice": lambda: classifier((ids, mask), attention_mask=mask),
    }
    with pytest.raises(TypeError, match=r"call the model as model\(input_ids, attention_mask, token_type_ids\)"):
        calls[how]()


CRF_CASE = (models.TFElectraForTokenClassification, {"num_labels": 5, "head_options": {"crf": True}})


def _weights(model):
    return [(v.path.split("/", 1)[1], tuple(v.shape)) for v in model.weights]


@pytest.mark.parametrize("cls,changes", list(CASES.values()) + [CRF_CASE], ids=list(CASES) + ["token_crf"])
def test_build_creates_every_weight_before_the_first_call(cls, changes):
    """``build()`` makes every weight from the configuration (no symbolic trace of ``call``, which
    cost start-up time): a first call then creates nothing new, and the weights (names, shapes,
    order and initial values) equal those of the same class built Keras' default way, by tracing
    ``call`` on symbolic inputs."""
    ids, mask, types = tiny_inputs()
    keras.utils.set_random_seed(3)
    built = cls(tiny_config(**changes))
    built.build()
    assert built.built and not models.unbuilt_layers(built)
    names = _weights(built)
    built(ids, attention_mask=mask, token_type_ids=types)
    assert _weights(built) == names

    traced_cls = type("Traced" + cls.__name__, (cls,), {"build": keras.layers.Layer.build})  # Keras' default build
    keras.utils.set_random_seed(3)
    traced = traced_cls(tiny_config(**changes))
    traced(ids, attention_mask=mask, token_type_ids=types)
    assert _weights(traced) == names
    for a, b in zip(built.weights, traced.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(names) > 30


@pytest.mark.filterwarnings("ignore:.*does not have a `build\\(\\)` method:UserWarning")
def test_a_head_that_builds_on_its_first_call_still_gets_its_weights_before_training():
    """A sublayer without a ``build`` of its own (a user's head) is left unbuilt by ``build()``;
    build_with_dummy_inputs then runs its dummy batch so that no weight is first created inside a
    traced training step."""

    class Wrapper(keras.layers.Layer):  # Keras' default build: its Dense is made on the first call
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(2)

        def call(self, x):
            return self.inner(x)

    class WithLazyHead(models.TFElectraModel):
        def __init__(self, config, **kwargs):
            super().__init__(config, **kwargs)
            self.extra = Wrapper()

        def head_call(self, sequence_output, attention_mask, token_type_ids, training=False, **head_inputs):
            return {"last_hidden_state": sequence_output, "extra": self.extra(sequence_output)}

    probe = WithLazyHead(tiny_config())
    probe.build()
    assert probe.extra.inner in models.unbuilt_layers(probe)
    model = WithLazyHead(tiny_config()).build_with_dummy_inputs()
    assert model.extra.inner.built and len(model.extra.inner.weights) == 2
    assert not models.unbuilt_layers(model)


def test_pretraining_model_builds_every_weight_from_its_configs(tmp_path):
    """The pre-training model (generator, discriminator, shared embeddings) too: build_for takes no
    masking draw and a training forward pass afterwards creates no weight."""
    from electra_tf.pretraining.config import model_configs
    from electra_tf.pretraining.model import PretrainingModel
    from tests.test_pretraining import SPECIALS, tiny_config as pretraining_config

    config = pretraining_config(tmp_path)
    disc, gen = model_configs(config)
    model = PretrainingModel(config, disc, gen, SPECIALS, seed=1)
    seed_state = model.noise_seed.state.numpy().copy()
    model.build_for(config.max_seq_length)
    np.testing.assert_array_equal(model.noise_seed.state.numpy(), seed_state)
    before = [v.path for v in model.weights]
    assert any("generator" in p for p in before) and any("discriminator_predictions" in p for p in before)
    ids = np.full((2, 12), 7, "int32")
    ids[:, 0], ids[:, -1] = 2, 3
    out = model({"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}, training=True)
    assert [v.path for v in model.weights] == before
    assert np.all(np.isfinite(np.asarray(out["loss_contribution"])))
    assert not np.array_equal(model.noise_seed.state.numpy(), seed_state)  # the call drew
