"""A fine-tuned single-task run saved as a model directory that from_pretrained, predict.py and
the SavedModel export read: the encoder and the task's head under the single-task class's names,
the config with the labels, and the tokenizer files."""

from __future__ import annotations

import logging
import os

from electra_tf.finetuning.task import head_weight_prefix

logger = logging.getLogger("electra_tf")

MODEL_SUBDIR = "model"  # the exported single-task model inside a trial's model_dir


def export_task_model(model, task, model_config, config, model_dir: str) -> None:
    """Write ``<model_dir>/model`` (and ``saved_model`` when ``export_saved_model``) for ``task``."""
    from electra_tf.checkpoints.hf import write_tokenizer_files
    from electra_tf.checkpoints.state import assign_state
    from electra_tf.modeling.models import MODEL_CLASSES

    info = task.export_info()
    if not info.exportable:
        logger.info("%s", info.reason)
        return
    prefix = head_weight_prefix(task.name)
    state = {ref.name[len(prefix):] if ref.name.startswith(prefix) else ref.name: ref.variable.numpy()
             for ref in model.hf_weights()}
    cfg = model_config.replace(num_labels=info.num_labels, head=config.head)
    if info.labels:
        cfg = cfg.replace(id2label=dict(enumerate(info.labels)), label2id={l: i for i, l in enumerate(info.labels)})
    export = MODEL_CLASSES[info.model_type](cfg).build_with_dummy_inputs()
    assign_state(export, state, source="fine-tuned model", strict=True)
    target = os.path.join(model_dir, MODEL_SUBDIR)
    export.save_pretrained(target, format="keras")
    if config.vocab_file.endswith(".txt"):
        write_tokenizer_files(target, config.vocab_file, config.do_lower_case)
    if config.export_saved_model:
        from electra_tf.serving import export_saved_model

        vocab = config.vocab_file if config.vocab_file.endswith(".txt") else None
        export_saved_model(export, os.path.join(model_dir, "saved_model"), vocab, config.do_lower_case,
                           config.max_seq_length)
        logger.info("SavedModel written to %s", os.path.join(model_dir, "saved_model"))
