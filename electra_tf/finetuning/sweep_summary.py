"""The summary of a sweep: ``results/<tasks>[_<run_name>]_sweep.json`` and ``_sweep.md``.

For each point: its values, run name, status (finished, in progress in another process, not
started), its trials (seed, step, dev and eval metrics) and, per task and metric, the mean, sample
standard deviation (n-1; 0 for one trial), median, max and min over the trials. The best point is
the one with the best mean over trials of the task's main dev metric (the mean over the tasks of
each task's main metric for a multi-task run), with its best trial's model directory.

A task's main metric: the hparam ``best_metric`` when set, else ``f1`` when the scorer reports it
(tagging spans, QA), else the scorer's first metric (a sentence task's first listed metric, e.g.
``accuracy`` or ``mcc``; ``pearson`` for regression). ``loss`` and ``mse`` are lower-is-better.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional

import numpy as np

from electra_tf.errors import DataError, ElectraError
from electra_tf.model_dir.layout import task_model_dir
from electra_tf.training.selection import LOWER_IS_BETTER
from electra_tf.utils.files import atomic_write_json, atomic_write_text

_NOT_MAIN = ("loss", "mse", "precision", "recall")
_SUMMARY_KEYS = ("tasks", "sweep", "num_trials", "selection", "finished", "points_total", "points", "best")


def summary_paths(config) -> Dict[str, str]:
    """The summary files of the sweep of ``config``: {"json": ..., "md": ...}."""
    base = os.path.join(os.path.dirname(config.results_txt), config.run_str + "_sweep")
    return {"json": base + ".json", "md": base + ".md"}


def main_metric(metrics: Dict[str, Any], preferred: Optional[str] = None) -> Optional[str]:
    """The main metric among a task's dev ``metrics`` (see the module docstring)."""
    names = [k for k, v in metrics.items() if _number(v)]
    if preferred and preferred in names:
        return preferred
    if "f1" in names:
        return "f1"
    for name in names:
        if name not in _NOT_MAIN and not name.startswith("f1_"):
            return name
    return names[0] if names else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def statistics(values: List[float]) -> Dict[str, float]:
    """mean, sd (sample, n-1; 0 for one value), median, max, min and n of ``values``."""
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "median": float(np.median(array)), "max": float(array.max()), "min": float(array.min()), "n": len(array)}


