"""Fine-tune ELECTRA the way the original run_finetuning.py does, on TensorFlow 2 / Keras 3.

    python run_finetuning.py --data-dir DATA_DIR --model-name MODEL --hparams '{"task_names": ["sst"]}'
    python run_finetuning.py --data-dir DATA_DIR --model-name MODEL --hparams configs/params_cmrc2018.json

The pre-trained model is read from DATA_DIR/models/MODEL/ (an original TF1 checkpoint, a
HuggingFace directory or an electra-tf directory), task data from DATA_DIR/finetuning_data/<task>/.
Results go to DATA_DIR/models/MODEL/results/, fine-tuned models to .../finetuning_models/.
"""

from __future__ import annotations

import json
import os

from electra_tf.cli.process_exit import as_command
from electra_tf.cli.run_training import run_training_command

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def make_config(model_name: str, data_dir: str, hparams: dict):
    """The fine-tuning config of the command line."""
    from electra_tf.finetuning.hparams import FinetuningConfig

    return FinetuningConfig(model_name, data_dir, **hparams)


def run_single(config):
    """One fine-tuning run (its trials) with its own log file; returns the trial records."""
    from electra_tf.cli.run_logging import setup_logging
    from electra_tf.finetuning.runner import FinetuningRunner
    from electra_tf.training.runtime import log_file_name

    runner = FinetuningRunner(config)  # validates data, vocabulary and checkpoint before writing anything
    setup_logging(log_file_name(runner.strategy, config.model_dir + ".log"))  # one log per worker
    return runner.run()


def print_trials(config, trials) -> None:
    """The results of a run's trials, one line per trial and task."""
    from electra_tf.finetuning.scoring import format_results

    if trials:
        print(f"Results: {config.results_txt}")
        for trial in trials:
            for task, metrics in trial["results"].items():
                # a data set without a dev set is scored on its test file: say so next to the figures
                test_set = ((trial.get("evaluated") or {}).get("dev") or {}).get(task, {}).get("test_set")
                label = f"{task} (test file scored as dev)" if test_set else task
                print(f"trial {trial['trial']} (seed {trial['seed']}) {label}: {format_results(metrics)}")


def run_sweep(config) -> None:
    """The points of ``config.sweep``, each a run of its own (see finetuning/sweep.py), then the
    summary and the best point."""
    from electra_tf.finetuning import sweep, sweep_summary

    summary = {}

    def write(config_, points, done):
        summary.clear()
        summary.update(sweep_summary.write_summary(config_, points, done))

    sweep.run_sweep(config, run_single, write)
    paths = sweep_summary.summary_paths(config)
    print(f"Sweep summary: {paths['json']} and {paths['md']}")
    for plot in sweep_summary.plot_summary(config, summary):
        print(f"Plot: {plot}")
    best = summary.get("best")
    if best:
        metrics = ", ".join(f"{t} {m}" for t, m in summary["selection"]["metrics"].items())
        print(f"Best point by dev {metrics}: {json.dumps(best['values'])} (mean {best['score']:.2f}, "
              f"run_name {best['run_name']})")
        for task, path in best["models"].items():
            print(f"Best model ({task}, trial {best['trial']}): {path}")


def run(config, args) -> None:
    """Run the fine-tuning trials (or the sweep's points) and print their results."""
    if config.sweep is not None:
        run_sweep(config)
        return
    print_trials(config, run_single(config))


def resume_hint(config):
    """What to do after an interruption: rerun to resume from the newest trial checkpoint (for a
    sweep: finished points are kept, the interrupted point resumes)."""
    from electra_tf.finetuning.runner import resumable_checkpoint

    if config.sweep is not None:
        from electra_tf.finetuning.sweep import build_point_configs, sweep_points

        points = sweep_points(config)
        build_point_configs(config, points)
        found = [c for c in (resumable_checkpoint(p.config) for p in points) if c]
        return ("Run the same command again: finished sweep points are kept"
                + (f" and the interrupted one resumes from {found[-1]}." if found else "."))
    found = resumable_checkpoint(config)
    return f"Run the same command again to resume from {found}." if found else None


def main(argv=None) -> int:
    """The command line of run_finetuning.py (see the module docstring)."""
    return run_training_command(argv, "Fine-tune ELECTRA (the original recipe on TF2/Keras 3).", "fine-tuned",
                                "JSON dict of hyperparameters, or a path to a .json file.", make_config, run,
                                resume_hint)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
