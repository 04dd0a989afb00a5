"""The model directory of every trained task: what predict.py, the SavedModel export, the
converter and from_pretrained read.

A single-task run writes ``<trial>/model/``; a multi-task run one directory per task,
``<trial>/model/<task>/`` (the shared encoder with that task's head). Each holds the weights in
our Keras layout under the single-task class's names, ``config.json`` (encoder, labels, head
and head options; a CRF tagger's ``head_options`` say ``"crf": true`` and its CRF weights hold
the decoding scores, constraints included), the tokenizer files and ``task.json``
(model_dir.metadata.TaskMetadata). The names and places are model_dir.layout's.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import List, Optional

from electra_tf.finetuning.features import tokenizer_cache_fields
from electra_tf.finetuning.task import head_weight_prefix
from electra_tf.model_dir.layout import (MODEL_SUBDIR, RUN_TASKS_FILE, task_model_dir,  # noqa: F401  (re-exported)
                                         task_saved_model_dir)
from electra_tf.model_dir.metadata import TaskMetadata

logger = logging.getLogger("electra_tf")


def tokenizer_settings(config, tokenizer=None) -> dict:
    """The tokenizer section of task.json: the file the model directory ships and its options.

    ``strip_accents`` and ``tokenize_chinese_chars`` (taken from the checkpoint's tokenizer
    settings, see finetuning.tokenizer_settings.resolve_tokenizer_settings) are written only when they
    differ from the original's behaviour, so task.json of an original-style run is unchanged.
    """
    # the names copy_tokenizer_files writes, whatever the source file was called
    section = {"file": "vocab.txt" if config.vocab_file.endswith(".txt") else
               ("spm.model" if config.vocab_file.endswith(".model") else None),
               "do_lower_case": bool(config.do_lower_case), "space_token": config.space_token}
    section.update(tokenizer_cache_fields(tokenizer))  # the same rule as the feature cache's key
    return section


def task_metadata(task, config, trained: Optional[dict] = None) -> TaskMetadata:
    """The metadata of ``task`` trained under FinetuningConfig ``config``."""
    info = task.export_info()
    return TaskMetadata(task_name=task.name, family=task.family, model_type=info.model_type,
                        max_seq_length=int(config.max_seq_length), labels=list(info.labels) if info.labels else None,
                        tokenizer=tokenizer_settings(config, getattr(task, "tokenizer", None)),
                        settings=task.metadata_settings(), trained=dict(trained or {}))


def copy_tokenizer_files(target: str, config, tokenizer=None) -> None:
    """vocab.txt + tokenizer_config.json (WordPiece, with the run's ``tokenizer`` settings), or the
    SentencePiece model as spm.model."""
    from electra_tf.checkpoints.hf import write_tokenizer_files
    from electra_tf.utils.files import atomic_write_bytes

    if config.vocab_file.endswith(".txt"):
        write_tokenizer_files(target, config.vocab_file, config.do_lower_case,
                              strip_accents=getattr(tokenizer, "strip_accents", None),
                              tokenize_chinese_chars=getattr(tokenizer, "tokenize_chinese_chars", True))
    elif config.vocab_file.endswith(".model"):
        with open(config.vocab_file, "rb") as f:
            atomic_write_bytes(os.path.join(target, "spm.model"), f.read())


def export_task_models(model, tasks: List, model_config, config, model_dir: str, trained: dict) -> List[str]:
    """Write the model directory of every task of the fine-tuned ``model``; returns their paths."""
    n = len(tasks)
    return [export_task_model(model, task, model_config, config, task_model_dir(model_dir, task.name, n), trained,
                              task_saved_model_dir(model_dir, task.name, n))
            for task in tasks]


def export_task_model(model, task, model_config, config, target: str, trained: dict,
                      saved_model_path: Optional[str] = None) -> str:
    """Write ``target`` (and the SavedModel at ``saved_model_path`` when ``export_saved_model``:
    ``<trial>/saved_model`` as before for one task, ``<trial>/saved_model/<task>`` for several)."""
    from electra_tf.checkpoints.state import assign_state
    from electra_tf.utils.files import save_directory_atomically
    from electra_tf.modeling.models import MODEL_CLASSES

    info = task.export_info()
    meta = task_metadata(task, config, trained)
    saved_model = saved_model_path or os.path.join(target, "saved_model")
    current = export_is_current(target, meta)
    if current and not (config.export_saved_model and not os.path.isdir(saved_model)):
        # A rerun of a finished run: the directory (and whatever the user added, e.g. model.onnx) stays as it is.
        logger.info("Model of %s in %s is this training's export already; left unchanged.", task.name, target)
        return target
    prefix = head_weight_prefix(task.name)
    others = tuple(head_weight_prefix(t.name) for t in model.tasks if t.name != task.name)
    state = {ref.name[len(prefix):] if ref.name.startswith(prefix) else ref.name: ref.variable.numpy()
             for ref in model.hf_weights() if not ref.name.startswith(others)}
    head_options = dict(config_head_options(task, config))
    crf = model.head_state(task.name).get("crf")
    if crf is not None:
        # The exported CRF holds the scores decoding uses (constrained_decoding's masks added),
        # so a consumer decodes exactly as the run's own evaluation did.
        head_options["crf"] = True
        state.update({f"crf.{n}": value for n, value in zip(("transitions", "start", "end"), crf)})
    cfg = model_config.replace(num_labels=info.num_labels, head=config.head, head_options=head_options)
    if info.labels:
        cfg = cfg.replace(id2label=dict(enumerate(info.labels)), label2id={l: i for i, l in enumerate(info.labels)})
    export = MODEL_CLASSES[info.model_type](cfg).build_with_dummy_inputs()
    assign_state(export, state, source="fine-tuned model", strict=True)

    def write(tmp: str) -> None:
        export.save_pretrained(tmp, format="keras")
        copy_tokenizer_files(tmp, config, getattr(task, "tokenizer", None))
        meta.write(tmp)
        kept = carry_over_other_files(target, tmp)
        if kept:
            logger.info("Kept %s in %s (not written by the run).", ", ".join(kept), target)

    if not current:
        save_directory_atomically(write, target)
        logger.info("Model of %s written to %s", task.name, target)
    if config.export_saved_model:
        from electra_tf.export.saved_model import export_saved_model

        export_saved_model(export, saved_model, meta.tokenizer_path(target), config.do_lower_case, config.max_seq_length,
                           metadata=meta)
        logger.info("SavedModel written to %s", saved_model)
    return target


def export_is_current(target: str, meta: TaskMetadata) -> bool:
    """Whether ``target`` already holds the export ``meta`` describes: its task.json records the
    same training (run folder, trial, seed, step) and the task, and its weights are there."""
    import json

    from electra_tf.checkpoints.keras_format import KERAS_WEIGHTS

    stored = TaskMetadata.stored(target)
    return (isinstance(stored, dict) and stored == json.loads(json.dumps(meta.to_dict()))
            and os.path.isfile(os.path.join(target, KERAS_WEIGHTS)) and os.path.isfile(os.path.join(target, "config.json")))


def carry_over_other_files(old: str, new: str) -> List[str]:
    """Put every entry of the folder ``old`` that the new export ``new`` does not hold into ``new``
    (hard links where possible, else copies): files a user added to a model directory (an ONNX or
    LiteRT export, notes) survive the directory's replacement. Returns their names."""
    if not os.path.isdir(old):
        return []

    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    kept = []
    for name in sorted(os.listdir(old)):
        if os.path.lexists(os.path.join(new, name)) or name.startswith(".tmp-"):
            continue
        src = os.path.join(old, name)
        if os.path.isdir(src) and not os.path.islink(src):
            shutil.copytree(src, os.path.join(new, name), symlinks=True, copy_function=link_or_copy)
        elif os.path.islink(src):
            os.symlink(os.readlink(src), os.path.join(new, name))
        else:
            link_or_copy(src, os.path.join(new, name))
        kept.append(name)
    return kept


def write_run_tasks(model, tasks: List, model_config, config, model_dir: str) -> str:
    """``<trial>/tasks.json`` (+ the tokenizer files), written before training: the encoder config
    and each task's metadata, head options and CRF constraint masks, so the run's training
    checkpoints (``ckpt-N``) convert to model directories even when the run never finished."""
    from electra_tf.utils.files import atomic_write_json

    os.makedirs(model_dir, exist_ok=True)
    entries = []
    for task, head in zip(tasks, model.task_heads):
        entry = {**task_metadata(task, config).to_dict(), "head_options": config_head_options(task, config)}
        crf = getattr(head, "crf", None)
        if crf is not None:
            # the constraints of constrained_decoding, added to the trained scores when decoding
            entry["crf_masks"] = {"transitions": crf._trans_mask.tolist(), "start": crf._start_mask.tolist(),
                                  "end": crf._end_mask.tolist()}
        entries.append(entry)
    path = os.path.join(model_dir, RUN_TASKS_FILE)
    copy_tokenizer_files(model_dir, config, getattr(tasks[0], "tokenizer", None) if tasks else None)
    atomic_write_json(path, {"model_config": model_config.replace(head=config.head).to_dict(), "tasks": entries})
    return path


def config_head_options(task, config) -> dict:
    """The head options a task's exported config carries (the QA head's flags; else none)."""
    return dict(task.options.head_options) if task.family == "qa" else {}
