"""Length-aware batching (hparam length_grouping): training batches grouped by length, every
example once per epoch, reproducible from the seed and resumed exactly after SIGKILL; evaluation
batches sorted by length with the results in input order, equal to unsorted batches'; no
re-tracing across batch lengths."""

import json
import random

import numpy as np

import electra_tf as et
from electra_tf.checkpoints.state import model_state
from tests.conftest import copy_tiny_model
from tests.kill_resume import assert_killed_run_resumes_to_the_same_weights

MODEL = "electra-tiny"
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0}
WORDS = "good bad movie film the acting was great boring plot very not".split()


def _workspace(path, n_train=96, n_dev=40, seed=0):
    """The tiny model and an SST-style task whose sentences have 1 to 40 words."""
    copy_tiny_model(path)
    rng = random.Random(seed)
    folder = path / "finetuning_data" / "sst"
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("dev", n_dev)):
        rows = [" ".join(rng.choice(WORDS) for _ in range(rng.choice([1, 2, 3, 5, 8, 20, 40]))) + f"\t{rng.randint(0, 1)}"
                for _ in range(n)]
        (folder / f"{split}.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n")
    return path


def _config(data_dir, **hparams):
    from electra_tf.finetuning.hparams import FinetuningConfig

    base = {"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 16, "eval_batch_size": 8,
            "max_seq_length": 48, "num_train_epochs": 2, "seed": 5, "progress": False, "bucket_size": 8}
    base.update(hparams)
    return FinetuningConfig(MODEL, str(data_dir), **base)


def _model_path(data_dir):
    return data_dir / "models" / MODEL / "finetuning_models" / "sst_model_1" / "model"


