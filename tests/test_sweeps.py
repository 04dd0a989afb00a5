"""Sweeps (#28): the hparam "sweep" runs the grid of its values, each point a run of its own
(run_name from its values); an interrupted sweep finishes only the missing runs; processes sharing
a sweep run each point once; the summary (JSON and Markdown) names the best point and its model."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import run_finetuning
from electra_tf.errors import ConfigError
from electra_tf.finetuning.hparams import FinetuningConfig
from tests.conftest import ROOT
from tests.test_run_safety import workspace

MODEL = "electra-tiny"
BASE = {"task_names": ["sst"], "train_batch_size": 16, "eval_batch_size": 32, "max_seq_length": 24,
        "num_train_epochs": 1, "progress": False, "log_every_steps": 1000, "seed": 3}
SWEEP = {"learning_rate": [3e-3, 1e-2]}


def _config(data_dir="/d", **hparams):
    return FinetuningConfig(MODEL, str(data_dir), **{**BASE, **hparams})


def _points(data_dir, **hparams):
    from electra_tf.finetuning.sweep import build_point_configs, sweep_points

    config = _config(data_dir, **hparams)
    points = sweep_points(config)
    build_point_configs(config, points)
    return config, points


def _command(data_dir, **hparams):
    return [sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--data-dir", str(data_dir), "--model-name",
            MODEL, "--hparams", json.dumps({**BASE, **hparams})]


def _log(point):
    with open(point.config.model_dir + ".log", encoding="utf-8") as f:
        return f.read()


def _mtimes(folder):
    return {os.path.join(d, n): os.stat(os.path.join(d, n)).st_mtime_ns for d, _, names in os.walk(folder) for n in names}


# ---------------------------------------------------------------------------- grid and names
def test_grid_order_point_names_and_paths():
    from electra_tf.finetuning.sweep import point_run_name, sweep_points
    from electra_tf.finetuning.sweep_summary import summary_paths

    config = _config(sweep={"learning_rate": [1e-4, 3e-4], "layerwise_lr_decay": [0.8, 1]}, num_trials=3)
    points = sweep_points(config)
    assert [p.values for p in points] == [{"learning_rate": 1e-4, "layerwise_lr_decay": 0.8},
                                          {"learning_rate": 1e-4, "layerwise_lr_decay": 1},
                                          {"learning_rate": 3e-4, "layerwise_lr_decay": 0.8},
                                          {"learning_rate": 3e-4, "layerwise_lr_decay": 1}]
    assert points[0].run_name == "sweep--layerwise_lr_decay-0.8--learning_rate-0.0001"
    assert points[1].run_name == "sweep--layerwise_lr_decay-1.0--learning_rate-0.0001"  # 1 is the float 1.0
    # the order of the sweep's keys does not change a point's name (its runs are found again)
    swapped = sweep_points(_config(sweep={"layerwise_lr_decay": [0.8], "learning_rate": [1e-4]}))
    assert swapped[0].run_name == points[0].run_name
    # the sweep's own run_name names it: its points and its summary
    named = _config(sweep={"learning_rate": [1e-4]}, run_name="lr")
    assert sweep_points(named)[0].run_name == "lr--learning_rate-0.0001"
    assert summary_paths(named)["json"] == "/d/models/electra-tiny/results/sst_lr_sweep.json"
    assert summary_paths(config)["md"] == "/d/models/electra-tiny/results/sst_sweep.md"
    # values a run_name cannot hold, and long names: sanitised, cut and made unique by a hash
    odd = [point_run_name(config, {"model_hparam_overrides": {"hidden_dropout_prob": p}}) for p in (0.1, 0.2)]
    long = [point_run_name(config, {"task_config": {"sst": {"metrics": ["accuracy"] * 30, "x": i}}}) for i in (1, 2)]
    for name in odd + long:
        assert len(name) <= 100 and set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
    assert len(set(odd)) == 2 and len(set(long)) == 2
    assert odd[0] == point_run_name(config, {"model_hparam_overrides": {"hidden_dropout_prob": 0.1}})  # deterministic
    # each point's run: the user's hparams, its values and its run_name, no sweep
    _, built = _points("/d", sweep={"learning_rate": [1e-4, 3e-4]}, num_trials=3)
    assert built[1].config.learning_rate == 3e-4 and built[1].config.num_trials == 3 and built[1].config.sweep is None
    assert built[1].config.trial_model_dir(2) == ("/d/models/electra-tiny/finetuning_models/"
                                                   "sst_sweep--learning_rate-0.0003_model_2")


@pytest.mark.parametrize("sweep, extra, message", [
    ([0.1], {}, "must be a JSON object"),
    ({}, {}, "must be a JSON object"),
    ({"learning_rat": [1e-4]}, {}, "not an hparam. Did you mean 'learning_rate'"),
    ({"learning_rate": []}, {}, "'learning_rate' must be a non-empty list"),
    ({"learning_rate": 1e-4}, {}, "'learning_rate' must be a non-empty list"),
    ({"learning_rate": ["3e-4"]}, {}, "'learning_rate' takes a float .* the value '3e-4' is a str"),
    ({"num_train_epochs": [True]}, {}, "'num_train_epochs' takes a float"),
    ({"learning_rate": [1e-4, 0.0001]}, {}, "lists the value 0.0001 of 'learning_rate' twice"),
    ({"layerwise_lr_decay": [1, 1.0]}, {}, "twice"),
    ({"seed": [1, 2]}, {}, "cannot vary 'seed'"),
    ({"run_name": ["a", "b"]}, {}, "cannot vary 'run_name'"),
    ({"task_names": [["sst"], ["cola"]]}, {}, "cannot vary 'task_names'"),
    ({"do_eval": [True, False]}, {}, "'do_eval', which does not change a run's results"),
    ({"eval_batch_size": [8, 16]}, {}, "does not change a run's results"),
    ({"learning_rate": [1e-4]}, {"overwrite_model_dir": True}, "overwrite_model_dir cannot be used with a sweep"),
    ({"learning_rate": [1e-4]}, {"num_trials": -1}, "bounded number of trials"),
])
def test_bad_sweeps_are_one_clear_error(sweep, extra, message):
    with pytest.raises(ConfigError, match=message):
        _config(sweep=sweep, **extra)


def test_bad_value_of_one_point_is_refused_before_anything_runs(tmp_path, capsys):
    data = workspace(tmp_path, n_train=16, n_dev=16)
    code = run_finetuning.main(["--data-dir", str(data), "--model-name", MODEL, "--hparams",
                                json.dumps({**BASE, "sweep": {"learning_rate": [1e-3, -1.0]}})])
    err = capsys.readouterr().err
    assert code == 2
    assert 'Sweep point {"learning_rate": -1.0}: hparam learning_rate must not be negative' in err
    assert "Traceback" not in err
    assert not (data / "models" / MODEL / "finetuning_models").exists()  # nothing ran, not even the good point


# ---------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def killed_and_finished(tmp_path_factory):
    """A 2-point x 2-trial sweep killed (SIGKILL) in the first trial of its second point, then run again."""
    data = workspace(tmp_path_factory.mktemp("sweep"), n_train=32, n_dev=32)
    hparams = {"sweep": SWEEP, "num_trials": 2}
    config, points = _points(data, **hparams)
    second_begun = points[1].config.trial_model_dir(1)  # the first point finished, the second training
    proc = subprocess.Popen(_command(data, **hparams), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.time() + 400
        while not os.path.isdir(second_begun):
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    second_started = os.path.isfile(points[1].config.results_json)
    first_files = _mtimes(points[0].config.trial_model_dir(1)) | _mtimes(points[0].config.trial_model_dir(2))
    first_results = os.stat(points[0].config.results_json).st_mtime_ns
    assert run_finetuning.main(["--data-dir", str(data), "--model-name", MODEL, "--hparams",
                                json.dumps({**BASE, **hparams})]) == 0
    return {"data": data, "config": config, "points": points, "second_finished_before_rerun": second_started,
            "first_files": first_files, "first_results": first_results, "hparams": hparams}


def test_rerun_after_sigkill_finishes_only_the_missing_point(killed_and_finished):
    first, second = killed_and_finished["points"]
    assert not killed_and_finished["second_finished_before_rerun"]
    # the finished point was not trained, evaluated or written again
    assert _mtimes(first.config.trial_model_dir(1)) | _mtimes(first.config.trial_model_dir(2)) == \
        killed_and_finished["first_files"]
    assert os.stat(first.config.results_json).st_mtime_ns == killed_and_finished["first_results"]
    log = _log(first)
    assert log.count("Trial 1 (seed 3)") == 1 and log.count("Trial 2 (seed 4)") == 1
    assert "already finished" in log
    # the missing point ran to the end: both trials, with the recorded seeds
    results = json.loads(open(second.config.results_json, encoding="utf-8").read())
    assert [(t["trial"], t["seed"]) for t in results["trials"]] == [(1, 3), (2, 4)]
    assert "Trial 2 (seed 4)" in _log(second)


def test_summary_has_every_point_its_statistics_and_the_best_model(killed_and_finished):
    import numpy as np

    from electra_tf.finetuning.sweep_summary import summary_paths

    config, points = killed_and_finished["config"], killed_and_finished["points"]
    paths = summary_paths(config)
    summary = json.loads(open(paths["json"], encoding="utf-8").read())
    assert summary["finished"] == summary["points_total"] == 2
    assert summary["selection"]["metrics"] == {"sst": "accuracy"}
    scores = []
    for entry, point in zip(summary["points"], points):
        assert entry["values"] == point.values and entry["status"] == "finished"
        trials = json.loads(open(point.config.results_json, encoding="utf-8").read())["trials"]
        accuracies = [t["results"]["sst"]["accuracy"] for t in trials]
        stats = entry["dev"]["sst"]["accuracy"]
        assert stats["n"] == 2 and stats["mean"] == pytest.approx(np.mean(accuracies))
        assert stats["sd"] == pytest.approx(np.std(accuracies, ddof=1))
        assert stats["median"] == pytest.approx(np.median(accuracies))
        assert (stats["max"], stats["min"]) == (max(accuracies), min(accuracies))
        assert [t["seed"] for t in entry["trials"]] == [3, 4]
        scores.append(stats["mean"])
    best = summary["best"]
    assert best["values"] == points[int(np.argmax(scores))].values
    assert os.path.isfile(os.path.join(best["models"]["sst"], "task.json"))
    markdown = open(paths["md"], encoding="utf-8").read()
    assert "| learning_rate | status | accuracy | loss |" in markdown
    assert markdown.count("**best**") == 1 and best["run_name"] in markdown


def test_report_rewrites_the_table_and_plot_from_the_summary_alone(killed_and_finished, tmp_path):
    import shutil

    from electra_tf.errors import DataError
    from electra_tf.finetuning.sweep_summary import report_from_summary, summary_paths

    paths = summary_paths(killed_and_finished["config"])
    copy = tmp_path / "sst_sweep.json"
    shutil.copyfile(paths["json"], copy)
    written = report_from_summary(str(copy))
    assert written == [str(tmp_path / "sst_sweep.md"), str(tmp_path / "sst_sweep_sst.png")]
    assert (tmp_path / "sst_sweep.md").read_text(encoding="utf-8") == open(paths["md"], encoding="utf-8").read()
    assert (tmp_path / "sst_sweep_sst.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # the command does the same for a sweep's summary file
    from electra_tf.cli import report

    (tmp_path / "sst_sweep.md").unlink()
    assert report.main([str(copy)]) == 0
    assert (tmp_path / "sst_sweep.md").read_text(encoding="utf-8") == open(paths["md"], encoding="utf-8").read()
    for broken in ('{"tasks": ["sst"]}', "[1, 2]", '{"tasks": '):
        copy.write_text(broken, encoding="utf-8")
        with pytest.raises(DataError, match="is not a readable sweep summary"):
            report_from_summary(str(copy))


def test_finished_sweep_rerun_trains_nothing(killed_and_finished, capsys):
    points = killed_and_finished["points"]
    before = [_mtimes(p.config.trial_model_dir(1)) for p in points]
    logged = [_log(p).count("Trial ") for p in points]
    assert run_finetuning.main(["--data-dir", str(killed_and_finished["data"]), "--model-name", MODEL, "--hparams",
                                json.dumps({**BASE, **killed_and_finished["hparams"]})]) == 0
    out = capsys.readouterr().out
    assert "Sweep summary:" in out and "Best point by dev sst accuracy" in out
    plot = killed_and_finished["data"] / "models" / MODEL / "results" / "sst_sweep_sst.png"
    assert f"Plot: {plot}" in out and plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert [_mtimes(p.config.trial_model_dir(1)) for p in points] == before
    assert [_log(p).count("Trial ") for p in points] == logged  # no trial started


def test_two_processes_share_a_sweep_and_run_each_point_once(killed_and_finished):
    """Both start while a third holder (this test) has the first point's lock: both skip it, share
    the second, wait; once the lock is free one of them runs the first point, the other reuses it."""
    from electra_tf.finetuning.sweep_summary import summary_paths
    from electra_tf.training.run_lock import RunLock

    data = killed_and_finished["data"]
    hparams = {"sweep": SWEEP, "num_trials": 1, "run_name": "pair"}
    config, points = _points(data, **hparams)
    holder = RunLock(points[0].config.model_dir).acquire()
    procs = []
    try:
        procs = [subprocess.Popen(_command(data, **hparams), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, cwd=ROOT) for _ in range(2)]
        summary_file = summary_paths(config)["json"]
        deadline = time.time() + 400
        while True:  # the second point done while the first is held
            summary = json.loads(open(summary_file).read()) if os.path.isfile(summary_file) else None
            if summary and summary["points"][1]["status"] == "finished":
                break
            assert time.time() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.2)
        assert summary["points"][0]["status"] in ("in progress (another process)", "not finished")
        assert all(p.poll() is None for p in procs)  # both wait for the held point
    finally:
        holder.release()
    outputs = [p.communicate(timeout=400) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outputs]
    for point in points:
        assert _log(point).count("Trial 1 (seed 3)") == 1  # trained exactly once between the two processes
    assert all("Sweep summary:" in out for out, _ in outputs)
    summary = json.loads(open(summary_paths(config)["json"]).read())
    assert summary["finished"] == 2 and summary["best"] is not None


def test_summary_of_a_multi_task_sweep_with_unfinished_points(tmp_path):
    """Main metric per task (mean over the tasks), statuses of points not finished, and the best
    trial among those whose models exist (keep_all_models false keeps the last trial only)."""
    from electra_tf.finetuning.sweep_summary import build_summary, main_metric, summary_markdown
    from electra_tf.model_dir.layout import task_model_dir

    assert main_metric({"precision": 1, "recall": 2, "f1": 3, "f1_PER": 4, "accuracy": 5, "loss": 6}) == "f1"
    assert main_metric({"pearson": 1, "spearman": 2, "mse": 3, "loss": 4}) == "pearson"
    assert main_metric({"mcc": 1, "accuracy": 2, "loss": 3}) == "mcc"
    assert main_metric({"accuracy": 2, "loss": 3}, preferred="loss") == "loss"
    config, points = _points(tmp_path, task_names=["sst", "cola"], num_trials=2,
                             sweep={"learning_rate": [1e-4, 3e-4, 1e-3]})

    def trial(n, acc, mcc):
        return {"trial": n, "seed": 2 + n, "global_step": 5,
                "results": {"sst": {"accuracy": acc, "loss": 0.5}, "cola": {"mcc": mcc, "loss": 0.7}}}

    done = {points[0].run_name: [trial(1, 90.0, 50.0), trial(2, 70.0, 30.0)],  # mean score 60
            points[1].run_name: [trial(1, 60.0, 20.0), trial(2, 62.0, 22.0)],  # mean score 41
            points[2].run_name: None}  # held by another process
    for task in ("sst", "cola"):  # only trial 2 of the first point kept its models
        os.makedirs(task_model_dir(points[0].config.trial_model_dir(2), task, 2))
    summary = build_summary(config, points, done)
    assert summary["selection"]["metrics"] == {"sst": "accuracy", "cola": "mcc"}
    assert [p["status"] for p in summary["points"]] == ["finished", "finished", "in progress (another process)"]
    assert [p.get("score") for p in summary["points"]] == [60.0, 41.0, None]
    assert summary["best"]["run_name"] == points[0].run_name and summary["best"]["trial"] == 2
    assert summary["best"]["models"]["cola"] == task_model_dir(points[0].config.trial_model_dir(2), "cola", 2)
    assert summary["points"][0]["dev"]["cola"]["mcc"] == {"mean": 40.0, "sd": pytest.approx(14.1421356), "median": 40.0,
                                                         "max": 50.0, "min": 30.0, "n": 2}
    markdown = summary_markdown(summary)
    assert "## sst (dev)" in markdown and "## cola (dev)" in markdown
    assert "| 0.001 | in progress (another process) |  |  |" in markdown
    summary = build_summary(config, points, {})
    assert summary["best"] is None and summary["finished"] == 0
    assert {p["status"] for p in summary["points"]} == {"not finished"}
    assert "Best point" not in summary_markdown(summary)
