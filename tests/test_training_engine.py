"""The task-agnostic training engine on a toy model (a small Dense regressor with dropout, a
squared-error loss): training, checkpoints, resume to the same weights, evaluation, best-model
selection and early stopping, and independence from the fine-tuning and modeling packages."""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import ROOT

from electra_tf.errors import ConfigError
from electra_tf.training.checkpointing import rng_state_variables
from electra_tf.training.engine import FINISHED_FILE, FitOptions, TrainingEngine
from electra_tf.training.optimization import AdamWeightDecay

N_FEATURES = 4


class ToyRegressor(keras.Model):
    """x -> tanh(Dense) -> Dropout -> Dense -> y (one number per example)."""

    def __init__(self, dropout=0.3, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(16, activation="tanh", name="hidden")
        self.dropout = keras.layers.Dropout(dropout)
        self.head = keras.layers.Dense(1, name="head")

    def call(self, features, training=False):
        return {"y": self.head(self.dropout(self.hidden(features["x"]), training=training))[:, 0]}


def squared_error(outputs, features):
    """[batch] per-example loss of the toy model."""
    return tf.square(outputs["y"] - features["y"])


def toy_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], "float32") + 0.1 * rng.normal(size=n)).astype("float32")
    return {"x": x, "y": y}


def train_dataset(micro_batch, epochs=6):
    """Micro-batches of a new shuffle each epoch; the order is a function of the data seed only
    (not of TF's global seed), as a runner's input must be for an exact resume."""
    data = toy_data()
    rng = np.random.default_rng(3)
    order = np.concatenate([rng.permutation(len(data["y"])) for _ in range(epochs)])
    stream = {k: v[order] for k, v in data.items()}
    return tf.data.Dataset.from_tensor_slices(stream).batch(micro_batch, drop_remainder=True)


def dev_dataset():
    return tf.data.Dataset.from_tensor_slices(toy_data(40, seed=1)).batch(20)


def strategy():
    return tf.distribute.OneDeviceStrategy("/cpu:0")


def toy_model(strategy, seed=11, dropout=0.3):
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = ToyRegressor(dropout=dropout)
        model({"x": np.zeros((1, N_FEATURES), "float32")})
    return model


def named(model):
    return [("toy.hidden.kernel", model.hidden.kernel), ("toy.hidden.bias", model.hidden.bias),
            ("toy.head.kernel", model.head.kernel), ("toy.head.bias", model.head.bias)]


def toy_engine(strategy, model, num_train_steps, lr=0.05, accumulation_steps=1):
    pairs = named(model)
    with strategy.scope():
        optimizer = AdamWeightDecay([v for _, v in pairs], [n for n, _ in pairs], base_lr=lr,
                                    num_train_steps=num_train_steps, warmup_proportion=0.1)
    return TrainingEngine(strategy, model, optimizer, per_example_loss=squared_error, named_weights=lambda: named(model),
                          accumulation_steps=accumulation_steps)


