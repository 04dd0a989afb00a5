"""predict.py computes under the policy its run trained and evaluated with (issue #26): task.json
records ``trained.mixed_precision``; ``--precision`` overrides it."""

import glob
import json
import os
import pickle
import random

import numpy as np
import pytest

import predict
import run_finetuning
from electra_tf.cli.predict import choose_precision
from electra_tf.model_dir.metadata import TaskMetadata
from electra_tf.training.precision import resolve_precision
from tests.conftest import copy_tiny_model

MODEL = "electra-tiny"
WORDS = "the film is a movie with story and music good bad great awful plot acting".split()
HPARAMS = {"task_names": ["sst", "chunk"], "train_batch_size": 16, "eval_batch_size": 8, "max_seq_length": 24,
           "num_train_epochs": 1, "learning_rate": 1e-3, "seed": 3, "log_every_steps": 1000, "progress": False,
           "write_test_outputs": True, "mixed_precision": "mixed_bfloat16"}


def _text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 16)))


def _conll(rng, n):
    tags = ["B-NP", "I-NP", "O", "B-VP"]
    return "".join("".join(f"{rng.choice(WORDS)} NN {rng.choice(tags) if i else 'B-NP'}\n"
                           for i in range(rng.randint(2, 12))) + "\n" for _ in range(n))


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    """A sentence classifier and a tagger fine-tuned (one multi-task run, 1 epoch) in mixed_bfloat16."""
    root = tmp_path_factory.mktemp("bf16_run")
    copy_tiny_model(root)
    rng = random.Random(0)
    sst = root / "finetuning_data" / "sst"
    sst.mkdir(parents=True)
    for name, n in (("train.tsv", 32), ("dev.tsv", 8)):
        (sst / name).write_text("sentence\tlabel\n" + "".join(f"{_text(rng)}\t{i % 2}\n" for i in range(n)))
    tests = [_text(rng) for _ in range(21)]
    (sst / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(tests)))
    chunk = root / "finetuning_data" / "chunk"
    chunk.mkdir()
    for split, n in (("train", 16), ("dev", 10), ("test", 4)):
        (chunk / f"{split}.txt").write_text(_conll(rng, n))
    assert run_finetuning.main(["--data-dir", str(root), "--model-name", MODEL, "--hparams", json.dumps(HPARAMS)]) == 0
    trial = glob.glob(str(root / "models" / MODEL / "finetuning_models" / "*_model_1"))[0]
    return root, trial, tests


def _scores(path):
    return np.array([[r["scores"]["0"], r["scores"]["1"]] for r in map(json.loads, path.read_text().splitlines())])


