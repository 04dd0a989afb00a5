"""electra-report: write a fine-tuning run's model cards (README.md) and plots again from what the run wrote.

    electra-report DATA_DIR/models/MODEL/finetuning_models/sst_model_1          (a trial folder)
    electra-report DATA_DIR/models/MODEL/finetuning_models/sst_model_1/model    (a model directory)
    electra-report --data-dir DATA_DIR --model-name MODEL --tasks sst [--run-name NAME] [--trial N]

Nothing is trained or evaluated and TensorFlow is not started: the card comes from the run's
results and config files, its run_identity.json, data_files.json and task.json, the plots from its
TensorBoard events (matplotlib: pip install electra-tf[report]). Files whose content would not
change are not touched; a README.md that is not an electra-tf card is never replaced.
"""

from __future__ import annotations

import argparse
import os

from electra_tf.cli.process_exit import as_command


def build_parser() -> argparse.ArgumentParser:
    """The command line (parsed before anything heavy is imported)."""
    parser = argparse.ArgumentParser(prog="electra-report", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("run", nargs="?", help="a trial folder (finetuning_models/<tasks>_model_<trial>), a "
                                               "model directory inside one, or a sweep's summary "
                                               "(results/<tasks>_sweep.json: its table and plots)")
    parser.add_argument("--data-dir", help="with --model-name and --tasks: the run's data directory")
    parser.add_argument("--model-name", help="the pre-trained model's folder name in <data-dir>/models/")
    parser.add_argument("--tasks", help="the run's task names, comma-separated as in its folder names (e.g. sst,rte)")
    parser.add_argument("--run-name", default=None, help="the run's run_name hparam, if it had one")
    parser.add_argument("--trial", type=int, default=None, help="one trial (default: every trial folder of the run)")
    parser.add_argument("--no-plots", action="store_true", help="write the cards only (no matplotlib needed)")
    return parser


def trial_dirs(args) -> list:
    """The trial folders the arguments name."""
    import glob

    from electra_tf.errors import ConfigError
    from electra_tf.finetuning.model_card import find_trial_dir

    if args.run:
        if any((args.data_dir, args.model_name, args.tasks)):
            raise ConfigError("give either a run folder or --data-dir, --model-name and --tasks, not both.")
        if not os.path.isdir(args.run):
            raise ConfigError(f"Run folder not found: {args.run}")
        return [find_trial_dir(args.run)]
    if not (args.data_dir and args.model_name and args.tasks):
        raise ConfigError("give a run's trial folder, or --data-dir, --model-name and --tasks.")
    run = args.tasks + (f"_{args.run_name}" if args.run_name else "")
    base = os.path.join(args.data_dir, "models", args.model_name, "finetuning_models", run + "_model")
    if args.trial is not None:
        found = [f"{base}_{args.trial}"] if os.path.isdir(f"{base}_{args.trial}") else []
    else:
        found = sorted((p for p in glob.glob(glob.escape(base) + "_*") if p[len(base) + 1:].isdigit()),
                       key=lambda p: int(p[len(base) + 1:]))
    if not found:
        raise ConfigError(f"No trial folder {base}_{args.trial if args.trial is not None else '<trial>'}: check "
                          f"--data-dir, --model-name, --tasks and --run-name (the run's folder names are "
                          f"<tasks>[_<run_name>]_model_<trial>).")
    return found


def main(argv=None) -> int:
    """Write the cards and plots of the trial folders named on the command line."""
    args = build_parser().parse_args(argv)
    from electra_tf.cli.support import run_command

    def action():
        from electra_tf.finetuning.model_card import write_report

        if args.run and os.path.isfile(args.run) and args.run.endswith("_sweep.json"):
            from electra_tf.finetuning.sweep_summary import report_from_summary

            written = report_from_summary(args.run)
            print(f"{args.run}: " + ", ".join(written) + " written")
            return
        for folder in trial_dirs(args):
            written = write_report(folder, draw=not args.no_plots)
            print(f"{folder}: " + (", ".join(os.path.relpath(p, folder) for p in written) + " written" if written
                                   else "card and plots already current (nothing written)"))

    return run_command(action)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
