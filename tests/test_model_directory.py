"""What is trained is what is used: every task of every run ends with a model directory whose
task.json lets predict.py (default flags), the converter and from_pretrained reproduce the run's
own predictions."""

import csv
import glob
import json
import os
import pickle
import random
import stat
import subprocess
import sys

import numpy as np
import pytest

import predict
import run_finetuning
from tests.conftest import ROOT, copy_tiny_model

MODEL = "electra-tiny"
TASKS = ["sst", "sts", "chunk", "tags", "squad", "topics"]
HPARAMS = {"task_names": TASKS, "train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 40,
           "max_query_length": 12, "doc_stride": 16, "n_best_size": 5, "max_answer_length": 8, "num_train_epochs": 1,
           "learning_rate": 1e-3, "seed": 5, "log_every_steps": 1000, "write_test_outputs": True,
           "task_config": {"chunk": {"use_crf": True, "constrained_decoding": True, "crf_learning_rate": 0.05},
                           "tags": {"type": "tagging", "scheme": "iob2"},
                           "topics": {"type": "csv", "problem": "multi_label", "text_a": "text", "label": "labels",
                                      "label_separator": "|", "labels": ["acting", "plot", "music"],
                                      "files": {"train": "train.csv", "dev": "dev.csv", "test": "test.csv"}}}}
WORDS = "the movie was good and the acting great but the story bad".split()


def _conll(rng, n, tags):
    lines = []
    for _ in range(n):
        for i in range(rng.randint(3, 9)):
            lines.append(f"{rng.choice(WORDS)} NN {rng.choice(tags) if i else tags[0]}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _squad(rng, n):
    paragraphs = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(20, 40))]
        context = " ".join(words)
        paragraphs.append({"context": context, "qas": [
            {"id": f"q{i}", "question": "what was good", "is_impossible": False,
             "answers": [{"text": words[5], "answer_start": len(" ".join(words[:5])) + 1}]},
            {"id": f"n{i}", "question": "what was bad", "answers": [], "is_impossible": True}]})
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}


def _write_data(data_dir):
    rng = random.Random(0)
    root = data_dir / "finetuning_data"
    sst = root / "sst"
    sst.mkdir(parents=True)
    source = os.path.join(ROOT, "examples", "data", "finetuning_data", "sst")
    with open(os.path.join(source, "train.tsv"), encoding="utf-8") as f:
        (sst / "train.tsv").write_text("".join(f.readlines()[:65]), encoding="utf-8")
    with open(os.path.join(source, "dev.tsv"), encoding="utf-8") as f:
        dev = f.readlines()[:25]
    (sst / "dev.tsv").write_text("".join(dev), encoding="utf-8")
    sst_texts = [line.split("\t")[0] for line in dev[1:]]
    (sst / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(sst_texts)))
    sts = root / "sts"
    sts.mkdir()
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    pairs = [(" ".join(rng.choices(WORDS, k=5)), " ".join(rng.choices(WORDS, k=4))) for _ in range(40)]
    rows = [f"{i}\tg\tf\t2012\t{i}\ts\ts\t{a}\t{b}\t{rng.uniform(0, 5):.1f}\n" for i, (a, b) in enumerate(pairs)]
    (sts / "train.tsv").write_text(header + "".join(rows[:30]))
    (sts / "dev.tsv").write_text(header + "".join(rows[30:]))
    (sts / "test.tsv").write_text("index\tsentence1\tsentence2\n" + "".join(f"{i}\t{a}\t{b}\n" for i, (a, b) in enumerate(pairs[30:])))
    for name, tags in (("chunk", ["B-NP", "I-NP", "O", "B-VP"]), ("tags", ["B-X", "I-X", "O", "O"])):
        folder = root / name
        folder.mkdir()
        for split, n in (("train", 24), ("dev", 8), ("test", 4)):
            (folder / f"{split}.txt").write_text(_conll(rng, n, tags))
    topics = root / "topics"
    topics.mkdir()
    topic_texts = [" ".join(rng.choices(WORDS, k=6)) for _ in range(48)]
    for split, chosen in (("train", topic_texts[:32]), ("dev", topic_texts[32:40])):
        rows = [f"{t},{'|'.join(rng.sample(['acting', 'plot', 'music'], rng.randint(0, 2)))}\n" for t in chosen]
        (topics / f"{split}.csv").write_text("text,labels\n" + "".join(rows))
    (topics / "test.csv").write_text("text\n" + "".join(f"{t}\n" for t in topic_texts[40:]))
    squad = root / "squad"
    squad.mkdir()
    (squad / "train.json").write_text(json.dumps(_squad(rng, 12)))
    (squad / "dev.json").write_text(json.dumps(_squad(rng, 5)))
    return sst_texts, pairs[30:], topic_texts[40:]


