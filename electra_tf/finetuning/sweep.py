"""Sweeps: the hparam ``"sweep"`` ({hparam: [values]}) is the grid of their combinations.

Each point of the grid is an ordinary fine-tuning run with its own ``run_name`` (derived from the
point's values, so the same point always has the same name): its own folders, lock, run identity,
resume and results. An interrupted sweep therefore continues where it stopped (the point's run
resumes from its checkpoint) and a finished point is never trained again (a finished run writes
nothing). Points are claimed through the runs' locks: a process that finds a point's lock held by
another process goes on to the next point and comes back to it at the end, waiting for the holder;
so several terminals, or the tasks of a Slurm array, share one sweep and run each point once.

After every point the summary (``results/<tasks>[_<run_name>]_sweep.json`` and ``.md``, see
``sweep_summary.py``) is rewritten. Nothing here trains: the caller gives ``run_point(config)``
(the command's single run), so this module stays below the runner in the layers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import time
from typing import Any, Callable, Dict, List, Optional

from electra_tf.errors import ConfigError, closest

logger = logging.getLogger("electra_tf")

#: Hparams a sweep may not vary, with the reason given in the error.
FORBIDDEN = {
    "sweep": "a sweep cannot contain a sweep",
    "run_name": "each point gets its own run_name from its values; the sweep's run_name (outside \"sweep\") names "
                "the whole sweep",
    "seed": "each point is run num_trials times with seeds seed, seed+1, ... (or random ones), all recorded; set "
            "\"seed\" and \"num_trials\" outside \"sweep\"",
    "num_trials": "every point is run num_trials times; set it outside \"sweep\"",
    "task_names": "a sweep is over one task set (its summary is results/<tasks>_sweep.json); run one sweep per task "
                  "set",
    "model_name": "a sweep is written inside one model's folder; run one sweep per model, or vary init_checkpoint",
    "overwrite_model_dir": "it changes nothing the results depend on",
}

#: Hparams that change what is written, shown or how fast, but not a run's results: sweeping them
#: would train identical models under several names.
NO_EFFECT = frozenset({
    "do_train", "do_eval", "do_test", "keep_all_models", "log_examples", "write_test_outputs", "n_writes_test",
    "eval_batch_size", "predict_batch_size", "export_saved_model", "use_tfrecords_if_existing", "iterations_per_loop",
    "keep_checkpoint_max", "save_checkpoints_steps", "save_checkpoints_secs", "resume", "progress", "log_every_steps",
    "distribution_strategy", "cluster_resolver", "cluster_timeout_secs", "jit_compile", "use_tpu", "num_tpu_cores",
    "tpu_job_name", "tpu_name", "tpu_zone", "gcp_project", "tfds_data_dir", "model_revision",
    # locations of outputs and caches (the sweep names its runs' outputs itself)
    "data_dir", "raw_data_dir", "model_dir", "results_txt", "results_pkl", "qa_eval_file", "qa_preds_file",
    "qa_na_file", "preprocessed_data_dir", "test_predictions",
})

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
_MAX_NAME = 100  # run_name's limit (finetuning/hparams.check_run_name)
POLL_SECONDS = 2.0  # how often a waiting worker looks at the locks of points other processes hold


@dataclasses.dataclass
class SweepPoint:
    """One point of the grid: its hparam values, run name and (once built) its run's config."""

    values: Dict[str, Any]
    run_name: str
    config: Any = None


def check_sweep(config) -> None:
    """Refuse a sweep that cannot run as meant, before anything runs: not a dict of non-empty
    lists, unknown or forbidden hparams, values of the wrong type, a value listed twice, and
    settings a sweep cannot work with. Nothing to check when ``config.sweep`` is None."""
    sweep = config.sweep
    if sweep is None:
        return
    example = 'e.g. {"learning_rate": [1e-4, 3e-4], "layerwise_lr_decay": [0.8, 0.9]}'
    if not isinstance(sweep, dict) or not sweep:
        raise ConfigError(f"hparam sweep must be a JSON object from hparam names to lists of values, {example}; "
                          f"got {sweep!r}.")
    known = [n for n in config.hparam_names()]
    for name, values in sweep.items():
        if name not in known:
            raise ConfigError(f"hparam sweep names {name!r}, which is not an hparam.{closest(name, known)}")
        if name in FORBIDDEN:
            raise ConfigError(f"hparam sweep cannot vary {name!r}: {FORBIDDEN[name]}.")
        if name in NO_EFFECT:
            raise ConfigError(f"hparam sweep varies {name!r}, which does not change a run's results: every point would "
                              f"train the same model. Set it outside \"sweep\" and sweep over a training setting, "
                              f"{example}.")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"hparam sweep: the values of {name!r} must be a non-empty list, e.g. "
                              f"\"{name}\": [{json.dumps(config.DEFAULTS.get(name))}], got {values!r}.")
        default = config.DEFAULTS.get(name)
        seen = []
        for value in values:
            if default is not None and not (value is None and config.ALLOW_NULL) and not config.type_ok(name, default, value):
                raise ConfigError(f"hparam sweep: {name!r} takes a {type(default).__name__} (like its default "
                                  f"{default!r}); the value {value!r} is a {type(value).__name__}.")
            canonical = _canonical(default, value)
            if canonical in seen:
                raise ConfigError(f"hparam sweep lists the value {value!r} of {name!r} twice; list each value once.")
            seen.append(canonical)
    if config.num_trials < 1:
        raise ConfigError(f"hparam num_trials={config.num_trials} with a sweep: every point needs a bounded number of "
                          f"trials (at least 1).")
    if config.overwrite_model_dir:
        raise ConfigError("hparam overwrite_model_dir cannot be used with a sweep: a finished point would be trained "
                          "again by every rerun and every worker. To start a sweep afresh, give it another run_name.")
    if config.distribution_strategy == "multi_worker_mirrored":
        raise ConfigError("A sweep's points are claimed by independent processes; with multi_worker_mirrored the "
                          "workers of one run would claim different points. Run the sweep in several independent "
                          "processes instead (each one_device or mirrored).")