def weights(model):
    return {name: np.array(v.numpy()) for name, v in named(model)}


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    """Train to step 7 (with a checkpoint), build a fresh model and engine on the same directory,
    continue to 20: the weights equal a straight run's. Dropout is on and accumulation is 2, so
    both the dropout RNG state and the skipped input position must resume exactly."""
    total, stop, accumulation, micro = 20, 7, 2, 8
    s = strategy()
    straight = toy_model(s)
    initial = weights(straight)
    assert rng_state_variables(straight), "the toy model must have a dropout RNG state"
    last = toy_engine(s, straight, total, accumulation_steps=accumulation).fit(
        train_dataset(micro), str(tmp_path / "straight"), FitOptions(num_train_steps=total, save_checkpoints_steps=5))
    assert last == total
    assert any(not np.allclose(initial[n], v) for n, v in weights(straight).items())  # it trained

    resumed_dir = str(tmp_path / "resumed")
    first = toy_model(s)
    assert toy_engine(s, first, total, accumulation_steps=accumulation).fit(
        train_dataset(micro), resumed_dir, FitOptions(num_train_steps=stop)) == stop
    assert os.path.exists(os.path.join(resumed_dir, f"ckpt-{stop}.index"))
    # The checkpoint holds the RNG states and the optimizer (the weights are stored once, under the
    # first path to them; the weights-only best checkpoint below has them under weights/by_name).
    reader = tf.train.load_checkpoint(os.path.join(resumed_dir, f"ckpt-{stop}"))
    keys = set(reader.get_variable_to_shape_map())
    assert "weights/rng_states/0/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert "optimizer/iterations/.ATTRIBUTES/VARIABLE_VALUE" in keys
    # The RNG state has moved on from a fresh model's, so a resume without it would draw other masks.
    fresh_state = rng_state_variables(toy_model(s))[0].numpy()
    assert not np.array_equal(reader.get_tensor("weights/rng_states/0/.ATTRIBUTES/VARIABLE_VALUE"), fresh_state)

    # A damaged "finished" marker of a run that stopped before the total is one clear error, not a silent
    # continuation (a run stopped early by best_metric patience would otherwise train on).
    marker = os.path.join(resumed_dir, FINISHED_FILE)
    with open(marker, encoding="utf-8") as f:
        intact = f.read()
    with open(marker, "w", encoding="utf-8") as f:
        f.write('{"step": ')
    with pytest.raises(ConfigError, match=f"is damaged; the run in .* stopped at step {stop} of {total}"):
        toy_engine(s, toy_model(s), total).fit(train_dataset(micro), resumed_dir, FitOptions(num_train_steps=total))
    with open(marker, "w", encoding="utf-8") as f:
        f.write(intact)

    second = toy_model(s, seed=99)  # a different initialisation: everything must come from the checkpoint
    assert toy_engine(s, second, total, accumulation_steps=accumulation).fit(
        train_dataset(micro), resumed_dir, FitOptions(num_train_steps=total, save_checkpoints_steps=5)) == total
    expected = weights(straight)
    for name, value in weights(second).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-6, atol=1e-6, err_msg=name)

    # Training that is already finished is not redone; resume false refuses the directory.
    third = toy_model(s)
    assert toy_engine(s, third, total).fit(train_dataset(micro), resumed_dir, FitOptions(num_train_steps=total)) == total
    # A damaged "finished" marker (a truncated file) counts as absent: the run is still seen as done.
    with open(os.path.join(resumed_dir, FINISHED_FILE), "w") as f:
        f.write('{"step": ')
    assert toy_engine(s, toy_model(s), total).fit(train_dataset(micro), resumed_dir,
                                                  FitOptions(num_train_steps=total)) == total
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        toy_engine(s, toy_model(s), total).fit(train_dataset(micro), resumed_dir,
                                               FitOptions(num_train_steps=total, resume=False))

    # restore() loads the final weights (not the optimizer) into another model and gives the step.
    evaluated = toy_model(s, seed=5)
    assert TrainingEngine(s, evaluated, per_example_loss=squared_error,
                          named_weights=lambda: named(evaluated)).restore(resumed_dir) == total
    for name, value in weights(evaluated).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-6, atol=1e-6, err_msg=name)
    assert TrainingEngine(s, evaluated, per_example_loss=squared_error).restore(str(tmp_path / "none")) is None


def test_initialize_runs_only_on_a_fresh_start(tmp_path):
    s = strategy()
    model = toy_model(s)
    calls = []
    engine = toy_engine(s, model, 4)
    engine.fit(train_dataset(8), str(tmp_path), FitOptions(num_train_steps=2), initialize=lambda: calls.append("init"))
    toy_engine(s, model, 4).fit(train_dataset(8), str(tmp_path), FitOptions(num_train_steps=4),
                                initialize=lambda: calls.append("again"))
    assert calls == ["init"]


def test_evaluate_is_the_mean_per_example_loss():
    s = strategy()
    model = toy_model(s)
    engine = TrainingEngine(s, model, per_example_loss=squared_error)
    result = engine.evaluate(dev_dataset())
    data = toy_data(40, seed=1)
    predictions = model({"x": data["x"]}, training=False)["y"].numpy()
    assert result["examples"] == 40
    np.testing.assert_allclose(result["loss"], np.mean((predictions - data["y"]) ** 2), rtol=1e-5)
    # weight_key leaves rows out (padding): only the rows whose feature is non-zero count.
    mask = tf.data.Dataset.from_tensor_slices({**data, "real": (np.arange(40) < 25).astype("int32")}).batch(16)
    partial = engine.evaluate(mask, weight_key="real")
    assert partial["examples"] == 25
    np.testing.assert_allclose(partial["loss"], np.mean((predictions[:25] - data["y"][:25]) ** 2), rtol=1e-5)


def test_best_model_by_a_lower_is_better_loss_is_kept(tmp_path):
    s = strategy()
    model = toy_model(s)
    engine = toy_engine(s, model, 24, lr=0.2)
    seen = {}

    def evaluate(step):
        seen[step] = engine.evaluate(dev_dataset())
        return {"toy": seen[step]}

    last = engine.fit(train_dataset(8), str(tmp_path), FitOptions(num_train_steps=24, eval_every_steps=4,
                                                                  best_metric="loss"), evaluate=evaluate)
    assert last == 24 and sorted(seen) == [4, 8, 12, 16, 20, 24]
    best_step = min(seen, key=lambda k: seen[k]["loss"])
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert best["metric"] == "loss" and best["step"] == best_step
    np.testing.assert_allclose(best["value"], seen[best_step]["loss"])
    # The kept model (and the final checkpoint) is the best one.
    np.testing.assert_allclose(engine.evaluate(dev_dataset())["loss"], seen[best_step]["loss"], rtol=1e-6)
    reader = tf.train.load_checkpoint(str(tmp_path / "best" / "weights"))  # key layout weights/by_name/<name>
    restored = toy_model(s, seed=5)
    assert TrainingEngine(s, restored, per_example_loss=squared_error,
                          named_weights=lambda: named(restored)).restore(str(tmp_path)) == 24
    for name, value in weights(model).items():
        key = f"weights/by_name/{name.replace('.', '..')}/.ATTRIBUTES/VARIABLE_VALUE"  # TF escapes "." as ".."
        np.testing.assert_array_equal(reader.get_tensor(key), value)
        np.testing.assert_array_equal(weights(restored)[name], value)


