"""Texts longer than max_seq_length (issue #28, "Long texts"): the hparams text_windows,
window_stride and window_aggregation.

A sentence task reads a long text as overlapping windows (finetuning/windows.py) in training,
evaluation, predict.py and the SavedModel's text signatures; the default keeps the original's
truncation, features and cache keys. Tagging keeps its word windows, each word scored by the
window giving it the most context.
"""

import json
import pickle
import random

import numpy as np
import pytest
import tensorflow as tf

import electra_tf as et
import predict
import run_finetuning
from electra_tf.errors import ConfigError
from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor
from electra_tf.finetuning.features import encode_pair
from electra_tf.finetuning.hparams import FinetuningConfig
from electra_tf.finetuning.options import TaskOptions
from electra_tf.finetuning.qa.preprocessor import QAPreprocessor
from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor
from electra_tf.finetuning.task import Example
from electra_tf.finetuning.windows import aggregate, max_context_owner, stride_for, windows
from electra_tf.text.tokenizer import FullTokenizer
from tests.conftest import ROOT, copy_tiny_model

MODEL = "electra-tiny"
VOCAB = f"{ROOT}/examples/data/models/electra-tiny/vocab.txt"
NEUTRAL = "the film is a movie with story and music scenes cast director plot script its this that".split()
L = 16  # max_seq_length of the runs: the texts are 46 tokens, about 3x


def long_text(rng, label: int) -> str:
    """41 neutral tokens, then a last sentence whose one sentiment word decides the label."""
    last = rng.choice(["good", "great", "wonderful"] if label else ["bad", "awful", "poor"])
    return " ".join([rng.choice(NEUTRAL) for _ in range(40)] + [".", "the", "movie", "was", last, "."])


def _examples(pairs):
    return [Example(i, "t", {"text_a": a, "text_b": b, "label": "0"}) for i, (a, b) in enumerate(pairs)]


# ------------------------------------------------------------------------------- windows (unit)
def test_windows_are_qa_doc_stride_windows():
    """Same windows as QA's doc_stride loop; every token covered, consecutive windows overlap,
    the last reaches the end; an empty text gives one empty window."""
    qa = QAPreprocessor.__new__(QAPreprocessor)
    for n in (0, 1, 13, 14, 15, 46, 100):
        for room, stride in ((14, 7), (14, 13), (5, 1), (14, 14)):
            qa.max_seq_length, qa.doc_stride, qa.max_query_length = room + 3, stride, 1
            got = windows(n, room, stride)
            assert got == qa.doc_windows(n, 0)
            assert all(0 < length <= room for _, length in got) or got == [(0, 0)]
            covered = set(p for s, length in got for p in range(s, s + length))
            assert covered == set(range(n)) and got[-1][0] + got[-1][1] == n
    assert windows(46, 14, 7) == [(0, 14), (7, 14), (14, 14), (21, 14), (28, 14), (35, 11)]
    assert stride_for(14, None) == 7 and stride_for(14, 20) == 14 and stride_for(1, None) == 1


def test_aggregation_mean_and_max():
    rows = [np.array([1.0, -2.0], np.float32), np.array([3.0, 0.0], np.float32)]
    np.testing.assert_array_equal(aggregate(rows, "mean"), [2.0, -1.0])
    np.testing.assert_array_equal(aggregate(rows, "max"), [3.0, 0.0])