def _per_metric(trials: List[Dict], key: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{task: {metric: statistics over the trials}} of the trials' ``key`` results."""
    values: Dict[str, Dict[str, List[float]]] = {}
    for trial in trials:
        for task, metrics in (trial.get(key) or {}).items():
            for metric, value in metrics.items():
                if _number(value):
                    values.setdefault(task, {}).setdefault(metric, []).append(float(value))
    return {task: {m: statistics(v) for m, v in metrics.items()} for task, metrics in values.items()}


def _trial_score(trial: Dict, mains: Dict[str, str]) -> Optional[float]:
    scores = [trial["results"][t][m] for t, m in mains.items() if _number((trial.get("results") or {}).get(t, {}).get(m))]
    return float(np.mean(scores)) if scores and len(scores) == len(mains) else None


def build_summary(config, points, done: Dict[str, Optional[List[Dict]]]) -> Dict[str, Any]:
    """The sweep summary as a JSON-able dict (``points``: the sweep's SweepPoints with configs;
    ``done``: run_name -> trial records, None while another process holds the point)."""
    mains: Dict[str, str] = {}
    for trials in done.values():
        for trial in trials or ():
            for task, metrics in (trial.get("results") or {}).items():
                if task not in mains and main_metric(metrics, config.best_metric):
                    mains[task] = main_metric(metrics, config.best_metric)
    lower = any(m in LOWER_IS_BETTER for m in mains.values())
    entries = []
    for point in points:
        trials = done.get(point.run_name)
        status = "finished" if trials is not None else (
            "in progress (another process)" if point.run_name in done else "not finished")
        entry = {"values": point.values, "run_name": point.run_name, "status": status,
                 "model_dirs": point.config.model_dir + "_<trial>", "results": point.config.results_json}
        if trials is not None:
            entry["trials"] = [{"trial": t["trial"], "seed": t["seed"], "global_step": t.get("global_step"),
                                "dev": t.get("results") or {}, "eval": t.get("eval_results") or {}} for t in trials]
            entry["dev"] = _per_metric(trials, "results")
            entry["eval"] = _per_metric(trials, "eval_results")
            scores = [s for s in (_trial_score(t, mains) for t in trials) if s is not None]
            entry["score"] = float(np.mean(scores)) if scores and mains else None
            entry["best_trial"] = _best_trial(point, trials, mains, lower)
        entries.append(entry)
    scored = [e for e in entries if e.get("score") is not None]
    best = None
    if scored:
        top = (min if lower else max)(scored, key=lambda e: e["score"])
        best = {"values": top["values"], "run_name": top["run_name"], "score": top["score"],
                "trial": top["best_trial"]["trial"] if top["best_trial"] else None,
                "models": top["best_trial"]["models"] if top["best_trial"] else {}}
    return {"tasks": config.task_names, "sweep": config.sweep, "num_trials": config.num_trials,
            "selection": {"split": "dev", "metrics": mains, "lower_is_better": lower,
                          "rule": "best mean over trials of each task's main dev metric (mean over tasks)"},
            "finished": sum(e["status"] == "finished" for e in entries), "points_total": len(entries),
            "points": entries, "best": best}


def _best_trial(point, trials: List[Dict], mains: Dict[str, str], lower: bool) -> Optional[Dict]:
    """The point's best trial whose model folders exist (keep_all_models false keeps the last only)."""
    config = point.config
    candidates = []
    for trial in trials:
        folder = config.trial_model_dir(trial["trial"])
        models = {t: task_model_dir(folder, t, len(config.task_names)) for t in config.task_names}
        if all(os.path.isdir(m) for m in models.values()):
            candidates.append((_trial_score(trial, mains), trial["trial"], models))
    candidates = [c for c in candidates if c[0] is not None] or candidates
    if not candidates:
        return None
    pick = (min if lower else max)(candidates, key=lambda c: (c[0] if c[0] is not None else 0.0))
    return {"trial": pick[1], "score": pick[0], "models": pick[2]}


def _cell(stats: Dict[str, float]) -> str:
    return f"{stats['mean']:.2f} ± {stats['sd']:.2f} ({stats['median']:.2f}; {stats['min']:.2f}–{stats['max']:.2f})"


def summary_markdown(summary: Dict[str, Any]) -> str:
    """The summary as Markdown: the best point, then one table per task (and split) with a row per point."""
    names = list(summary["sweep"])
    lines = [f"# Sweep of {','.join(summary['tasks'])}", "",
             f"{summary['finished']} of {summary['points_total']} point(s) finished, {summary['num_trials']} trial(s) "
             f"each. Cells: mean ± sd (median; min–max) over the trials.", ""]
    best = summary["best"]
    mains = summary["selection"]["metrics"]
    if best:
        chosen = ", ".join(f"{k}={v}" for k, v in best["values"].items())
        metric = ", ".join(f"{t} {m}" for t, m in mains.items())
        lines += [f"Best point by dev {metric} (mean over trials): **{chosen}** (run_name `{best['run_name']}`), "
                  f"{best['score']:.2f}."]
        for task, path in best["models"].items():
            lines.append(f"Its best trial ({best['trial']}) model for {task}: `{path}`")
        lines.append("")
    for split in ("dev", "eval"):
        for task in summary["tasks"]:
            metrics: List[str] = []
            for entry in summary["points"]:
                for metric in (entry.get(split) or {}).get(task, {}):
                    if metric not in metrics:
                        metrics.append(metric)
            if not metrics:
                continue
            lines += [f"## {task} ({split})", "", "| " + " | ".join([*names, "status", *metrics]) + " |",
                      "|" + "---|" * (len(names) + 1 + len(metrics))]
            for entry in summary["points"]:
                stats = (entry.get(split) or {}).get(task, {})
                status = entry["status"] + (" **best**" if best and entry["run_name"] == best["run_name"] else "")
                cells = [str(entry["values"][n]) for n in names] + [status]
                cells += [_cell(stats[m]) if m in stats else "" for m in metrics]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def write_summary(config, points, done) -> Dict[str, Any]:
    """Write the sweep's summary files (atomically) and return the summary."""
    summary = build_summary(config, points, done)
    paths = summary_paths(config)
    atomic_write_json(paths["json"], summary)
    atomic_write_text(paths["md"], summary_markdown(summary) + "\n")
    return summary


def plot_summary(config, summary: Dict[str, Any]) -> List[str]:
    """Plot each task's main dev metric against the swept hparams (``results/<tasks>[_<run_name>]_sweep_<task>.png``,
    through ``plots.plot_metric_against``); returns the files written. A plot that cannot be drawn
    (no matplotlib) is a warning: the summary files are the sweep's record."""
    return _plot(os.path.splitext(summary_paths(config)["json"])[0], summary)


def _plot(base: str, summary: Dict[str, Any]) -> List[str]:
    import logging

    from electra_tf.finetuning.plots import plot_metric_against

    logger = logging.getLogger("electra_tf")
    written = []
    for task, metric in summary["selection"]["metrics"].items():
        points = [(entry["values"], [t["dev"][task][metric] for t in entry["trials"]
                                     if _number((t.get("dev") or {}).get(task, {}).get(metric))])
                  for entry in summary["points"] if entry["status"] == "finished"]
        points = [p for p in points if p[1]]
        if not points:
            continue
        path = f"{base}_{task}.png"
        try:
            plot_metric_against(points, f"{task} dev {metric}", path)
        except (ElectraError, ImportError, OSError, ValueError) as e:
            logger.warning("The sweep's plot %s was not written: %s", path, e)
            continue
        written.append(path)
    return written


def report_from_summary(path: str) -> List[str]:
    """Write the Markdown table and the plots of the sweep summary ``path`` (a ``*_sweep.json``)
    again from that file alone (for ``electra-report``); returns the files written."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            summary = json.load(f)
        problem = None if (isinstance(summary, dict) and isinstance(summary.get("selection"), dict)
                           and all(k in summary for k in _SUMMARY_KEYS)) else "keys missing"
    except (OSError, ValueError) as e:
        problem = str(e)
    if problem:
        raise DataError(f"{path} is not a readable sweep summary ({problem}); run the sweep's command again to write "
                        f"it (finished points are not trained again).")
    base = os.path.splitext(path)[0]
    atomic_write_text(base + ".md", summary_markdown(summary) + "\n")
    return [base + ".md", *_plot(base, summary)]