def test_early_stopping_on_a_higher_is_better_metric(tmp_path):
    """Scores 1, 3, 2, 2.5, 1 with patience 3: the best is the second evaluation, training stops at
    the fifth, and the weights of the second are restored."""
    s = strategy()
    model = toy_model(s)
    engine = toy_engine(s, model, 40)
    scores = iter([1.0, 3.0, 2.0, 2.5, 1.0, 9.0])
    snapshots = {}

    def evaluate(step):
        snapshots[step] = weights(model)
        return {"a": {"score": next(scores)}, "b": {"other": 0.0}}

    last = engine.fit(train_dataset(8), str(tmp_path), FitOptions(num_train_steps=40, eval_every_steps=3,
                                                                  best_metric="score", early_stopping_patience=3),
                      evaluate=evaluate)
    assert last == 15 and sorted(snapshots) == [3, 6, 9, 12, 15]
    assert json.loads((tmp_path / "best" / "best.json").read_text())["step"] == 6
    for name, value in weights(model).items():
        np.testing.assert_array_equal(value, snapshots[6][name], err_msg=name)
    assert os.path.exists(tmp_path / "ckpt-15.index")

    with pytest.raises(ConfigError, match="'missing' is not among the dev metrics: other, score"):
        toy_engine(s, toy_model(s), 4).fit(train_dataset(8), str(tmp_path / "bad"),
                                           FitOptions(num_train_steps=4, eval_every_steps=2, best_metric="missing"),
                                           evaluate=lambda step: {"a": {"score": 1.0}, "b": {"other": 0.0}})


def test_eval_each_epoch_without_a_metric_only_evaluates(tmp_path):
    s = strategy()
    model = toy_model(s)
    steps = []
    last = toy_engine(s, model, 9).fit(train_dataset(8), str(tmp_path), FitOptions(num_train_steps=9, steps_per_epoch=3,
                                                                                  eval_each_epoch=True),
                                       evaluate=lambda step: steps.append(step) or {"toy": {"loss": 1.0}})
    assert last == 9 and steps == [3, 6, 9] and not (tmp_path / "best").exists()


ISOLATION_SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
import numpy as np
import tensorflow as tf
import keras
from electra_tf.training.checkpointing import default_named_weights
from electra_tf.training.engine import FitOptions, TrainingEngine
from electra_tf.training.optimization import AdamWeightDecay



class Toy(keras.Model):
    def __init__(self):
        super().__init__()
        self.body = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dropout(0.2),
                                      keras.layers.Dense(1)])

    def call(self, features, training=False):
        return self.body(features["x"], training=training)[:, 0]


model = Toy()
model({{"x": np.zeros((1, 3), "float32")}})
strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
data = tf.data.Dataset.from_tensor_slices({{"x": np.ones((32, 3), "float32"), "y": np.ones(32, "float32")}}).repeat().batch(8)
variables = [v for _, v in default_named_weights(model)]
optimizer = AdamWeightDecay(variables, [v.path for v in variables], base_lr=0.01, num_train_steps=4)
# Default named weights (variable paths) and the default optimizer variables (the same list).
engine = TrainingEngine(strategy, model, optimizer,
                        per_example_loss=lambda outputs, features: tf.square(outputs - features["y"]))
last = engine.fit(data, {model_dir!r}, FitOptions(num_train_steps=4, eval_every_steps=2, best_metric="loss"),
                  evaluate=lambda step: {{"toy": engine.evaluate(data.take(2))}})
print("RESULT " + json.dumps({{"last": last, "modules": sorted(m for m in sys.modules if m.startswith("electra_tf"))}}))
"""


def test_engine_needs_no_finetuning_or_modeling_code(tmp_path):
    """Used on its own, the engine loads nothing of electra_tf.finetuning or electra_tf.modeling,
    and no module of electra_tf/training imports them (not even inside a function)."""
    script = ISOLATION_SCRIPT.format(root=ROOT, model_dir=str(tmp_path / "run"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert result["last"] == 4
    assert "electra_tf.training.engine" in result["modules"]
    assert not [m for m in result["modules"] if m.startswith(("electra_tf.finetuning", "electra_tf.modeling"))], result
    training = os.path.join(ROOT, "electra_tf", "training")
    for name in sorted(os.listdir(training)):
        if name.endswith(".py"):
            with open(os.path.join(training, name)) as f:
                source = f.read()
            imports = re.findall(r"^\s*(?:from|import)\s+(electra_tf[\w.]*)", source, flags=re.MULTILINE)
            if name == "checkpointing.py":  # the pattern sees imports inside functions too
                assert "electra_tf.training.optimization" in imports
            assert not [m for m in imports if m == "electra_tf" or m.startswith(("electra_tf.finetuning", "electra_tf.modeling"))], name