@pytest.fixture(scope="module")
def multi_task_run(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("multi")
    copy_tiny_model(data_dir)
    texts = _write_data(data_dir)
    assert run_finetuning.main(["--data-dir", str(data_dir), "--model-name", MODEL, "--hparams", json.dumps(HPARAMS)]) == 0
    model_root = data_dir / "models" / MODEL
    trial = glob.glob(str(model_root / "finetuning_models" / "*_model_1"))
    assert len(trial) == 1
    return data_dir, model_root, trial[0], texts


def _predict(args):
    assert predict.main(args) == 0


def test_each_task_of_a_multi_task_run_has_a_model_directory_with_metadata(multi_task_run):
    _, _, trial, _ = multi_task_run
    for task in TASKS:
        folder = os.path.join(trial, "model", task)
        meta = json.load(open(os.path.join(folder, "task.json"), encoding="utf-8"))
        assert meta["format_version"] == 1 and meta["task_name"] == task and meta["max_seq_length"] == 40
        assert os.path.isfile(os.path.join(folder, "vocab.txt"))
        assert meta["tokenizer"] == {"file": "vocab.txt", "do_lower_case": True, "space_token": None}
    chunk = json.load(open(os.path.join(trial, "model", "chunk", "task.json")))
    assert chunk["tagging"]["use_crf"] and chunk["tagging"]["constrained_decoding"] and chunk["tagging"]["segment_id"] == 1
    squad = json.load(open(os.path.join(trial, "model", "squad", "task.json")))
    assert {k: squad["qa"][k] for k in ("doc_stride", "max_query_length", "n_best_size", "max_answer_length", "v2")} == \
        {"doc_stride": 16, "max_query_length": 12, "n_best_size": 5, "max_answer_length": 8, "v2": True}


def test_predict_with_default_flags_gives_the_runs_own_classification_and_regression_predictions(multi_task_run, tmp_path):
    data_dir, model_root, trial, (sst_texts, sts_pairs, _) = multi_task_run
    (tmp_path / "sst.txt").write_text("\n".join(sst_texts) + "\n", encoding="utf-8")
    _predict(["--model", trial, "--task", "sst", "--input", str(tmp_path / "sst.txt"), "--output", str(tmp_path / "sst.jsonl")])
    ours = [json.loads(line) for line in (tmp_path / "sst.jsonl").read_text().splitlines()]
    pickled = pickle.loads((model_root / "test_predictions" / "sst_test_1_predictions.pkl").read_bytes())
    run_labels = [row["prediction"] for row in csv.DictReader(
        open(model_root / "test_predictions" / "sst_test_1_predictions.tsv"), delimiter="\t")]
    assert [r["label"] for r in ours] == run_labels
    for i, record in enumerate(ours):
        logits = np.asarray(pickled[i], np.float64)
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert abs(record["scores"][record["label"]] - probs.max()) < 1e-5

    (tmp_path / "sts.txt").write_text("".join(f"{a}\t{b}\n" for a, b in sts_pairs), encoding="utf-8")
    _predict(["--model", trial, "--task", "sts", "--input", str(tmp_path / "sts.txt"), "--output", str(tmp_path / "sts.jsonl")])
    ours = [json.loads(line)["prediction"] for line in (tmp_path / "sts.jsonl").read_text().splitlines()]
    run = [float(row["prediction"]) for row in csv.DictReader(
        open(model_root / "test_predictions" / "sts_test_1_predictions.tsv"), delimiter="\t")]
    np.testing.assert_allclose(ours, run, atol=1e-4)  # the run's TSV keeps 4 decimals, in the data's 0-5 units


def test_predict_with_default_flags_gives_the_runs_own_multi_label_predictions(multi_task_run, tmp_path):
    _, model_root, trial, (_, _, topic_texts) = multi_task_run
    (tmp_path / "topics.txt").write_text("\n".join(topic_texts) + "\n", encoding="utf-8")
    _predict(["--model", trial, "--task", "topics", "--input", str(tmp_path / "topics.txt"),
              "--output", str(tmp_path / "topics.jsonl")])
    ours = [json.loads(line) for line in (tmp_path / "topics.jsonl").read_text().splitlines()]
    run = [row["prediction"] for row in csv.DictReader(
        open(model_root / "test_predictions" / "topics_test_1_predictions.tsv"), delimiter="\t")]
    assert [",".join(r["labels"]) for r in ours] == run
    pickled = pickle.loads((model_root / "test_predictions" / "topics_test_1_predictions.pkl").read_bytes())
    for i, record in enumerate(ours):
        probs = 1 / (1 + np.exp(-np.asarray(pickled[i], np.float64)))
        np.testing.assert_allclose([record["scores"][label] for label in ("acting", "plot", "music")], probs, atol=1e-5)
    # the decision is the sign of the logit everywhere (no float32/float64 sigmoid rounding at 0.5)
    from electra_tf.finetuning.classification.scorers import multi_label_decisions

    assert multi_label_decisions(np.array([1e-9, 0.0, -1e-9], np.float32)).tolist() == [True, False, False]


@pytest.mark.parametrize("task", ["chunk", "tags"])
def test_predict_with_default_flags_gives_the_runs_own_tags_with_and_without_crf(multi_task_run, tmp_path, task):
    data_dir, model_root, trial, _ = multi_task_run
    dev = data_dir / "finetuning_data" / task / "dev.txt"
    _predict(["--model", os.path.join(trial, "model", task), "--input", str(dev), "--output", str(tmp_path / "out.txt")])
    ours = [line.split("\t")[1] for line in (tmp_path / "out.txt").read_text().splitlines() if line]
    run_file = glob.glob(str(model_root / "results" / "*_tagging" / f"{task}_dev_predictions.txt"))[0]
    run = [line.split()[2] for line in open(run_file).read().splitlines() if line]
    assert ours == run


def test_predict_with_default_flags_gives_the_runs_own_answers(multi_task_run, tmp_path):
    data_dir, model_root, trial, _ = multi_task_run
    dev = data_dir / "finetuning_data" / "squad" / "dev.json"
    _predict(["--model", trial, "--task", "squad", "--input", str(dev), "--output", str(tmp_path / "out.json")])
    qa_dir = glob.glob(str(model_root / "results" / "*_qa"))[0]
    run = json.loads(open(os.path.join(qa_dir, "squad_dev_preds.json")).read())
    run_odds = json.loads(open(os.path.join(qa_dir, "squad_dev_null_odds.json")).read())
    odds = json.loads((tmp_path / "out_null_odds.json").read_text())
    assert odds.keys() == run_odds.keys() and all(abs(odds[q] - run_odds[q]) < 1e-5 for q in odds)
    # predict.py answers "" where the null odds pass the run's threshold (-2.75, the original's
    # default); the run's preds file keeps the best non-null span, as the original writes it
    expected = {q: "" if run_odds[q] > -2.75 else a for q, a in run.items()}
    assert json.loads((tmp_path / "out.json").read_text()) == expected
    assert json.loads((tmp_path / "out_nbest.json").read_text()).keys() == run.keys()


def test_a_multi_task_folder_asks_which_task(multi_task_run, tmp_path, capsys):
    _, _, trial, _ = multi_task_run
    (tmp_path / "in.txt").write_text("good movie\n")
    assert predict.main(["--model", trial, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o")]) == 2
    assert "choose one with --task" in capsys.readouterr().err


def test_tagger_input_with_sentences_on_lines_is_refused_or_read_as_lines(multi_task_run, tmp_path, capsys):
    _, _, trial, _ = multi_task_run
    (tmp_path / "in.txt").write_text("the movie was good\nthe story bad\n")
    args = ["--model", trial, "--task", "tags", "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o.txt")]
    assert predict.main(args) == 2
    assert "--input-format lines" in capsys.readouterr().err
    _predict(args + ["--input-format", "lines"])
    blocks = [b for b in (tmp_path / "o.txt").read_text().split("\n\n") if b.strip()]
    assert [len(b.splitlines()) for b in blocks] == [4, 3]


def _convert(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "convert", "convert_checkpoint.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_training_checkpoint_converts_with_its_metadata_and_predicts_as_the_run(multi_task_run, tmp_path):
    data_dir, model_root, trial, _ = multi_task_run
    out = tmp_path / "chunk_from_ckpt"
    done = _convert("--input", trial, "--task-name", "chunk", "--to", "keras", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "task.json").read_text())["tagging"]["use_crf"]
    assert (out / "vocab.txt").is_file()
    dev = data_dir / "finetuning_data" / "chunk" / "dev.txt"
    _predict(["--model", str(out), "--input", str(dev), "--output", str(tmp_path / "a.txt")])
    _predict(["--model", os.path.join(trial, "model", "chunk"), "--input", str(dev), "--output", str(tmp_path / "b.txt")])
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()
    # predict.py reads the training checkpoint itself too (an interrupted run has no model/ yet)
    prefix = sorted(glob.glob(os.path.join(trial, "ckpt-*.index")))[-1][:-len(".index")]
    _predict(["--model", prefix, "--task", "chunk", "--input", str(dev), "--output", str(tmp_path / "c.txt")])
    assert (tmp_path / "c.txt").read_text() == (tmp_path / "b.txt").read_text()


def test_original_heads_refuse_hf_conversion_unless_allowed(multi_task_run, tmp_path):
    _, _, trial, _ = multi_task_run
    for task, weights in (("squad", "qa_head."), ("chunk", "crf.transitions")):  # sst: see test_run_names
        source = os.path.join(trial, "model", task)
        done = _convert("--input", source, "--to", "hf", "--output", str(tmp_path / task))
        assert done.returncode == 2 and "--allow-dropping-heads" in done.stderr and weights in done.stderr, done.stderr
        assert not (tmp_path / task).exists()
        done = _convert("--input", source, "--to", "hf", "--output", str(tmp_path / task), "--allow-dropping-heads")
        assert done.returncode == 0, done.stderr
        assert weights in done.stderr  # the dropped weights are named
        assert (tmp_path / task / "vocab.txt").is_file()
        mode = stat.S_IMODE(os.stat(tmp_path / task / "model.safetensors").st_mode)
        assert mode & 0o044 == 0o044, oct(mode)  # readable by group and others (umask 022), not 0600


def test_hf_heads_convert_with_equal_outputs_in_transformers(tmp_path):
    import torch
    import transformers

    import electra_tf as et
    from tests.conftest import tiny_config, tiny_inputs

    ids, mask, types = tiny_inputs()
    for cls, name, hf in ((et.TFElectraForSequenceClassification, "cls", "ElectraForSequenceClassification"),
                          (et.TFElectraForTokenClassification, "tok", "ElectraForTokenClassification"),
                          (et.TFElectraForQuestionAnswering, "qa", "ElectraForQuestionAnswering")):
        model = cls(tiny_config(vocab_size=81, num_labels=3 if name != "qa" else 2, head="hf")).build_with_dummy_inputs()
        model.save_pretrained(str(tmp_path / name), format="keras",
                              vocab_file=os.path.join(ROOT, "examples", "data", "models", MODEL, "vocab.txt"))
        done = _convert("--input", str(tmp_path / name), "--to", "hf", "--output", str(tmp_path / f"{name}_hf"))
        assert done.returncode == 0, done.stderr
        theirs = getattr(transformers, hf).from_pretrained(str(tmp_path / f"{name}_hf")).eval()
        with torch.no_grad():
            out = theirs(input_ids=torch.tensor(ids).long(), attention_mask=torch.tensor(mask).long(),
                         token_type_ids=torch.tensor(types).long())
        ours = model(ids, attention_mask=mask, token_type_ids=types)
        for key in ("logits",) if name != "qa" else ("start_logits", "end_logits"):
            np.testing.assert_allclose(np.asarray(ours[key]), getattr(out, key).numpy(), atol=1e-5)


def test_from_pretrained_reads_the_task_metadata(multi_task_run):
    import electra_tf as et

    _, _, trial, _ = multi_task_run
    model = et.TFElectraForTokenClassification.from_pretrained(os.path.join(trial, "model", "chunk"))
    assert model.task_metadata.task_name == "chunk" and model.task_metadata.settings["use_crf"]
    assert model.crf_params() is not None


def test_qa_with_the_hf_head_predicts_the_runs_own_answers(tmp_path):
    copy_tiny_model(tmp_path)
    folder = tmp_path / "finetuning_data" / "squadv1"
    folder.mkdir(parents=True)
    rng = random.Random(3)
    for name, n in (("train-v1.1.json", 10), ("dev-v1.1.json", 5)):
        data = _squad(rng, n)
        for paragraph in data["data"][0]["paragraphs"]:
            paragraph["qas"] = paragraph["qas"][:1]  # SQuAD 1.1: answerable questions only
        (folder / name).write_text(json.dumps(data))
    hparams = {"task_names": ["squadv1"], "head": "hf", "train_batch_size": 8, "max_seq_length": 36, "doc_stride": 12,
               "max_query_length": 10, "n_best_size": 4, "max_answer_length": 6, "num_train_epochs": 1, "seed": 2,
               "learning_rate": 1e-3, "log_every_steps": 1000}
    assert run_finetuning.main(["--data-dir", str(tmp_path), "--model-name", MODEL, "--hparams", json.dumps(hparams)]) == 0
    root = tmp_path / "models" / MODEL
    trial = root / "finetuning_models" / "squadv1_model_1"
    assert json.loads((trial / "model" / "task.json").read_text())["qa"]["head"] == "hf"
    _predict(["--model", str(trial), "--input", str(folder / "dev-v1.1.json"), "--output", str(tmp_path / "out.json")])
    run = json.loads((root / "results" / "squadv1_qa" / "squadv1_dev_preds.json").read_text())
    assert json.loads((tmp_path / "out.json").read_text()) == run
