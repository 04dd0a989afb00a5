"""Every sentence-level task end to end through run_finetuning.py, on small files in the task's
real format, checking the results and output files where the original puts them.

Runs go through ``run_finetuning.main`` (the command-line entry point) in this process, to pay
TensorFlow's start-up once; ``test_cli_subprocess`` runs the script itself.
"""

import json
import os
import pickle
import random
import subprocess
import sys

import pytest

from tests.conftest import ROOT, copy_tiny_model

import run_finetuning

MODEL = "electra-tiny"
WORDS = "good great bad awful movie film the a story acting plot was is not very".split()


def _s(rng, n=6):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _rows(n, make, seed):
    rng = random.Random(seed)
    return [make(rng, i) for i in range(n)]


def _write(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if header is not None:
            f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(str(x) for x in row) + "\n")


def b(rng):
    return rng.choice(["0", "1"])


# task -> {file name: (header or None, row maker)}
FORMATS = {
    "cola": {"train.tsv": (None, lambda r, i: ["gj04", b(r), "", _s(r)]),
             "dev.tsv": (None, lambda r, i: ["gj04", b(r), "", _s(r)]),
             "test.tsv": (["index", "sentence"], lambda r, i: [i, _s(r)])},
    "sst": {"train.tsv": (["sentence", "label"], lambda r, i: [_s(r), b(r)]),
            "dev.tsv": (["sentence", "label"], lambda r, i: [_s(r), b(r)]),
            "test.tsv": (["index", "sentence"], lambda r, i: [i, _s(r)])},
    "mrpc": {f: (["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"], lambda r, i: [b(r), i, i + 1, _s(r), _s(r)])
             for f in ("train.tsv", "dev.tsv", "test.tsv")},
    "qqp": {"train.tsv": (["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], lambda r, i: [i, 1, 2, _s(r), _s(r), b(r)]),
            "dev.tsv": (["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], lambda r, i: [i, 1, 2, _s(r), _s(r), b(r)]),
            "test.tsv": (["id", "question1", "question2"], lambda r, i: [i, _s(r), _s(r)])},
    "rte": {f: (["index", "sentence1", "sentence2", "label"], lambda r, i: [i, _s(r), _s(r), r.choice(["entailment", "not_entailment"])])
            for f in ("train.tsv", "dev.tsv")},
    "qnli": {f: (["index", "question", "sentence", "label"], lambda r, i: [i, _s(r), _s(r), r.choice(["entailment", "not_entailment"])])
             for f in ("train.tsv", "dev.tsv")},
    "mnli": {f: (["index", "promptID", "pairID", "genre", "s1_bp", "s2_bp", "s1_p", "s2_p", "sentence1", "sentence2", "label1", "gold_label"],
                 lambda r, i: [i, 1, 2, "fiction", "(", "(", "(", "(", _s(r), _s(r), "neutral", r.choice(["contradiction", "entailment", "neutral"])])
             for f in ("train.tsv", "dev_matched.tsv")},
    "sts": {"train.tsv": (["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score"],
                          lambda r, i: [i, "main", "f", "2012", i, "none", "none", _s(r), _s(r), round(r.uniform(0, 5), 2)]),
            "dev.tsv": (["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2", "score"],
                        lambda r, i: [i, "main", "f", "2012", i, "none", "none", _s(r), _s(r), round(r.uniform(0, 5), 2)]),
            "test.tsv": (["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2"],
                         lambda r, i: [i, "main", "f", "2012", i, "none", "none", _s(r), _s(r)])},
    "chnsenticorp": {f: (["label", "text_a"], lambda r, i: [b(r), "这个电影很好看" if i % 2 else "服务太差了"]) for f in ("train.tsv", "dev.tsv", "eval.tsv")},
    # The public LCQMC/BQ files have no header (HFL skipped their first example).
    "lcqmc": {f: (None, lambda r, i: ["喜欢打篮球的男生喜欢什么样的女生", "爱打篮球的男生喜欢什么样的女生", b(r)]) for f in ("train.tsv", "dev.tsv")},
    "bqcorpus": {f: (None, lambda r, i: ["用微信都6年，微信没有微粒贷功能", "4。  号码来微粒贷", b(r)]) for f in ("train.tsv", "dev.tsv")},
    "xnli": {"train.tsv": (["premise", "hypo", "label"], lambda r, i: ["他说，妈妈，我回来了。", "他没说一句话。", r.choice(["contradictory", "entailment", "neutral"])]),
             "dev.tsv": (["language", "gold_label", "s1_bp", "s2_bp", "s1_p", "s2_p", "sentence1", "sentence2", "promptID", "pairID", "genre"],
                         lambda r, i: [r.choice(["zh", "zh", "en"]), r.choice(["contradiction", "entailment", "neutral"]), "(", "(", "(", "(", "我回来了。", "他没说话。", 1, 2, "facetoface"])},
    "nsmc": {f: (["id", "document", "label"], lambda r, i: [9976970 + i, "아 더빙.. 진짜 짜증나네요 목소리", b(r)]) for f in ("ratings_train.txt", "ratings_test.txt")},
    "kornli": {f: (["sentence1", "sentence2", "gold_label"], lambda r, i: ["개념적으로 크림 스키밍은 두 가지 기본 차원을 가지고 있다.", "제품과 지리학은 크림 스키밍을 작동시키는 것이다.", r.choice(["contradiction", "entailment", "neutral"])])
               for f in ("multinli.train.ko.tsv", "xnli.dev.ko.tsv")},
    "korsts": {f: (["genre", "filename", "year", "id", "score", "sentence1", "sentence2"], lambda r, i: ["main-captions", "MSRvid", "2012test", i, round(r.uniform(0, 5), 1), "비행기가 이륙하고 있다.", "비행기가 이륙하고 있다."])
               for f in ("sts-train.tsv", "sts-dev.tsv")},
    "paws": {f: (["id", "sentence1", "sentence2", "label"], lambda r, i: [i + 1, "1975년 시즌은 NBA의 30번째 시즌이었다.", "" if i == 3 else "1975년 시즌은 NBA 30번째 시즌이었다.", b(r)])
             for f in ("translated_train.tsv", "dev_2k.tsv")},
    "question-pair": {f: (["question1", "question2", "is_duplicate"], lambda r, i: ["1000일 만난 여자친구와 이별", "10년 연예의끝", b(r)]) for f in ("train.tsv", "dev.tsv")},
    "hate-speech": {f: (["title", "comment", "bias", "hate"], lambda r, i: ["'아스달 연대기' 송중기", "송중기 시대극은 믿고본다.", "none", r.choice(["none", "offensive", "hate"])])
                    for f in ("train.tsv", "val.tsv")},
}
TEST_OUTPUTS = {"cola": ["test"], "sst": ["test"], "qqp": ["test"], "sts": ["test"], "mrpc": ["test"]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    copy_tiny_model(root)
    return root


def run(data_dir, hparams):
    base = {"train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 24, "num_train_epochs": 1,
            "learning_rate": 1e-3, "seed": 3, "log_every_steps": 1000}
    base.update(hparams)
    return run_finetuning.main(["--data-dir", str(data_dir), "--model-name", MODEL, "--hparams", json.dumps(base)])


def _read_results(data_dir, tasks):
    results = data_dir / "models" / MODEL / "results"
    txt = (results / f"{tasks}_results.txt").read_text().splitlines()
    return txt, json.loads((results / f"{tasks}_results.json").read_text())


@pytest.mark.parametrize("task", sorted(FORMATS))
def test_task_end_to_end(data_dir, task):
    for i, (name, (header, make)) in enumerate(FORMATS[task].items()):
        _write(str(data_dir / "finetuning_data" / task / name), header, _rows(13, make, seed=i))
    write_tests = task in TEST_OUTPUTS
    assert run(data_dir, {"task_names": [task], "write_test_outputs": write_tests}) == 0
    txt, results = _read_results(data_dir, task)
    assert txt and txt[0].startswith(f"{task}: ")
    metrics = results["trials"][0]["results"][task]
    assert "loss" in metrics
    expected = {"cola": "mcc", "sts": "spearman", "korsts": "pearson", "hate-speech": "macro_f1"}.get(task, "accuracy")
    assert expected in metrics
    assert results["summary"][task][expected]["n"] == 1
    model_dir = data_dir / "models" / MODEL / "finetuning_models" / f"{task}_model_1"
    assert any(f.startswith("ckpt-") for f in os.listdir(model_dir))
    assert (model_dir / "model" / "config.json").exists() and (model_dir / "model" / "model.weights.h5").exists()
    assert (data_dir / "models" / MODEL / "results" / f"{task}_config.json").exists()
    for split in TEST_OUTPUTS.get(task, []):
        pkl = data_dir / "models" / MODEL / "test_predictions" / f"{task}_{split}_1_predictions.pkl"
        with open(pkl, "rb") as f:
            predictions = pickle.load(f)
        assert sorted(predictions) == list(range(13))
    if task == "xnli":  # only the Chinese rows of the multilingual dev file are scored
        n_zh = sum(1 for line in (data_dir / "finetuning_data" / "xnli" / "dev.tsv").read_text().splitlines()[1:] if line.startswith("zh\t"))
        meta = json.loads((data_dir / "models" / MODEL / "finetuning_tfrecords" / "xnli_tfrecords" / "xnli_dev.tfrecord.metadata").read_text())
        assert meta["n_real"] == n_zh
    if task == "lcqmc":  # no header: all 13 examples are used
        meta = json.loads((data_dir / "models" / MODEL / "finetuning_tfrecords" / "lcqmc_tfrecords" / "lcqmc_train.tfrecord.metadata").read_text())
        assert meta["n_real"] == 13
    if task == "paws":  # KoELECTRA skips the pair with an empty sentence
        meta = json.loads((data_dir / "models" / MODEL / "finetuning_tfrecords" / "paws_tfrecords" / "paws_dev.tfrecord.metadata").read_text())
        assert meta["n_real"] == 12
    if task in ("mrpc", "sts"):  # double_unordered doubles the training pairs
        meta = json.loads((data_dir / "models" / MODEL / "finetuning_tfrecords" / f"{task}_tfrecords" / f"{task}_train.tfrecord.metadata").read_text())
        assert meta["n_real"] == 26


GENERIC = {
    "reviews": ({"type": "tsv", "text_a": "review", "label": "stars", "header": True, "metrics": ["accuracy", "macro_f1"]},
                ["review", "stars"], lambda r, i: [_s(r), r.choice(["1", "2", "3"])], "tsv"),
    "topics": ({"type": "csv", "problem": "multi_label", "text_a": 0, "label": 1, "label_separator": "|",
                "labels": ["politics", "sport", "economy"]},
               ["text", "labels"], lambda r, i: [_s(r), "|".join(sorted(r.sample(["politics", "sport", "economy"], r.randint(1, 2))))], "csv"),
    "similarity": ({"type": "tsv", "problem": "regression", "text_a": 0, "text_b": 1, "label": 2},
                   ["a", "b", "score"], lambda r, i: [_s(r), _s(r), round(r.uniform(0, 1), 3)], "tsv"),
}


@pytest.mark.parametrize("task", sorted(GENERIC))
def test_generic_task_end_to_end(data_dir, task):
    options, header, make, ext = GENERIC[task]
    for i, split in enumerate(("train", "dev")):
        path = data_dir / "finetuning_data" / task / f"{split}.{ext}"
        rows = _rows(13, make, seed=i)
        os.makedirs(path.parent, exist_ok=True)
        sep = "\t" if ext == "tsv" else ","
        path.write_text(sep.join(header) + "\n" + "".join(sep.join(str(x) for x in row) + "\n" for row in rows))
    assert run(data_dir, {"task_names": [task], "task_config": {task: options}}) == 0
    _, results = _read_results(data_dir, task)
    metrics = results["trials"][0]["results"][task]
    wanted = {"reviews": ["accuracy", "macro_f1"], "topics": ["micro_f1", "macro_f1"], "similarity": ["pearson", "spearman"]}[task]
    assert all(m in metrics for m in wanted)


def test_multi_task_and_trials(data_dir):
    for task in ("sst", "rte"):
        for i, (name, (header, make)) in enumerate(FORMATS[task].items()):
            _write(str(data_dir / "finetuning_data" / task / name), header, _rows(13, make, seed=i))
    assert run(data_dir, {"task_names": ["sst", "rte"], "num_trials": 2, "seed": 11}) == 0
    txt, results = _read_results(data_dir, "sst,rte")
    assert len(txt) == 4 and [t["seed"] for t in results["trials"]] == [11, 12]
    assert set(results["summary"]) == {"sst", "rte"} and results["summary"]["sst"]["accuracy"]["n"] == 2
    meta = json.loads((data_dir / "models" / MODEL / "finetuning_tfrecords" / "sst,rte_tfrecords" / "rte_sst_train.tfrecord.metadata").read_text())
    assert meta["counts"] == {"sst": {"examples": 13, "features": 13}, "rte": {"examples": 13, "features": 13}}


def test_feature_cache_is_rebuilt_when_data_changes(data_dir, caplog):
    task = "sst"
    for i, (name, (header, make)) in enumerate(FORMATS[task].items()):
        _write(str(data_dir / "finetuning_data" / task / name), header, _rows(13, make, seed=i))
    assert run(data_dir, {"task_names": [task], "overwrite_model_dir": True}) == 0
    meta_path = data_dir / "models" / MODEL / "finetuning_tfrecords" / "sst_tfrecords" / "sst_dev.tfrecord.metadata"
    first = json.loads(meta_path.read_text())
    _write(str(data_dir / "finetuning_data" / task / "dev.tsv"), ["sentence", "label"], _rows(5, FORMATS[task]["dev.tsv"][1], seed=9))
    assert run(data_dir, {"task_names": [task], "do_train": False}) == 0
    second = json.loads(meta_path.read_text())
    assert first["key"] != second["key"] and second["n_real"] == 5


def test_cli_subprocess_bad_hparam_is_one_clear_error(data_dir):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--data-dir", str(data_dir),
                             "--model-name", MODEL, "--hparams", '{"task_names": ["sst"], "num_train_epoch": 2}'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last == "error: Unknown hparam 'num_train_epoch'. Did you mean 'num_train_epochs'?"
    assert "Traceback" not in result.stderr


def test_hfl_do_test_scores_the_eval_split(data_dir):
    task = "chnsenticorp"
    for i, (name, (header, make)) in enumerate(FORMATS[task].items()):
        _write(str(data_dir / "finetuning_data" / task / name), header, _rows(13, make, seed=i))
    assert run(data_dir, {"task_names": [task], "overwrite_model_dir": True}) == 0
    _, results = _read_results(data_dir, task)
    assert "accuracy" in results["trials"][0]["eval_results"][task]


def test_model_directory_in_huggingface_layout_and_debug_mode(data_dir):
    import electra_tf as et

    hf_name = "electra-tiny-hf"
    tf1_dir = data_dir / "models" / MODEL
    model = et.TFElectraForPreTraining.from_pretrained(str(tf1_dir))
    model.save_pretrained(str(data_dir / "models" / hf_name), format="hf", vocab_file=str(tf1_dir / "vocab.txt"))
    task = "sst"
    for i, (name, (header, make)) in enumerate(FORMATS[task].items()):
        _write(str(data_dir / "finetuning_data" / task / name), header, _rows(13, make, seed=i))
    args = {"train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 24, "num_train_epochs": 1, "seed": 3,
            "task_names": [task]}
    assert run_finetuning.main(["--data-dir", str(data_dir), "--model-name", hf_name, "--hparams", json.dumps(args)]) == 0
    assert (data_dir / "models" / hf_name / "results" / "sst_results.txt").exists()
    # debug: the original's 3-layer debug model, trained from scratch on the first 100 lines
    debug = dict(args, debug=True, num_train_epochs=1, train_batch_size=8, vocab_size=81, overwrite_model_dir=True)
    assert run_finetuning.main(["--data-dir", str(data_dir), "--model-name", hf_name, "--hparams", json.dumps(debug)]) == 0
    config = json.loads((data_dir / "models" / hf_name / "results" / "sst_config.json").read_text())
    assert config["model_config"]["num_hidden_layers"] == 3 and config["model_config"]["hidden_size"] == 144