def test_windowed_features_of_single_texts_and_pairs():
    tok = FullTokenizer(VOCAB)
    pre = SentencePreprocessor(tok, L, "t", ["0", "1"], text_windows=True, window_stride=5)
    rng = random.Random(0)
    text, short = long_text(rng, 1), "the movie was good"
    pair = (" ".join(["the film"] * 12), long_text(rng, 0))
    ids, mask, segments, of = pre.encode_windows([text, short, pair[0]], [None, None, pair[1]])
    pieces = tok.convert_tokens_to_ids(tok.tokenize(text))
    assert len(pieces) == 46
    cls, sep = tok.special_id("[CLS]"), tok.special_id("[SEP]")
    first = [r for r in range(len(of)) if of[r] == 0]
    assert len(first) == len(windows(46, L - 2, 5))
    for r, (start, length) in zip(first, windows(46, L - 2, 5)):
        assert ids[r].tolist() == [cls] + pieces[start:start + length] + [sep] + [0] * (L - 2 - length)
        assert segments[r].sum() == 0 and mask[r].sum() == length + 2
    # a text that fits gives one window equal to the original's features
    (short_row,) = [r for r in range(len(of)) if of[r] == 1]
    reference = encode_pair(tok, tok.tokenize(short), None, L)
    assert [ids[short_row].tolist(), mask[short_row].tolist(), segments[short_row].tolist()] == list(reference[:3])
    # a pair: the first text cut as _truncate_seq_pair against the whole second; windows over the second
    a = tok.convert_tokens_to_ids(tok.tokenize(pair[0]))
    b = tok.convert_tokens_to_ids(tok.tokenize(pair[1]))
    kept = (L - 3 + 1) // 2  # both long: ceil(budget / 2) for the first text
    pair_rows = [r for r in range(len(of)) if of[r] == 2]
    room = L - 3 - kept
    assert len(pair_rows) == len(windows(len(b), room, stride_for(room, 5)))
    for r, (start, length) in zip(pair_rows, windows(len(b), room, stride_for(room, 5))):
        assert ids[r].tolist()[:kept + 2] == [cls] + a[:kept] + [sep]
        assert ids[r].tolist()[kept + 2:kept + 3 + length] == b[start:start + length] + [sep]
        assert segments[r].tolist() == [0] * (kept + 2) + [1] * (length + 1) + [0] * (L - kept - 3 - length)


def test_default_is_the_original_truncation_and_cache_key():
    """Without text_windows: one feature per example, equal to the original's truncation, and
    the cache fields (the feature cache's key) are what they were before the hparam existed."""
    tok = FullTokenizer(VOCAB)
    rng = random.Random(1)
    texts = [(long_text(rng, 1), None), (long_text(rng, 0), long_text(rng, 1)), ("good", None)]
    default = SentencePreprocessor(tok, L, "t", ["0", "1"])
    features = default.featurize(_examples(texts), is_training=True)
    assert len(features) == len(texts)
    for f, (a, b) in zip(features, texts):
        reference = encode_pair(tok, tok.tokenize(a), None if b is None else tok.tokenize(b), L)
        assert [list(f["input_ids"]), list(f["input_mask"]), list(f["segment_ids"])] == list(reference[:3])
    assert default.cache_fields() == {"max_seq_length": L, "problem": "single_label", "labels": ["0", "1"]}
    windowed = SentencePreprocessor(tok, L, "t", ["0", "1"], text_windows=True)
    assert windowed.cache_fields() != default.cache_fields()
    assert len(windowed.featurize(_examples(texts), is_training=True)) > len(texts)
    # the task.json section of a model trained without windows is the one it always was
    from electra_tf.finetuning.classification.settings import ClassificationSettings

    assert ClassificationSettings(problem="single_label").to_dict() == {"problem": "single_label",
                                                                        "regression_scale": 1.0}


def test_run_identity_without_windows_is_the_one_of_runs_from_before_the_hparams(tmp_path):
    """A run folder trained before the hparams existed resumes: a record without the window
    hparams (or length_grouping) stands for their defaults; with windows on they differ."""
    import types

    from electra_tf.finetuning.identity import training_settings
    from electra_tf.training.run_identity import RunIdentity

    copy_tiny_model(tmp_path)
    model_config = types.SimpleNamespace(to_dict=lambda: {})
    off_config = FinetuningConfig(MODEL, str(tmp_path), task_names=["sst"])
    off = training_settings(off_config, model_config, "k", "d", 1)
    older = {k: v for k, v in off.items() if k not in ("text_windows", "window_stride", "window_aggregation",
                                                        "length_grouping")}
    assert RunIdentity(str(tmp_path), off, absent=off_config.DEFAULTS).differences(older) == []
    assert RunIdentity(str(tmp_path), off).differences(older) != []  # without the defaults: None != false
    on = training_settings(FinetuningConfig(MODEL, str(tmp_path), task_names=["sst"], text_windows=True,
                                            window_aggregation="max"), model_config, "k", "d", 1)
    assert (on["text_windows"], on["window_stride"], on["window_aggregation"]) == (True, None, "max")
    changed = {name for name, _, _ in RunIdentity(str(tmp_path), on, absent=off_config.DEFAULTS).differences(older)}
    assert changed == {"text_windows", "window_aggregation"}


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("changes, named", [
    ({"text_windows": True, "window_stride": 14}, "window_stride"),  # room is max_seq_length 16 - 2
    ({"text_windows": True, "window_stride": -3}, "window_stride"),
    ({"text_windows": True, "window_stride": 0}, "window_stride"),
    ({"window_stride": 4}, "window_stride"),  # without text_windows it would do nothing
    ({"text_windows": True, "window_aggregation": "median"}, "window_aggregation"),
    ({"text_windows": "yes"}, "text_windows"),
    ({"window_aggregation": "max"}, "window_aggregation"),  # without text_windows it would do nothing
])
def test_bad_window_hparams_name_the_hparam(tmp_path, changes, named):
    copy_tiny_model(tmp_path)
    with pytest.raises(ConfigError, match=named):
        FinetuningConfig(MODEL, str(tmp_path), task_names=["sst"], max_seq_length=L, **changes)


