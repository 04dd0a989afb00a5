"""The model card (README.md) and plots of a fine-tuning run, and electra-report (issue #28)."""

import json
import logging
import os
import shlex
import shutil

import pytest

from tests.conftest import ROOT, copy_tiny_model

import run_finetuning
from electra_tf.cli import report
from electra_tf.finetuning.model_card import MARKER
from electra_tf.finetuning.plots import plot_metric_against

MODEL = "electra-tiny"
PNG = b"\x89PNG\r\n\x1a\n"
BASE = {"train_batch_size": 16, "max_seq_length": 24, "num_train_epochs": 1, "seed": 3, "eval_every_steps": 2,
        "learning_rate": 3e-4}


def _workspace(path, tasks):
    copy_tiny_model(path)
    source = os.path.join(ROOT, "examples", "data", "finetuning_data", "sst")
    for task in tasks:
        target = path / "finetuning_data" / task
        target.mkdir(parents=True)
        for name, n in (("train.tsv", 64), ("dev.tsv", 32)):
            with open(os.path.join(source, name), encoding="utf-8") as f:
                (target / name).write_text("".join(f.readlines()[: n + 1]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    data = _workspace(tmp_path_factory.mktemp("card"), ["sst"])
    hparams = {**BASE, "task_names": ["sst"], "num_trials": 2}
    assert run_finetuning.main(["--data-dir", str(data), "--model-name", MODEL, "--hparams", json.dumps(hparams)]) == 0
    return data / "models" / MODEL / "finetuning_models"


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    data = _workspace(tmp_path_factory.mktemp("card_multi"), ["sst", "reviews"])
    hparams = {**BASE, "task_names": ["sst", "reviews"],
               "task_config": {"reviews": {"type": "tsv", "text_a": 0, "label": 1, "header": True}}}
    assert run_finetuning.main(["--data-dir", str(data), "--model-name", MODEL, "--hparams", json.dumps(hparams)]) == 0
    return data / "models" / MODEL / "finetuning_models" / "sst,reviews_model_1"


def _check_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 2000
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.size[0] >= 300 and image.size[1] >= 200


def test_run_writes_card_and_plots(single):
    for trial in (1, 2):
        model = single / f"sst_model_{trial}" / "model"
        card = (model / "README.md").read_text(encoding="utf-8")
        assert card.startswith(MARKER + "\n")
        for name in ("training.png", "dev_sst.png"):
            _check_png(model / "plots" / name)
            assert f"](plots/{name})" in card
        identity = json.loads((single / f"sst_model_{trial}" / "run_identity.json").read_text())
        assert f"- seed of this trial: {identity['seed']}" in card and identity["seed"] == 2 + trial
        assert "labels by id (2): `0`, `1`" in card and f"| {trial} (this model) |" in card
        results = json.loads((single.parent / "results" / "sst_results.json").read_text())
        mean = results["summary"]["sst"]["accuracy"]["mean"]
        assert "| **mean** | %.4f |" % mean in card and "| **sd** |" in card
        data_files = json.loads((single / f"sst_model_{trial}" / "data_files.json").read_text())
        digest = data_files["tasks"]["sst"]["dev"][0]["digest"]
        assert f"| dev | `{single.parent.parent.parent / 'finetuning_data' / 'sst' / 'dev.tsv'}` | `{digest}` |" in card
        assert '"learning_rate": 0.0003' in card and "| `learning_rate` | `0.0003` |" in card
        assert "| `eval_batch_size` |" not in card  # only what differs from the defaults


def test_reproduce_command_finds_the_run_finished(single, caplog):
    card = (single / "sst_model_1" / "model" / "README.md").read_text(encoding="utf-8")
    command = card.split("## Reproduce\n\n```bash\n", 1)[1].split("\n```", 1)[0]
    argv = shlex.split(command)
    assert argv[:2] == ["python", "run_finetuning.py"]
    before = {p: p.stat().st_mtime_ns for p in single.rglob("*") if p.is_file() and p.suffix not in (".log", ".lock")}
    with caplog.at_level(logging.INFO, logger="electra_tf"):
        assert run_finetuning.main(argv[2:]) == 0
    assert "This run already finished" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in single.rglob("*") if p.is_file() and p.suffix not in (".log", ".lock")} == before


def test_report_regenerates_identical_card_and_plots(single, capsys):
    model = single / "sst_model_2" / "model"
    card = (model / "README.md").read_bytes()
    png = (model / "plots" / "dev_sst.png").read_bytes()
    (model / "README.md").unlink()
    shutil.rmtree(model / "plots")
    assert report.main([str(model)]) == 0
    assert (model / "README.md").read_bytes() == card and (model / "plots" / "dev_sst.png").read_bytes() == png
    mtime = (model / "README.md").stat().st_mtime_ns
    data_dir = single.parent.parent.parent
    assert report.main(["--data-dir", str(data_dir), "--model-name", MODEL, "--tasks", "sst", "--trial", "2"]) == 0
    assert "nothing written" in capsys.readouterr().out and (model / "README.md").stat().st_mtime_ns == mtime


def test_multi_task_run_gets_a_card_per_task(multi):
    for task in ("sst", "reviews"):
        model = multi / "model" / task
        card = (model / "README.md").read_text(encoding="utf-8")
        assert card.startswith(MARKER) and f"# {task}:" in card and "multi-task run" in card
        assert f"plots/dev_{task}.png" in card
        _check_png(model / "plots" / "training.png")
        _check_png(model / "plots" / f"dev_{task}.png")
        assert '"task_config": {"reviews": {' in card


def test_missing_events_and_results_are_named_on_the_card(single, tmp_path):
    copy = tmp_path / "models" / MODEL / "finetuning_models" / "sst_model_1"
    shutil.copytree(single / "sst_model_1", copy, ignore=shutil.ignore_patterns("ckpt-*", "*.tfrecord"))
    (tmp_path / "models" / MODEL / "results").mkdir()
    shutil.copy(single.parent / "results" / "sst_config.json", tmp_path / "models" / MODEL / "results")
    shutil.rmtree(copy / "tensorboard")
    assert report.main([str(copy)]) == 0
    card = (copy / "model" / "README.md").read_text(encoding="utf-8")
    assert "sst_results.json is missing, unreadable or holds no trial" in card
    assert f"{copy / 'tensorboard' / 'train'} holds no such TensorBoard events (the folder is missing)" in card
    assert "](plots/" not in card and "## Reproduce\n\n```bash" in card
    (tmp_path / "models" / MODEL / "results" / "sst_config.json").unlink()
    assert report.main([str(copy)]) == 0
    card = (copy / "model" / "README.md").read_text(encoding="utf-8")
    assert "not known without the run's config file" in card and "task `sst`" in card


def test_a_users_readme_is_never_replaced(single, tmp_path, capsys):
    copy = tmp_path / "models" / MODEL / "finetuning_models" / "sst_model_1"
    shutil.copytree(single / "sst_model_1", copy, ignore=shutil.ignore_patterns("ckpt-*", "tensorboard"))
    (copy / "model" / "README.md").write_text("my notes\n")
    assert report.main([str(copy)]) == 2
    assert "is not a model card written by electra-tf" in capsys.readouterr().err
    assert (copy / "model" / "README.md").read_text() == "my notes\n"
    assert report.main([str(tmp_path)]) == 2  # not a run folder: one error line
    assert "neither a fine-tuning run's trial folder" in capsys.readouterr().err


def test_plot_metric_against_hparams(tmp_path):
    points = [({"learning_rate": lr, "layerwise_lr_decay": d}, [80 + i + lr * 1e4 for i in range(3)])
              for lr in (1e-4, 3e-4) for d in (0.8, 0.9)]
    plot_metric_against(points, "accuracy", str(tmp_path / "sweep.png"))
    _check_png(tmp_path / "sweep.png")


def test_report_runs_without_tensorflow(single):
    import subprocess
    import sys

    probe = ("import sys\nfrom electra_tf.cli import report\ncode = report.main(sys.argv[1:])\n"
             "print('HEAVY=' + ','.join(m for m in ('tensorflow', 'keras') if m in sys.modules), code)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-c", probe, str(single / "sst_model_1")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("HEAVY= 0"), done.stdout + done.stderr
    assert "already current" in done.stdout
