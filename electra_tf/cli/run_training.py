"""The body the run commands share (``finetune``, ``pretrain``): the original's flags, the
logging, the hparams, and the run under ``run_command`` (errors, interrupts, the resume hint)."""

from __future__ import annotations

from typing import Callable, Optional

from electra_tf.cli.arguments import original_run_parser


def run_training_command(argv, description: str, what: str, hparams_help: str, make_config: Callable,
                         run: Callable, resume_hint: Callable[[object], Optional[str]]) -> int:
    """Parse ``--data-dir --model-name --hparams [--verbose]`` from ``argv`` and run the command:
    logging to the console, ``config = make_config(model_name, data_dir, hparams)``, TensorFlow
    started quietly, then ``run(config, args)``. An interrupted run prints ``resume_hint(config)``
    (once the config exists). Returns the exit code."""
    parser = original_run_parser(description, what, hparams_help)
    args = parser.parse_args(argv)

    from electra_tf.cli.support import run_command

    state = {}

    def action():
        from electra_tf.cli.hparams import parse_hparams
        from electra_tf.cli.run_logging import setup_logging
        from electra_tf.cli.startup import start_tensorflow

        setup_logging()
        config = make_config(args.model_name, args.data_dir, parse_hparams(args.hparams))
        state["config"] = config
        start_tensorflow(verbose=args.verbose)  # without TensorFlow's start-up notices (ELECTRA_TF_VERBOSE=1 shows them)
        run(config, args)

    def interrupted_hint():
        config = state.get("config")
        return resume_hint(config) if config is not None else None

    return run_command(action, interrupted_hint=interrupted_hint)