def _canonical(default: Any, value: Any) -> str:
    """The value as the point names and compares it: an int given for a float hparam is that float."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def point_run_name(config, values: Dict[str, Any]) -> str:
    """The run_name of the point with ``values``: ``<sweep>--<hparam>-<value>--...`` (hparams in
    name order, so the order of the sweep's keys does not matter; ``<sweep>`` is the sweep's
    run_name or "sweep"). Characters a run_name cannot hold become "_"; such a name, or one longer
    than a run_name may be, is cut short and ends with a hash of the values, so names never collide."""
    prefix = config.run_name or "sweep"
    canonical = {name: _canonical(config.DEFAULTS.get(name), value) for name, value in sorted(values.items())}
    parts = []
    for name, text in canonical.items():
        text = text[1:-1] if text.startswith('"') and text.endswith('"') and len(text) >= 2 else text
        parts.append(f"{name}-{text}")
    readable = "--".join([prefix, *parts])
    name = "".join(c if c in _NAME_CHARS else "_" for c in readable)
    if name != readable or len(name) > _MAX_NAME:
        digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:10]
        name = name[:_MAX_NAME - 12].rstrip("-") + "--" + digest
    return name


def sweep_points(config) -> List[SweepPoint]:
    """The grid of ``config.sweep`` in the order given (the first hparam varies slowest), each
    point with its run name (no config yet: see ``build_point_configs``)."""
    check_sweep(config)
    names = list(config.sweep)
    points = []
    for combination in itertools.product(*(config.sweep[n] for n in names)):
        values = dict(zip(names, combination))
        points.append(SweepPoint(values, point_run_name(config, values)))
    return points


def build_point_configs(config, points: List[SweepPoint]) -> None:
    """Each point's run config: the user's hparams, the point's values and its run_name, no sweep.
    Built for every point before anything runs, so a bad value is refused first (naming the point)."""
    base = {k: v for k, v in config.user_hparams.items() if k not in ("sweep", "run_name")}
    for point in points:
        try:
            point.config = type(config)(config.model_name, config.data_dir,
                                        **{**base, **point.values, "run_name": point.run_name})
        except ConfigError as e:
            raise ConfigError(f"Sweep point {json.dumps(point.values)}: {e}") from None


def _lock_holder(point_config) -> Optional[str]:
    """Who holds the point's run lock (a description), or None when it is free."""
    from electra_tf.training.run_lock import RunLock, RunLockedError

    lock = RunLock(point_config.model_dir, what="fine-tuning run")
    try:
        lock.acquire()
    except RunLockedError as e:
        return str(e).split(". Wait for it")[0]  # who holds it, without the advice meant for a single run
    lock.release()
    return None


def run_sweep(config, run_point: Callable[[Any], List[Dict]], write_summary: Callable[[Any, List[SweepPoint], Dict], None],
              poll_seconds: float = POLL_SECONDS) -> Dict[str, Optional[List[Dict]]]:
    """Run every point of ``config.sweep`` with ``run_point(point_config)`` (returns the point's
    trial records; raises RunLockedError when another process holds the point). Points held by
    others are skipped, then waited for at the end. ``write_summary(config, points, done)`` is
    called after every point (``done``: run_name -> trials, or None while another process holds
    it). Returns ``done`` with every point finished."""
    from electra_tf.training.run_lock import RunLockedError

    points = sweep_points(config)
    build_point_configs(config, points)
    logger.info("Sweep of %d point(s) x %d trial(s): %s", len(points), config.num_trials,
                ", ".join(f"{k} in {json.dumps(v)}" for k, v in config.sweep.items()))
    done: Dict[str, Optional[List[Dict]]] = {}

    def attempt(point: SweepPoint) -> bool:
        try:
            trials = run_point(point.config)
        except RunLockedError:
            done[point.run_name] = None  # in progress elsewhere
            return False
        done[point.run_name] = trials
        write_summary(config, points, done)
        return True

    waiting: List[SweepPoint] = []
    for i, point in enumerate(points, 1):
        logger.info("Sweep point %d/%d %s (run_name %s)", i, len(points), json.dumps(point.values), point.run_name)
        if not attempt(point):
            logger.info("Sweep point %s is being run by another process; coming back to it at the end.", point.run_name)
            waiting.append(point)
            write_summary(config, points, done)
    reported = set()
    while waiting:
        for point in list(waiting):
            holder = _lock_holder(point.config)
            if holder is None and attempt(point):
                waiting.remove(point)
            elif point.run_name not in reported:
                reported.add(point.run_name)
                logger.info("Waiting for sweep point %s: %s", point.run_name, holder or "another process took it")
        if waiting:
            time.sleep(poll_seconds)
    return done
