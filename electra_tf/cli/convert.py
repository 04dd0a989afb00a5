"""Convert ELECTRA checkpoints between the original TF1, HuggingFace and electra-tf Keras layouts.

    python convert/convert_checkpoint.py --input PATH --output DIR --to {keras,hf,tf1}
        [--model-type {pretraining,sequence-classification,token-classification,question-answering,base,generator}]
        [--config CONFIG.json] [--task-name NAME] [--num-attention-heads N] [--strict]

The input format is detected (any format of electra_tf.checkpoints.registry, including a
fine-tuning training checkpoint); the --to choices are the registry's writable formats. It
prints what was mapped, what was skipped and why, and the parameter count; anything it cannot
map fails the conversion with its name.

Where it writes (electra_tf/utils/output_targets.py): never into the input's own folder or a folder
holding the input, ``--config`` or ``--vocab`` (whatever the flags); an existing folder only when
it is empty or an earlier conversion's to the same format (it carries ``.electra-tf-output.json``,
left by every conversion), else with ``--overwrite`` (which replaces the files of the same names and leaves the
others). A symlink to a folder is followed.
"""

from __future__ import annotations

import argparse
import json
import os

from electra_tf.cli.process_exit import as_command


MODEL_TYPES = ("pretraining", "sequence-classification", "token-classification", "question-answering", "base", "generator")


def check_generator_request(path: str, model_type: str, skip_generator: bool) -> None:
    """Generator weights are converted (--model-type generator) or skipped on request, never silently."""
    from electra_tf.checkpoints import tf1
    from electra_tf.checkpoints.registry import detect_format
    from electra_tf.errors import CheckpointError

    if model_type == "generator" or skip_generator or detect_format(path).name != tf1.TF1Format.name:
        return
    names = tf1.list_tf1_variables(tf1.resolve_checkpoint_prefix(path))
    generator = sorted(n for n in names if n.startswith(("generator/", "generator_predictions/")) and "adam_" not in n)
    if generator:
        raise CheckpointError(
            f"{path} also holds {len(generator)} generator weights (e.g. {generator[0]}); pass --skip-generator to "
            f"convert only the discriminator, or --model-type generator to convert the generator."
        )


def source_task_name(path: str):
    """The task_specific/<task> name of a fine-tuned TF1 input, kept when writing TF1 again."""
    from electra_tf.checkpoints import tf1
    from electra_tf.checkpoints.registry import detect_format

    if detect_format(path).name != tf1.TF1Format.name:
        return None
    names = tf1.list_tf1_variables(tf1.resolve_checkpoint_prefix(path))
    tasks = sorted({n.split("/")[1] for n in names if n.startswith("task_specific/")})
    return tasks[0] if len(tasks) == 1 else None


def conversion_inputs(args):
    """What the conversion reads, as ``(label, path)`` pairs: ``--input`` and, for a TF1 prefix
    or a weights file, its folder; ``--config``; ``--vocab``."""
    inputs = [("the --input", args.input)]
    if not os.path.isdir(args.input) and (os.path.isfile(args.input) or os.path.exists(args.input + ".index")):
        inputs.append(("the folder of the --input", os.path.dirname(os.path.abspath(args.input))))
    if args.config:
        inputs.append(("the --config file", args.config))
    if args.vocab:
        inputs.append(("the --vocab file", args.vocab))
    return inputs


