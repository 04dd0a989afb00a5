"""Fine-tuning runs decide nothing silently (#24): a finished run writes nothing on rerun and a
model directory keeps the files a user put there; task choices (pairs trained in both orders, a
test file scored as dev) are logged and recorded; bad --model-name, hparams nesting and
task_config keys are one clear error. Run as a user runs them: the command's main()."""

import hashlib
import json
import logging
import os
import shutil

import pytest

import run_finetuning
from tests.conftest import ROOT, copy_tiny_model
from tests.test_run_safety import workspace

MODEL = "electra-tiny"
BASE = {"task_names": ["sst"], "train_batch_size": 16, "eval_batch_size": 16, "max_seq_length": 24,
        "num_train_epochs": 1, "seed": 4, "log_every_steps": 1000, "progress": False}


def _main(data_dir, model_name=MODEL, hparams=None):
    return run_finetuning.main(["--data-dir", str(data_dir), "--model-name", model_name, "--hparams",
                                hparams if isinstance(hparams, str) else json.dumps({**BASE, **(hparams or {})})])


class _Log(logging.Handler):
    """The electra_tf logger's messages while in the block (the command's logging does not propagate)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    @property
    def text(self):
        return "\n".join(self.lines)

    def __enter__(self):
        logging.getLogger("electra_tf").addHandler(self)
        return self

    def __exit__(self, *exc):
        logging.getLogger("electra_tf").removeHandler(self)


def _snapshot(folder):
    """{path: (sha256, mtime_ns)} of every file under ``folder`` but the run's lock and log."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith((".lock", ".log")):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[path] = (hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns)
    return out




# ------------------------------------------------------------------------ item 5: finished runs
def test_finished_run_writes_nothing_and_model_directory_keeps_user_files(tmp_path, capsys):
    data = workspace(tmp_path, n_train=64, n_dev=32)
    assert _main(data) == 0
    model_root = data / "models" / MODEL
    model_dir = model_root / "finetuning_models" / "sst_model_1" / "model"
    (model_dir / "model.onnx").write_bytes(b"an export the user made, as the README suggests")
    (model_dir / "notes").mkdir()
    (model_dir / "notes" / "readme.txt").write_text("mine")
    before = _snapshot(model_root)
    capsys.readouterr()

    # the same command again: it says it is finished, prints the results and writes nothing
    with _Log() as log:
        assert _main(data) == 0
    out = capsys.readouterr().out
    assert "already finished" in log.text and "Nothing was trained, evaluated or written" in log.text
    assert "trial 1 (seed 4) sst: accuracy" in out
    assert _snapshot(model_root) == before

    # an evaluation-only change evaluates again (results rewritten) but leaves the model directory alone
    with _Log() as log:
        assert _main(data, hparams={"eval_batch_size": 8}) == 0
    assert "This run already finished" not in log.text and "left unchanged" in log.text
    after = _snapshot(model_root)
    assert {p: v for p, v in after.items() if "/model/" in p} == {p: v for p, v in before.items() if "/model/" in p}
    results = model_root / "results" / "sst_results.json"
    assert after[str(results)] != before[str(results)]

    # an incomplete export is written again, and the user's files survive the replacement
    (model_dir / "config.json").unlink()
    assert _main(data) == 0
    assert (model_dir / "config.json").is_file()
    assert (model_dir / "model.onnx").read_bytes() == b"an export the user made, as the README suggests"
    assert (model_dir / "notes" / "readme.txt").read_text() == "mine"
    import electra_tf as et

    assert et.TFElectraForSequenceClassification.from_pretrained(str(model_dir)).task_metadata.task_name == "sst"

    # results files that do not all carry the run's fingerprint (a results write cut short between
    # files) are never reported as a finished run: it evaluates again and completes them
    results = model_root / "results" / "sst_results.json"
    stored = json.loads(results.read_text())
    fingerprint = stored.pop("run_fingerprint")
    results.write_text(json.dumps(stored))
    with _Log() as log:
        assert _main(data) == 0
    assert "This run already finished" not in log.text and "sst dev: accuracy" in log.text
    assert json.loads(results.read_text())["run_fingerprint"] == fingerprint
    with _Log() as log:
        assert _main(data) == 0
    assert "This run already finished" in log.text


# ------------------------------------------------------------------------ item 11: task choices in the log
@pytest.fixture(scope="module")
def korean_run(tmp_path_factory):
    """korsts (pairs in both orders) and naver-ner (no dev file) in one tiny multi-task run."""
    data = tmp_path_factory.mktemp("ko")
    copy_tiny_model(data)
    sts = data / "finetuning_data" / "korsts"
    sts.mkdir(parents=True)
    header = "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
    rows = [f"g\tf\t2017\t{i}\t{i % 5}.0\tthe movie was good\tthe acting {'great' if i % 2 else 'bad'}\n"
            for i in range(16)]
    (sts / "sts-train.tsv").write_text(header + "".join(rows), encoding="utf-8")
    (sts / "sts-dev.tsv").write_text(header + "".join(rows[:8]), encoding="utf-8")
    ner = data / "finetuning_data" / "naver-ner"
    ner.mkdir(parents=True)
    line = "the movie was good\tPER-B O O ORG-B\n"
    (ner / "train.tsv").write_text(line * 12, encoding="utf-8")
    (ner / "test.tsv").write_text(line * 6, encoding="utf-8")
    with _Log() as log:
        assert _main(data, hparams={"task_names": ["korsts", "naver-ner"], "train_batch_size": 8, "eval_batch_size": 8,
                                    "do_lower_case": False}) == 0
    return data, log.text