def test_a_bf16_run_records_its_policy_and_predict_gives_its_own_outputs_exactly(bf16_run, tmp_path, capsys):
    root, trial, tests = bf16_run
    model_dir = os.path.join(trial, "model", "sst")
    assert json.load(open(os.path.join(model_dir, "task.json")))["trained"]["mixed_precision"] == "mixed_bfloat16"
    (tmp_path / "in.txt").write_text("".join(t + "\n" for t in tests), encoding="utf-8")
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o.jsonl"),
                         "--batch-size", "5"]) == 0
    assert "computing in mixed_bfloat16 (the run's own" in capsys.readouterr().err
    with open(root / "models" / MODEL / "test_predictions" / "sst_test_1_predictions.pkl", "rb") as f:
        written = pickle.load(f)
    logits = np.array([written[i] for i in range(len(tests))], np.float64)
    e = np.exp(logits - logits.max(1, keepdims=True))
    scores, expected = _scores(tmp_path / "o.jsonl"), e / e.sum(1, keepdims=True)
    if resolve_precision("auto") == "mixed_bfloat16":  # bfloat16 native on this CPU
        # the same probabilities, bit for bit, as the run's written logits give (predict's softmax in float64)
        np.testing.assert_array_equal(scores, expected)
    else:
        # bfloat16 emulated (AVX2-only CPUs, where "auto" never picks it): the emulated bf16 matmuls
        # round differently for differently shaped batches, so predict's own batches give the run's
        # values within float32 rounding (measured on a Zen 3 EPYC: 6 of 42 differ, by 1.9e-7 relative)
        np.testing.assert_allclose(scores, expected, rtol=1e-6, atol=0)
    labels = [json.loads(line)["label"] for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert labels == [str(int(np.argmax(row))) for row in logits]

    # --precision float32: the float32 model's probabilities, which differ from the bf16 run's
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "f.jsonl"),
                         "--precision", "float32"]) == 0
    assert "computing in float32 (--precision float32)" in capsys.readouterr().err
    import electra_tf as et

    model = et.TFElectraForSequenceClassification.from_pretrained(model_dir)  # the test's policy: float32
    from electra_tf.finetuning.prediction import GraphBackend
    from electra_tf.model_dir.loader import open_model_directory
    from electra_tf.model_dir.preprocessing import build_preprocessor
    from electra_tf.finetuning.task import Example

    directory = open_model_directory(model_dir)
    meta = directory.task_metadata(model)
    features = build_preprocessor(meta, directory.tokenizer(meta), "predict").featurize(
        [Example(eid=i, task_name="predict", fields={"text_a": t, "text_b": None, "label": "0"})
         for i, t in enumerate(tests)], is_training=False)
    arrays = [np.array([f[k] for f in features], "int32") for k in ("input_ids", "input_mask", "segment_ids")]
    f32 = GraphBackend(model).run(*arrays)["logits"].astype(np.float64)
    e32 = np.exp(f32 - f32.max(1, keepdims=True))
    float32_scores = _scores(tmp_path / "f.jsonl")
    np.testing.assert_allclose(float32_scores, e32 / e32.sum(1, keepdims=True), atol=1e-6)
    assert np.abs(float32_scores - _scores(tmp_path / "o.jsonl")).max() > 1e-4  # bf16 rounding is visible


def test_a_bf16_tagger_predicts_the_runs_own_tags(bf16_run, tmp_path):
    root, trial, _ = bf16_run
    dev = root / "finetuning_data" / "chunk" / "dev.txt"
    assert predict.main(["--model", trial, "--task", "chunk", "--input", str(dev), "--output", str(tmp_path / "o.txt")]) == 0
    ours = [line.split("\t")[1] for line in (tmp_path / "o.txt").read_text().splitlines() if line]
    run_file = glob.glob(str(root / "models" / MODEL / "results" / "*_tagging" / "chunk_dev_predictions.txt"))[0]
    assert ours == [line.split()[2] for line in open(run_file).read().splitlines() if line]


def test_directories_without_a_recorded_policy_predict_in_float32():
    meta = TaskMetadata(task_name="t", family="classification", model_type="sequence-classification",
                        max_seq_length=8, trained={"run": "r", "trial": 1})
    assert choose_precision("trained", meta, "tf")[0] == "float32"
    assert choose_precision("trained", None, "tf")[0] == "float32"
    meta.trained["mixed_precision"] = "mixed_bfloat16"
    assert choose_precision("trained", meta, "tf")[0] == "mixed_bfloat16"
    assert choose_precision("float32", meta, "tf")[0] == "float32"
    assert choose_precision("trained", meta, "onnx")[0] == "float32"  # an exported file computes as exported
    assert choose_precision("auto", meta, "tf")[0] in ("float32", "mixed_bfloat16")


def test_bad_precision_values_are_one_clear_message(bf16_run, tmp_path, capsys):
    _, trial, _ = bf16_run
    (tmp_path / "in.txt").write_text("good film\n")
    args = ["--model", trial, "--task", "sst", "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o.jsonl")]
    with pytest.raises(SystemExit) as e:
        predict.main(args + ["--precision", "bf16"])
    assert e.value.code == 2 and "argument --precision: invalid choice: 'bf16'" in capsys.readouterr().err
    assert predict.main(args + ["--backend", "onnx", "--precision", "mixed_bfloat16"]) == 2
    err = capsys.readouterr().err
    assert "--precision mixed_bfloat16 applies to the tf backend only" in err and not (tmp_path / "o.jsonl").exists()
