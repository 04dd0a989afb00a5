"""Command-line arguments shared by the commands."""

from __future__ import annotations

import argparse


def original_run_parser(description: str, what: str, hparams_help: str) -> argparse.ArgumentParser:
    """The original run_finetuning.py / run_pretraining.py flags (--data-dir, --model-name,
    --hparams) plus --verbose, for a run of ``what`` ("fine-tuned", "pre-trained")."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-dir", required=True, help="Location of data files (model weights, etc).")
    parser.add_argument("--model-name", required=True, help=f"The name of the model being {what}.")
    parser.add_argument("--hparams", default="{}", help=hparams_help)
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    return parser
