"""Fine-tune ELECTRA the way the original run_finetuning.py does, on TensorFlow 2 / Keras 3.

    python run_finetuning.py --data-dir DATA_DIR --model-name MODEL --hparams '{"task_names": ["sst"]}'
    python run_finetuning.py --data-dir DATA_DIR --model-name MODEL --hparams configs/params_cmrc2018.json

The pre-trained model is read from DATA_DIR/models/MODEL/ (an original TF1 checkpoint, a
HuggingFace directory or an electra-tf directory), task data from DATA_DIR/finetuning_data/<task>/.
Results go to DATA_DIR/models/MODEL/results/, fine-tuned models to .../finetuning_models/.
"""

from __future__ import annotations

import os
import sys

from electra_tf.cli.arguments import original_run_parser
from electra_tf.cli.run_logging import setup_logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main(argv=None) -> int:
    parser = original_run_parser("Fine-tune ELECTRA (the original recipe on TF2/Keras 3).", "fine-tuned",
                                 "JSON dict of hyperparameters, or a path to a .json file.")
    args = parser.parse_args(argv)

    from electra_tf.cli.support import run_command

    state = {}

    def action():
        from electra_tf.finetuning.hparams import FinetuningConfig, parse_hparams
        from electra_tf.finetuning.scoring import format_results
        from electra_tf.cli.startup import start_tensorflow

        setup_logging()
        hparams = parse_hparams(args.hparams)
        config = FinetuningConfig(args.model_name, args.data_dir, **hparams)
        state["config"] = config
        start_tensorflow(verbose=args.verbose)
        from electra_tf.finetuning.runner import FinetuningRunner
        from electra_tf.training.runtime import log_file_name

        runner = FinetuningRunner(config)  # validates data, vocabulary and checkpoint before writing anything
        setup_logging(log_file_name(runner.strategy, config.model_dir + ".log"))  # one log per worker
        trials = runner.run()
        if trials:
            print(f"Results: {config.results_txt}")
            for trial in trials:
                for task, metrics in trial["results"].items():
                    # a data set without a dev set is scored on its test file: say so next to the figures
                    test_set = ((trial.get("evaluated") or {}).get("dev") or {}).get(task, {}).get("test_set")
                    label = f"{task} (test file scored as dev)" if test_set else task
                    print(f"trial {trial['trial']} (seed {trial['seed']}) {label}: {format_results(metrics)}")

    def resume_hint():
        config = state.get("config")
        if config is None:
            return None
        from electra_tf.finetuning.runner import resumable_checkpoint

        found = resumable_checkpoint(config)
        return f"Run the same command again to resume from {found}." if found else None

    return run_command(action, interrupted_hint=resume_hint)


if __name__ == "__main__":
    sys.exit(main())