def test_windows_are_refused_for_qa_and_conflicting_tagging_options(tmp_path):
    from electra_tf.finetuning.builtin_tasks import get_task

    tok = FullTokenizer(VOCAB)
    with pytest.raises(ConfigError, match="text_windows.*doc_stride"):
        get_task(TaskOptions(str(tmp_path), text_windows=True), "squad", tok)
    with pytest.raises(ConfigError, match="window_stride"):
        get_task(TaskOptions(str(tmp_path), text_windows=True, window_stride=4), "conll2003", tok)
    with pytest.raises(ConfigError, match="text_windows.*truncation"):
        get_task(TaskOptions(str(tmp_path), text_windows=True, task_config={"truncation": "original"}), "conll2003", tok)


# ------------------------------------------------------------------------------- tagging
def test_tagging_max_context_selection():
    """The window that scores a word gives it the largest min(left, right) context; ties go to
    the first window (QA's rule without its 0.01 x length term)."""
    spans = [(0, 6), (3, 9), (6, 12)]
    # word 4: min(4, 1) = 1 in the first window, min(1, 4) = 1 in the second: a tie, the first wins
    assert [max_context_owner(spans, i) for i in range(12)] == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert max_context_owner([(0, 8), (3, 11)], 3) == 0  # min(3, 4) = 3 against min(0, 7) = 0
    assert max_context_owner([(0, 8), (2, 10)], 5) == 1  # min(5, 2) = 2 against min(3, 4) = 3
    assert TaggingPreprocessor._owner(spans, 4) == 0 and TaggingPreprocessor._owner(spans, 5) == 1


def test_every_word_of_a_long_sentence_gets_one_tag_from_its_max_context_window():
    tok = FullTokenizer(VOCAB).for_words(True)
    pre = TaggingPreprocessor(tok, L, "t", ["O", "B-X", "I-X"])
    words = ("the acting was great but the plot was awful and the music never moved " * 4).split()
    features = pre.featurize([Example(0, "t", {"words": words, "labels": [0] * len(words)})], is_training=False)
    assert len(features) > 2
    spans = []
    scored = {}
    for w, f in enumerate(features):
        offset, n_positions = int(f["t_word_offset"]), int(sum(f["t_labels_mask"]))
        spans.append((offset, offset + n_positions))
        for j in range(n_positions):
            if f["t_score_mask"][j]:
                assert offset + j not in scored, "a word scored twice"
                scored[offset + j] = w
    assert sorted(scored) == list(range(len(words)))
    assert all(scored[i] == max_context_owner(spans, i) for i in scored)


# predict.py == serve_words on sentences longer than a window, word for word with probabilities, is
# tests/test_tag_decoding.py::test_predict_and_serve_words_write_the_same_tags (a trained tagger, its
# word windows at max_seq_length 12); serve_words against the Python windows is
# tests/test_serving.py::test_tagger_words_signature. (A copy of that check here, on an untrained
# tagger, cost a SavedModel export: removed to keep the suite's time.)


