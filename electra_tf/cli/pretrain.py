"""Pre-train ELECTRA the way the original run_pretraining.py does, on TensorFlow 2 / Keras 3.

    python run_pretraining.py --data-dir DATA_DIR --model-name NAME [--hparams '{...}' | params.json]

Reads DATA_DIR/vocab.txt and DATA_DIR/pretrain_tfrecords/pretrain_data.tfrecord* (written by
build_pretraining_dataset.py); writes DATA_DIR/models/NAME/: training checkpoints (rerun the same
command to resume; a finished run stays finished, and a rerun with other training settings is
refused, naming them), then the original TF1 layout (model.ckpt-<step>, discriminator.json,
generator.json, vocab.txt) that run_finetuning.py --model-name NAME fine-tunes. One process per
model at a time. The records are checked (against build_pretraining_dataset.py's manifest, or
read once in full) before the first step. Evaluation:
--hparams '{"do_train": false, "do_eval": true}' writes DATA_DIR/models/NAME/results/unsup_results.txt.
"""

from __future__ import annotations

import os
import sys

from electra_tf.cli.process_exit import as_command
from electra_tf.cli.run_training import run_training_command

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def make_config(model_name: str, data_dir: str, hparams: dict):
    """The pre-training config of the command line (the runner writes it to the model directory
    when it trains; ``print_config`` also prints it sorted to stderr, as the original did every time)."""
    from electra_tf.pretraining.config import PretrainingConfig

    config = PretrainingConfig(model_name, data_dir, **hparams)
    if config.print_config:
        print("Config:\n" + str(config), file=sys.stderr)  # printed sorted, as the original
    return config


def run(config, args) -> None:
    """Pre-train (or evaluate) and print where the result is."""
    from electra_tf.cli.run_logging import setup_logging
    from electra_tf.pretraining.runner import PretrainingRunner
    from electra_tf.training.runtime import log_file_name

    runner = PretrainingRunner(config)
    setup_logging(log_file_name(runner.strategy, os.path.join(config.model_dir, "pretraining.log")))
    if config.do_train:
        step = runner.train()
        if runner.already_finished:
            print(f"Already pre-trained to step {step} (nothing to do): {config.model_dir}")
        else:
            print(f"Pre-trained to step {step}: {config.model_dir}")
    else:
        results = runner.evaluate()
        print(f"Results: {config.results_txt}")
        print(" - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in results.items()))


def resume_hint(config):
    """What to do after an interruption: rerun to resume from the newest training checkpoint."""
    from electra_tf.training.checkpointing import latest_checkpoint

    found = latest_checkpoint(config.training_dir)
    return f"Run the same command again to resume from {found}." if found else None


def main(argv=None) -> int:
    """The command line of run_pretraining.py (see the module docstring)."""
    return run_training_command(argv, "Pre-train ELECTRA (the original recipe on TF2/Keras 3).", "pre-trained",
                                "JSON dict of model hyperparameters, or a path to a .json file.", make_config, run,
                                resume_hint)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
