"""The layout of trained-model directories: the file names and where a run puts them.

A fine-tuning run's trial folder (``finetuning_models/<tasks>_model_<trial>``) holds its
training checkpoints, ``tasks.json`` (every task's metadata, written before training, so a
``ckpt-N`` converts to a model directory even when the run never finished), ``model/`` (one
task) or ``model/<task>/`` (several), and the SavedModel(s) under ``saved_model[/<task>]``.
A model directory holds the weights, ``config.json``, the tokenizer files and ``task.json``
(model_dir.metadata). This module imports nothing of electra_tf: every package can name the files.
"""

from __future__ import annotations

import os

#: a model directory's task metadata (model_dir.metadata.TaskMetadata)
METADATA_FILE = "task.json"
#: in a trial folder: every task's metadata, for the run's training checkpoints
RUN_TASKS_FILE = "tasks.json"
#: the exported model(s) inside a trial folder
MODEL_SUBDIR = "model"
#: the SavedModel(s) inside a trial folder
SAVED_MODEL_SUBDIR = "saved_model"


def task_model_dir(model_dir: str, task_name: str, n_tasks: int) -> str:
    """Where a trial's exported model of ``task_name`` lives (``model/`` or ``model/<task>/``)."""
    base = os.path.join(model_dir, MODEL_SUBDIR)
    return base if n_tasks == 1 else os.path.join(base, task_name)


def task_saved_model_dir(model_dir: str, task_name: str, n_tasks: int) -> str:
    """Where a trial's SavedModel of ``task_name`` lives (``saved_model/`` or ``saved_model/<task>/``)."""
    base = os.path.join(model_dir, SAVED_MODEL_SUBDIR)
    return base if n_tasks == 1 else os.path.join(base, task_name)


def files_dir(path: str) -> str:
    """The folder holding a model's files: ``path`` itself, or the folder of a checkpoint prefix
    (``.../ckpt-N``) or weights file."""
    return path if os.path.isdir(path) else os.path.dirname(path)


def has_metadata(directory: str) -> bool:
    """Whether ``directory`` is a model directory with task metadata (holds ``task.json``)."""
    return os.path.isfile(os.path.join(directory, METADATA_FILE))


def resolve_model_dir(path: str, task) -> str:
    """The model directory to load: ``path`` itself, or inside a run's trial folder
    (``finetuning_models/<tasks>_model_<trial>``) its ``model/`` (one task) or ``model/<task>/``."""
    from electra_tf.errors import ConfigError

    if os.path.isdir(os.path.join(path, MODEL_SUBDIR)):
        path = os.path.join(path, MODEL_SUBDIR)
    if has_metadata(path) or not os.path.isdir(path):
        return path
    tasks = sorted(d for d in os.listdir(path) if has_metadata(os.path.join(path, d)))
    if not tasks:
        return path
    if task is None and len(tasks) == 1:
        task = tasks[0]
    if task not in tasks:
        raise ConfigError(f"{path} holds the models of tasks {', '.join(tasks)}; choose one with --task "
                          f"(or pass {os.path.join(path, tasks[0])}).")
    return os.path.join(path, task)