def test_serving_windows_with_max_and_a_stride_equal_the_python_windows():
    """The serving graph's windows (serving_inputs.text_windows) and aggregation
    (serving_decode.aggregate_windows) for windows 3 tokens apart aggregated by max, run eagerly
    on the graph tokenizer's ids: the preprocessor's windows, the model, windows.aggregate. (The
    exported signatures themselves are tested end to end below, with the default stride and mean.)"""
    from electra_tf.export.serving_decode import aggregate_windows
    from electra_tf.export.serving_inputs import text_windows
    from electra_tf.text.graph_tokenizer import GraphTokenizer
    from electra_tf.text.reference_tokenizer import load_vocab

    config = et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=37, max_position_embeddings=64, num_labels=3, head="electra")
    model = et.TFElectraForSequenceClassification(config).build_with_dummy_inputs()
    vocab = load_vocab(VOCAB)
    graph_tokenizer = GraphTokenizer(vocab, True)
    rng = random.Random(3)
    singles = [long_text(rng, 1), "good", "", long_text(rng, 0)[:70]]
    pairs = [(long_text(rng, 0), long_text(rng, 1)), ("the", long_text(rng, 0)), (long_text(rng, 1), "bad"), ("", "")]
    pre = SentencePreprocessor(FullTokenizer(VOCAB), L, "t", ["a", "b", "c"], text_windows=True, window_stride=3)
    for inputs in ([(t, None) for t in singles], pairs):
        ids, mask, segments, of = pre.encode_windows([a for a, _ in inputs], [b for _, b in inputs])
        logits = np.asarray(model(ids, attention_mask=mask, token_type_ids=segments)["logits"])
        expected = np.stack([aggregate([logits[r] for r in range(len(of)) if of[r] == i], "max") for i in range(len(inputs))])
        ids_a = graph_tokenizer.tokenize(tf.constant([a for a, _ in inputs]))[0]
        ids_b = None if inputs[0][1] is None else graph_tokenizer.tokenize(tf.constant([b for _, b in inputs]))[0]
        g_ids, g_mask, g_segments, window_row = text_windows(ids_a, ids_b, vocab["[CLS]"], vocab["[SEP]"], L, 3)
        np.testing.assert_array_equal(g_ids.numpy(), ids)
        np.testing.assert_array_equal(g_mask.numpy(), mask)
        np.testing.assert_array_equal(g_segments.numpy(), segments)
        np.testing.assert_array_equal(window_row.numpy(), of)
        got = aggregate_windows(tf.constant(logits), window_row, len(inputs), "max")
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)


