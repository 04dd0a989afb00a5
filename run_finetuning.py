"""Fine-tune ELECTRA the way the original run_finetuning.py does, on TensorFlow 2 / Keras 3.

    python run_finetuning.py --data-dir DATA_DIR --model-name MODEL --hparams '{"task_names": ["sst"]}'
    python run_finetuning.py --data-dir DATA_DIR --model-name MODEL --hparams configs/params_cmrc2018.json

The pre-trained model is read from DATA_DIR/models/MODEL/ (an original TF1 checkpoint, a
HuggingFace directory or an electra-tf directory), task data from DATA_DIR/finetuning_data/<task>/.
Results go to DATA_DIR/models/MODEL/results/, fine-tuned models to .../finetuning_models/.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def setup_logging(log_file: str = None) -> None:
    logger = logging.getLogger("electra_tf")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    if not logger.handlers:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(formatter)
        logger.addHandler(console)
    file_only = logging.getLogger("electra_tf.file")
    for log in (logger, file_only):
        for old in [h for h in log.handlers if isinstance(h, logging.FileHandler)]:
            log.removeHandler(old)  # a previous run in this process
            old.close()
    if log_file:
        os.makedirs(os.path.dirname(log_file), exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        # Lines that go to the log file only (progress lines while a progress bar is shown).
        file_only.setLevel(logging.INFO)
        file_only.propagate = False
        file_only.addHandler(handler)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fine-tune ELECTRA (the original recipe on TF2/Keras 3).")
    parser.add_argument("--data-dir", required=True, help="Location of data files (model weights, etc).")
    parser.add_argument("--model-name", required=True, help="The name of the model being fine-tuned.")
    parser.add_argument("--hparams", default="{}", help="JSON dict of hyperparameters, or a path to a .json file.")
    args = parser.parse_args(argv)

    from electra_tf.errors import ElectraError
    from electra_tf.finetuning.hparams import FinetuningConfig, parse_hparams

    try:
        setup_logging()
        hparams = parse_hparams(args.hparams)
        config = FinetuningConfig(args.model_name, args.data_dir, **hparams)
        from electra_tf.finetuning.runner import FinetuningRunner

        runner = FinetuningRunner(config)  # validates data, vocabulary and checkpoint before writing anything
        setup_logging(config.model_dir + ".log")
        trials = runner.run()
    except ElectraError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted: run the same command again to resume from the last checkpoint.", file=sys.stderr)
        return 130
    if trials:
        print(f"Results: {config.results_txt}")
        for trial in trials:
            for task, metrics in trial["results"].items():
                print(f"trial {trial['trial']} (seed {trial['seed']}) {task}: "
                      + " - ".join(f"{k}: {v:.2f}" for k, v in metrics.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
