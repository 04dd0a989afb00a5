"""TensorBoard's training loss is comparable with the dev loss (issue #24): with example weights
(fine-tuning's real-vs-padding rows) ``train/loss`` is the per-example mean over the real
examples and ``train/loss_batch_sum`` the original's batch sum; without them (pre-training)
``train/loss`` is the step's loss as computed and no mean is made up."""


import numpy as np
import tensorflow as tf

from electra_tf.training.engine import FitOptions
from electra_tf.training.interrupts import finished_training
from tests.test_monitoring import _scalars  # the TensorBoard scalars of a run folder
from tests.test_training_engine import squared_error, strategy, toy_data, toy_engine, toy_model

BATCH, MICRO = 8, 4


def _data():
    """Batches of 8 whose last two rows of each micro-batch of 4 alternate real / padding."""
    data = toy_data(n=BATCH * 3)
    data["real"] = np.tile(np.array([1, 1, 1, 0], "float32"), len(data["y"]) // 4)  # 6 real per batch
    return data


def _fit(tmp_path, name, example_weights):
    s = strategy()
    model = toy_model(s, dropout=0.0)
    engine = toy_engine(s, model, num_train_steps=2, accumulation_steps=BATCH // MICRO)
    if example_weights:
        engine = type(engine)(s, model, engine.optimizer, per_example_loss=squared_error,
                              named_weights=engine._named_weights, accumulation_steps=BATCH // MICRO,
                              example_weights=lambda f: f["real"])
    data = _data()
    first = {k: v[:BATCH] for k, v in data.items()}
    expected_sum = float(np.sum(squared_error(model(first), first)))  # step 1 runs on the initial weights
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(MICRO, drop_remainder=True).repeat()
    engine.fit(dataset, str(tmp_path / name), FitOptions(num_train_steps=2, log_every_steps=1))
    # what a signal after this point is told (cli_support: "after training had finished")
    assert finished_training() == (str(tmp_path / name), 2)
    return _scalars(str(tmp_path / name / "tensorboard" / "train")), expected_sum


def test_the_training_loss_is_the_per_example_mean_over_real_examples_beside_the_original_sum(tmp_path):
    scalars, expected_sum = _fit(tmp_path, "weighted", example_weights=True)
    np.testing.assert_allclose(scalars["loss_batch_sum"][1], expected_sum, rtol=1e-5)
    np.testing.assert_allclose(scalars["loss"][1], expected_sum / 6, rtol=1e-5)  # 6 real rows of 8, over 2 micro-batches
    for step in (1, 2):
        np.testing.assert_allclose(scalars["loss_batch_sum"][step] / scalars["loss"][step], 6, rtol=1e-5)


def test_without_example_weights_the_loss_is_the_steps_loss_and_no_mean_is_made_up(tmp_path):
    scalars, expected_sum = _fit(tmp_path, "plain", example_weights=False)
    assert "loss_batch_sum" not in scalars and {"loss", "learning_rate", "gradient_norm"} <= set(scalars)
    np.testing.assert_allclose(scalars["loss"][1], expected_sum, rtol=1e-5)


def test_the_finetuning_model_counts_only_real_examples():
    from electra_tf.finetuning.model import FinetuningModel

    class Two:  # FinetuningModel.example_weights reads only the number of tasks
        tasks = [object(), object()]

    weights = FinetuningModel.example_weights(Two(), {"task_id": tf.constant([0, 1, 2, 1, 2])})
    np.testing.assert_array_equal(np.asarray(weights), [1, 1, 0, 1, 0])  # task_id 2 = padding of 2 tasks