def test_pairs_trained_in_both_orders_are_announced(korean_run):
    _, log = korean_run
    assert "korsts: training on both sentence orders" in log
    assert "KoELECTRA trains KorSTS on one order only" in log and '"double_unordered": false' in log


def test_test_file_scored_as_dev_is_logged_and_labelled_in_the_results(korean_run, capsys):
    data, log = korean_run
    test_file = str(data / "finetuning_data" / "naver-ner" / "test.tsv")
    assert f"there is no dev file in {data / 'finetuning_data' / 'naver-ner'}, so the test file {test_file}" in log
    assert "naver-ner dev (the test file test.tsv: no dev file)" in log
    results = json.loads((data / "models" / MODEL / "results" / "korsts,naver-ner_results.json").read_text())
    evaluated = results["trials"][0]["evaluated"]["dev"]
    assert evaluated["naver-ner"] == {"files": [test_file], "test_set": True}
    assert evaluated["korsts"]["test_set"] is False and evaluated["korsts"]["files"][0].endswith("sts-dev.tsv")
    # the command's own summary (printed again by the finished rerun) says so next to the figures
    capsys.readouterr()
    assert _main(data, hparams={"task_names": ["korsts", "naver-ner"], "train_batch_size": 8, "eval_batch_size": 8,
                                "do_lower_case": False}) == 0
    out = capsys.readouterr().out
    assert "naver-ner (test file scored as dev): " in out and "korsts: " in out


# ------------------------------------------------------------------------ item 11: one clear error each
@pytest.fixture(scope="module")
def small_workspace(tmp_path_factory):
    return workspace(tmp_path_factory.mktemp("errors"), n_train=16, n_dev=8)


@pytest.mark.parametrize("model_name", ["../outside", "/abs/model", "sub/../../up"])
def test_model_name_leading_outside_the_data_dir_is_refused(small_workspace, tmp_path, capsys, model_name):
    before = sorted(os.listdir(small_workspace))
    assert _main(small_workspace, model_name=model_name) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --model-name ") and "leading outside" in err and "init_checkpoint" in err
    assert err.count("\n") == 1 and sorted(os.listdir(small_workspace)) == before


def test_deeply_nested_hparams_file_is_one_clear_error(small_workspace, tmp_path, capsys):
    for depth in (50, 100000):
        path = tmp_path / f"deep{depth}.json"
        path.write_text('{"task_config": {"sst": ' + "[" * depth + "]" * depth + "}}", encoding="utf-8")
        assert _main(small_workspace, hparams=str(path)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path}: the JSON is nested more than 32 levels deep") and "Traceback" not in err


def test_misspelt_task_config_key_of_a_builtin_task_is_named_with_the_valid_keys(small_workspace, capsys):
    assert _main(small_workspace, hparams={"task_config": {"sst": {"skip_malformed_line": True}}}) == 2
    err = capsys.readouterr().err
    assert "task_config.sst: unknown option 'skip_malformed_line'" in err
    assert "Did you mean 'skip_malformed_lines'?" in err and "Its options: skip_malformed_lines" in err
    # a task_config entry for a task the run does not train would be ignored: refused too
    assert _main(small_workspace, hparams={"task_config": {"sts": {"skip_malformed_lines": True}}}) == 2
    err = capsys.readouterr().err
    assert "task_config has an entry for 'sts', which is not in task_names ['sst']" in err
    # the valid key is accepted (the run trains)
    assert _main(small_workspace, hparams={"task_config": {"sst": {"skip_malformed_lines": True}}}) == 0


def test_heads_without_a_transformers_class_are_announced_before_training(tmp_path):
    """The original QA head and a CRF cannot go to transformers whole: the run says so at its start
    (the original classification head converts: tests/test_run_names.py)."""
    from electra_tf.finetuning.builtin_tasks import get_task
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.text.tokenizer import FullTokenizer

    tokenizer = FullTokenizer(os.path.join(ROOT, "examples", "data", "models", MODEL, "vocab.txt"))

    def notes(name, **hparams):
        config = FinetuningConfig("m", str(tmp_path), task_names=[name], **hparams)
        return " ".join(get_task(TaskOptions.from_config(config, name), name, tokenizer).notes())

    assert "original QA head" in notes("squad") and '"head": "hf"' in notes("squad")
    assert notes("squad", head="hf") == ""
    assert "no CRF layer" in notes("chunk", task_config={"chunk": {"use_crf": True}}) and notes("chunk") == ""
    assert notes("sst") == "" and "both sentence orders" in notes("mrpc")
    assert notes("mrpc", double_unordered=False) == ""