# ---------------------------------------------------------------------------- the batches
def test_length_grouped_batches_cover_every_row_once_per_epoch_and_follow_the_seed():
    from electra_tf.finetuning.data import LENGTH_GROUP_WINDOW, length_grouped_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 200, size=8 * LENGTH_GROUP_WINDOW * 2 + 8 * 5)  # two full windows and a part
    epochs = [length_grouped_batches(lengths, 8, 7, e).numpy() for e in range(2)]
    for batches in epochs:
        assert batches.shape == (len(lengths) // 8, 8)
        assert sorted(batches.ravel().tolist()) == list(range(len(lengths)))  # every row exactly once
    assert not np.array_equal(epochs[0], epochs[1])  # a new order each epoch
    np.testing.assert_array_equal(length_grouped_batches(lengths, 8, 7, 0).numpy(), epochs[0])  # same seed, same order
    assert not np.array_equal(length_grouped_batches(lengths, 8, 8, 0).numpy(), epochs[0])
    # grouped: the padding a batch carries (its longest minus each length) is a fraction of random batches'
    grouped = np.mean([lengths[b].max() - lengths[b] for b in epochs[0]])
    shuffled = np.mean([lengths[b].max() - lengths[b] for b in rng.permutation(len(lengths)).reshape(-1, 8)])
    assert grouped < shuffled / 5, (grouped, shuffled)
    # batches are shuffled across the epoch, not in length order
    longest = [lengths[b].max() for b in epochs[0]]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


def test_sorted_evaluation_order_is_stable():
    from electra_tf.finetuning.data import length_sorted_order

    assert length_sorted_order([3, 1, 3, 0, 1]).tolist() == [3, 1, 4, 0, 2]


# ---------------------------------------------------------------------------- training
def _train(data_dir, **hparams):
    from electra_tf.finetuning.runner import FinetuningRunner

    runner = FinetuningRunner(_config(data_dir, **hparams))
    trials = runner.run()
    return runner, model_state(et.TFElectraForSequenceClassification.from_pretrained(str(_model_path(data_dir)))), trials[0]


def test_grouped_training_is_reproducible_and_traces_each_step_once(tmp_path, monkeypatch):
    from electra_tf.training import loop

    traced = []
    original_init = loop.Trainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        traced.append(self)

    monkeypatch.setattr(loop.Trainer, "__init__", init)
    _, first, trial = _train(_workspace(tmp_path / "a"), length_grouping=True, eval_every_steps=4)
    train_steps = [t._train_step for t in traced if t._train_step is not None]
    eval_steps = [t._eval_step for t in traced if t._eval_step is not None]
    # batches of several lengths, one trace each for training and evaluation (3 dev evaluations + the last)
    assert len(train_steps) == 1 and train_steps[0].experimental_get_tracing_count() == 1
    assert eval_steps and all(s.experimental_get_tracing_count() == 1 for s in eval_steps)
    assert trial["global_step"] == 12  # 96 examples / 16 x 2 epochs
    _, second, _ = _train(_workspace(tmp_path / "b"), length_grouping=True, eval_every_steps=4)
    for name, value in first.items():
        np.testing.assert_array_equal(second[name], value, err_msg=name)  # same seed: the same weights
    _, other, _ = _train(_workspace(tmp_path / "c"), length_grouping=True, seed=6)
    assert any(not np.array_equal(other[name], value) for name, value in first.items())


def test_training_batches_are_grouped_by_length(tmp_path):
    from electra_tf.finetuning.runner import FinetuningRunner

    runner = FinetuningRunner(_config(_workspace(tmp_path), length_grouping=True, train_batch_size=8))
    dataset, meta = runner.dataset("train", True, seed=5)
    batches = list(dataset.take(2 * meta["n_examples"] // 8))  # two epochs
    widths = {int(b["input_ids"].shape[1]) for b in batches}
    assert len(widths) > 2 and all(w % 8 == 0 for w in widths)
    # per epoch, every record once (input ids as the record's identity)
    half = len(batches) // 2
    epochs = [sorted(tuple(r[r > 0].tolist()) + (int(t),) for b in epoch
                     for r, t in zip(b["input_ids"].numpy(), b["task_id"].numpy()))
              for epoch in (batches[:half], batches[half:])]
    assert len(epochs[0]) == meta["n_examples"] and epochs[0] == epochs[1]  # the same records, each once
    first = [tuple(b["input_ids"].numpy()[:, 0]) + (b["input_ids"].shape[1],) for b in batches[:half]]
    again = [tuple(b["input_ids"].numpy()[:, 0]) + (b["input_ids"].shape[1],) for b in dataset.take(half)]
    assert first == again  # the pipeline is a function of the seed: skip(k) resumes it


def test_grouped_training_killed_mid_epoch_resumes_to_the_same_weights(tmp_path):
    """SIGKILL in the middle of the first epoch, rerun: the weights equal an uninterrupted run's
    (dropout on, so the input position and the dropout RNG state must both resume)."""
    hparams = json.dumps({"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 8, "max_seq_length": 48,
                          "num_train_epochs": 2, "seed": 9, "save_checkpoints_steps": 5, "progress": False,
                          "length_grouping": True, "bucket_size": 8, "do_eval": False})
    assert_killed_run_resumes_to_the_same_weights(_workspace(tmp_path / "straight"), _workspace(tmp_path / "killed"),
                                                  hparams, checkpoint=5)


# ---------------------------------------------------------------------------- evaluation
def _predictions(runner, model, task, grouped: bool):
    runner.config.length_grouping = grouped
    rows, scorer = runner.evaluator.predict(model, task, "dev")
    return rows, scorer.get_results()


def test_sorted_classification_evaluation_equals_unsorted_in_input_order(tmp_path):
    from electra_tf.finetuning.runner import FinetuningRunner

    data = _workspace(tmp_path)
    runner = FinetuningRunner(_config(data, dynamic_padding=True))
    model = runner.build_model()
    task = runner.tasks[0]
    plain, plain_results = _predictions(runner, model, task, False)
    sorted_rows, sorted_results = _predictions(runner, model, task, True)
    dataset, meta = runner.datasets.get("dev", False, [task])  # length_grouping is on now
    assert list(meta["order"]) != sorted(meta["order"])  # the reading order is not the file's
    assert len({int(b["input_ids"].shape[1]) for b in dataset}) > 2
    assert len(sorted_rows) == len(plain) == 40
    for (a_out, a_feat), (b_out, b_feat) in zip(plain, sorted_rows):
        assert int(a_feat["sst_eid"]) == int(b_feat["sst_eid"])  # input order
        np.testing.assert_allclose(b_out["logits"], a_out["logits"], atol=1e-5, rtol=1e-5)
        assert np.argmax(b_out["logits"]) == np.argmax(a_out["logits"])
    assert sorted_results["accuracy"] == plain_results["accuracy"]
    np.testing.assert_allclose(sorted_results["loss"], plain_results["loss"], rtol=1e-5)


def _conll(rng, n):
    lines = []
    for _ in range(n):
        for i in range(rng.choice([2, 3, 6, 15, 30])):
            lines.append(f"{rng.choice(WORDS)} {rng.choice(['B-NP', 'I-NP', 'O']) if i else 'B-NP'}")
        lines.append("")
    return "\n".join(lines) + "\n"


def test_sorted_tagging_evaluation_and_test_outputs_equal_unsorted(tmp_path):
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner

    copy_tiny_model(tmp_path)
    rng = random.Random(0)
    folder = tmp_path / "finetuning_data" / "chunk"
    folder.mkdir(parents=True)
    for split in ("train", "dev"):
        (folder / f"{split}.txt").write_text(_conll(rng, 30))
    config = FinetuningConfig(MODEL, str(tmp_path), task_names=["chunk"], max_seq_length=48, eval_batch_size=8,
                              bucket_size=8, dynamic_padding=True, progress=False, seed=1)
    runner = FinetuningRunner(config)
    model = runner.build_model()
    task = runner.tasks[0]
    plain, plain_results = _predictions(runner, model, task, False)
    sorted_rows, sorted_results = _predictions(runner, model, task, True)
    assert len(sorted_rows) == len(plain) > 0
    for (a_out, a_feat), (b_out, b_feat) in zip(plain, sorted_rows):
        assert int(a_feat["chunk_eid"]) == int(b_feat["chunk_eid"])
        # per-word logits; the rows past the sentence follow the batch's width, the scored ones must not
        scored = np.flatnonzero(a_feat["chunk_score_mask"])
        assert len(scored) and np.array_equal(scored, np.flatnonzero(b_feat["chunk_score_mask"]))
        np.testing.assert_allclose(b_out["logits"][scored], a_out["logits"][scored], atol=1e-5, rtol=1e-5)
    assert sorted_results["f1"] == plain_results["f1"] and sorted_results["accuracy"] == plain_results["accuracy"]



# ---------------------------------------------------------------------------- predict.py
def _padded_rows(rng, n, width, vocab=61):
    lengths = rng.integers(2, width + 1, size=n)
    ids = np.zeros((n, width), "int32")
    for i, length in enumerate(lengths):
        ids[i, :length] = rng.integers(5, vocab, size=length)
    mask = (ids > 0).astype("int32")
    return ids, mask, np.zeros_like(ids)


def test_length_sorted_prediction_equals_full_batches_in_input_order():
    from electra_tf.export.backends import TFBackend
    from electra_tf.finetuning.prediction import run_length_sorted
    from tests.conftest import tiny_config

    rng = np.random.default_rng(0)
    ids, mask, types = _padded_rows(rng, 37, 40)
    seen = []

    class Recording(TFBackend):
        def run(self, *args, **kwargs):
            seen.append(args[0].shape)
            return super().run(*args, **kwargs)

    classifier = et.TFElectraForSequenceClassification(tiny_config(num_labels=3)).build_with_dummy_inputs()
    want = np.concatenate([TFBackend(classifier).run(ids[i:i + 8], mask[i:i + 8], types[i:i + 8])["logits"]
                           for i in range(0, 37, 8)])
    got = run_length_sorted(Recording(classifier), ids, mask, types, 8)["logits"]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)  # input order
    assert np.array_equal(np.argmax(got, -1), np.argmax(want, -1))
    assert len(seen) == 5 and min(w for _, w in seen) < 40 and all(w % 8 == 0 for _, w in seen)  # batches were cut

    tagger = et.TFElectraForTokenClassification(tiny_config(num_labels=4)).build_with_dummy_inputs()
    positions = np.stack([np.sort(rng.choice(max(int(m.sum()), 1), size=6)) for m in mask]).astype("int32")
    want = TFBackend(tagger).run(ids, mask, types, labeled_positions=positions)["logits"]
    got = run_length_sorted(TFBackend(tagger), ids, mask, types, 8, labeled_positions=positions)["logits"]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
