"""The results files of a fine-tuning run, written together so that they always agree.

``results.txt`` (the original's format: one line per task and trial), ``results.pkl``,
``results.json`` (per trial with its seed and step, max/mean/min/std over trials) and
``config.json`` (the resolved hparams, the model config and each trial's seed: what was
actually trained and evaluated).
"""

from __future__ import annotations

import pickle
from typing import Dict, List

import numpy as np

from electra_tf.finetuning.scoring import format_results
from electra_tf.utils.files import atomic_write_bytes, atomic_write_json, atomic_write_text


def config_json_path(config) -> str:
    """``results/<tasks>_config.json`` beside ``<tasks>_results.txt`` (only the name's last
    ``_results`` is replaced: a run_name may contain that word)."""
    import os

    base = os.path.splitext(config.results_txt)[0]
    return (base[:-len("_results")] if base.endswith("_results") else base) + "_config.json"


def write_results(config, trials: List[Dict], resolved: Dict) -> None:
    """Write all results files for ``trials`` and the ``resolved`` configuration they ran with."""
    lines = []
    for trial in trials:
        for task, metrics in trial["results"].items():
            lines.append(task + ": " + format_results(metrics))
    summary: Dict[str, Dict[str, Dict[str, float]]] = {}
    for task in config.task_names:
        values: Dict[str, List[float]] = {}
        for trial in trials:
            for metric, value in trial["results"].get(task, {}).items():
                values.setdefault(metric, []).append(value)
        summary[task] = {m: {"max": float(np.max(v)), "mean": float(np.mean(v)), "min": float(np.min(v)),
                             "std": float(np.std(v)), "n": len(v)} for m, v in values.items()}
    # Serialize everything first: a failure then leaves every earlier file as it was.
    pickled = pickle.dumps([t["results"] for t in trials])
    resolved = {**resolved, "trials": [{"trial": t["trial"], "seed": t["seed"], "global_step": t["global_step"]}
                                       for t in trials]}
    results = {"tasks": config.task_names, "trials": trials, "summary": summary}
    if "run_fingerprint" in resolved:
        results["run_fingerprint"] = resolved["run_fingerprint"]
    atomic_write_json(config.results_json, results)
    atomic_write_bytes(config.results_pkl, pickled)
    atomic_write_text(config.results_txt, "\n".join(lines) + ("\n" if lines else ""))
    # Last: its run_fingerprint marks the files as complete (a rerun that finds it says "finished");
    # a write cut short before it leaves the earlier fingerprint, so the rerun evaluates again.
    atomic_write_json(config_json_path(config), resolved)