# ------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny model fine-tuned on texts whose label is in their last sentence, with windows
    and without (same seed and hparams otherwise)."""
    root = tmp_path_factory.mktemp("long_texts")
    copy_tiny_model(root)
    folder = root / "finetuning_data" / "sst"
    folder.mkdir(parents=True)
    rng = random.Random(0)
    for name, n in (("train.tsv", 96), ("dev.tsv", 60)):
        (folder / name).write_text("sentence\tlabel\n" + "".join(f"{long_text(rng, i % 2)}\t{i % 2}\n" for i in range(n)))
    tests = [long_text(rng, i % 2) for i in range(12)]
    (folder / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(tests)))
    results = {}
    for windows_on in (True, False):
        run = "windows" if windows_on else "truncated"
        hparams = {"task_names": ["sst"], "learning_rate": 1e-3, "layerwise_lr_decay": 0.9, "num_train_epochs": 5,
                   "train_batch_size": 32, "eval_batch_size": 32, "max_seq_length": L, "seed": 1,
                   "write_test_outputs": windows_on, "run_name": run, "progress": False, "text_windows": windows_on}
        assert run_finetuning.main(["--data-dir", str(root), "--model-name", MODEL, "--hparams", json.dumps(hparams)]) == 0
        summary = json.loads((root / "models" / MODEL / "results" / f"sst_{run}_results.json").read_text())
        results[run] = summary["trials"][0]["results"]["sst"]
    return root, results, tests


def test_the_last_sentence_is_learned_with_windows_and_not_without(runs):
    _, results, _ = runs
    assert results["windows"]["accuracy"] >= 80.0, results
    assert results["truncated"]["accuracy"] <= 65.0, results  # the label is never in the first 14 tokens


def _model_dir(root, run):
    return str(root / "models" / MODEL / "finetuning_models" / f"sst_{run}_model_1" / "model")


def test_windowed_predict_equals_the_runs_evaluation_test_outputs_and_serving(runs, tmp_path):
    root, results, tests = runs
    model_dir = _model_dir(root, "windows")
    task = json.loads(open(f"{model_dir}/task.json").read())
    assert task["classification"]["text_windows"] is True and task["classification"]["window_aggregation"] == "mean"
    pairs = [(tests[0][:60], tests[1]), (tests[2], "good"), ("bad", tests[3][:40])]
    (tmp_path / "in.txt").write_text("\n".join(tests + [f"{a}\t{b}" for a, b in pairs]) + "\n", encoding="utf-8")
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o.jsonl"),
                         "--batch-size", "5"]) == 0
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    # the run's test outputs: one aggregated prediction per example (the windows' mean logits)
    with open(root / "models" / MODEL / "test_predictions" / "sst_windows_test_1_predictions.pkl", "rb") as f:
        written = pickle.load(f)
    assert sorted(written) == list(range(len(tests)))
    for i in range(len(tests)):
        logits = np.asarray(written[i], np.float64)
        probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert records[i]["label"] == ["0", "1"][int(np.argmax(logits))]
        np.testing.assert_allclose([records[i]["scores"]["0"], records[i]["scores"]["1"]], probabilities, atol=1e-5)
    # predict.py on the dev texts scores what the run's evaluation scored
    dev = [line.split("\t") for line in (root / "finetuning_data" / "sst" / "dev.tsv").read_text().splitlines()[1:]]
    (tmp_path / "dev.txt").write_text("".join(f"{text}\n" for text, _ in dev), encoding="utf-8")
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "dev.txt"), "--output", str(tmp_path / "d.jsonl")]) == 0
    predicted = [json.loads(line)["label"] for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    accuracy = 100.0 * np.mean([p == gold for p, (_, gold) in zip(predicted, dev)])
    assert accuracy == pytest.approx(results["windows"]["accuracy"])
    # the SavedModel's text signatures: the same windows and aggregation in the graph
    from electra_tf.cli import export

    assert export.main(["--model", model_dir, "--output", str(tmp_path / "saved")]) == 0
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    served = loaded.signatures["serve_text"](text=tf.constant(tests))
    served_pairs = loaded.signatures["serve_text_pair"](text=tf.constant([a for a, _ in pairs]),
                                                        text_b=tf.constant([b for _, b in pairs]))
    for out, recs in ((served, records[:len(tests)]), (served_pairs, records[len(tests):])):
        assert [x.decode() for x in out["label"].numpy()] == [r["label"] for r in recs]
        np.testing.assert_allclose(out["probabilities"].numpy(), [[r["scores"]["0"], r["scores"]["1"]] for r in recs],
                                   atol=1e-5)


def test_windows_with_length_sorted_evaluation_score_and_predict_the_same(runs):
    """The windowed model evaluated again with length_grouping (batches sorted by length, windows
    of one text in different batches): the same dev accuracy and the same test outputs."""
    root, results, _ = runs
    pkl = root / "models" / MODEL / "test_predictions" / "sst_windows_test_1_predictions.pkl"
    with open(pkl, "rb") as f:
        before = pickle.load(f)
    pkl.unlink()  # written again by the evaluation below
    hparams = {"task_names": ["sst"], "learning_rate": 1e-3, "layerwise_lr_decay": 0.9, "num_train_epochs": 5,
               "train_batch_size": 32, "eval_batch_size": 7, "max_seq_length": L, "seed": 1, "do_train": False,
               "write_test_outputs": True, "run_name": "windows", "progress": False, "text_windows": True,
               "length_grouping": True}
    assert run_finetuning.main(["--data-dir", str(root), "--model-name", MODEL, "--hparams", json.dumps(hparams)]) == 0
    summary = json.loads((root / "models" / MODEL / "results" / "sst_windows_results.json").read_text())
    assert summary["trials"][0]["results"]["sst"]["accuracy"] == pytest.approx(results["windows"]["accuracy"])
    with open(pkl, "rb") as f:
        after = pickle.load(f)
    assert sorted(after) == sorted(before)
    for i in before:
        np.testing.assert_allclose(after[i], before[i], atol=1e-5)