def build_parser() -> argparse.ArgumentParser:
    """The command line; ``--to`` offers the registry's writable formats."""
    from electra_tf.checkpoints.registry import writable_names

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="checkpoint directory, TF1 prefix or HF weights file")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--to", required=True, choices=writable_names(), help="output format")
    parser.add_argument("--model-type", choices=MODEL_TYPES, default=None,
                        help="which model/head to convert (default: the checkpoint's own, else pretraining)")
    parser.add_argument("--config", default=None, help="ElectraConfig JSON to use instead of the stored/inferred one")
    parser.add_argument("--task-name", default=None, help="task_specific/<task> head to read or write (TF1)")
    parser.add_argument("--num-attention-heads", type=int, default=None,
                        help="for TF1 checkpoints without a config: heads (default hidden_size // 64, the original rule)")
    parser.add_argument("--vocab", default=None, help="vocab.txt to ship with the output (default: the input's)")
    parser.add_argument("--skip-generator", action="store_true",
                        help="convert only the discriminator of a pre-training checkpoint that also holds the generator")
    parser.add_argument("--allow-dropping-heads", action="store_true",
                        help="--to hf: write the model even when its head has no transformers equivalent (the original "
                             "classification or QA head, a CRF); the dropped weights are named")
    parser.add_argument("--strict", action="store_true",
                        help="fail on anything not mapped except optimizer slots and global_step (e.g. other heads)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an existing folder that holds other files (files of the same names are replaced)")
    parser.add_argument("--verbose", action="store_true", help="Show TensorFlow's start-up notices.")
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)

    from electra_tf.cli.support import run_command

    def action():
        from electra_tf.utils.output_targets import is_marked, mark_folder, output_directory, unmark_folder

        output = output_directory(args.output, conversion_inputs(args), overwrite=args.overwrite,
                                  owned=lambda folder: is_marked(folder, "convert", to=args.to), what="the converted model",
                                  replaces=False)
        from electra_tf.cli.startup import start_tensorflow

        start_tensorflow(verbose=args.verbose)
        from electra_tf.config import ElectraConfig
        from electra_tf.model_dir.loader import open_model_directory

        # the input as given: a run's trial folder converts as its training checkpoint
        directory = open_model_directory(args.input, args.task_name, args.model_type, resolve=False)
        meta, model_type = directory.metadata, directory.model_type
        config = ElectraConfig.from_json_file(args.config) if args.config else None
        if config is None and args.num_attention_heads:
            from electra_tf.checkpoints import tf1

            config = tf1.infer_config(tf1.list_tf1_variables(tf1.resolve_checkpoint_prefix(args.input)), args.input,
                                      model_type, num_attention_heads=args.num_attention_heads)
        check_generator_request(args.input, model_type, args.skip_generator)
        cls = directory.model_class
        requested = ("generator weights",) if args.skip_generator else ()
        model = directory.load_model(config=config, strict=args.strict, requested_skips=requested)
        vocab = args.vocab if args.vocab is not None else directory.vocab_txt()
        task_name = args.task_name or source_task_name(args.input)
        do_lower_case = directory.do_lower_case(vocab)
        # Marked before the files are written: a conversion killed half-way can be run again as it
        # was. A conversion that fails with an error leaves a folder it created as it found it.
        fresh = not os.path.isdir(output) or not os.listdir(output)
        mark_folder(output, "convert", to=args.to)
        try:
            model.save_pretrained(output, format=args.to, vocab_file=vocab, task_name=task_name,
                                  do_lower_case=do_lower_case, allow_dropping_heads=args.allow_dropping_heads)
        except BaseException:
            if fresh:
                unmark_folder(output)
            raise
        if meta is not None and args.to != "tf1" and model_type == meta.model_type:
            meta.write(output)  # predict.py and the exports read the task's settings from it
        report = model.load_report
        print(f"Model type: {model_type} ({cls.__name__}), head: {model.config.head}")
        print(report.summary())
        summary = {
            "input": args.input, "output": args.output, "to": args.to, "model_type": model_type,
            "mapped": len(report.mapped), "parameters": report.parameter_count,
            "newly_initialized": report.newly_initialized, "skipped": len(report.skipped),
        }
        print(json.dumps(summary))

    return run_command(action)


#: The console command (pyproject.toml) and ``python -m``: main(), then exit_process.
command = as_command(main)

if __name__ == "__main__":
    command()
