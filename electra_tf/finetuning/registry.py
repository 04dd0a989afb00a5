"""The task registry: task names and generic ``task_config`` types -> task factories.

This module imports no task family; each family's ``tasks`` module registers itself, and
``electra_tf.finetuning.builtin_tasks`` imports all of them (use its ``get_task``).
"""

from __future__ import annotations

from typing import Callable, Dict, List

from electra_tf.errors import ConfigError, closest
from electra_tf.finetuning.options import TaskOptions

TaskFactory = Callable[..., "Task"]  # (options, name, tokenizer) -> Task
_REGISTRY: Dict[str, TaskFactory] = {}
_TYPES: Dict[str, TaskFactory] = {}  # task_config "type" -> factory


def register(name: str, factory: TaskFactory) -> None:
    """Register a named task (e.g. "sst")."""
    _REGISTRY[name] = factory


def register_type(type_name: str, factory: TaskFactory) -> None:
    """Register a generic task type usable as ``task_config.<task>.type`` (e.g. "tsv")."""
    _TYPES[type_name] = factory


def registered_tasks() -> List[str]:
    """The names of the registered tasks, sorted (for messages and --help)."""
    return sorted(_REGISTRY)


def registered_types() -> List[str]:
    """The registered generic ``task_config`` types, sorted."""
    return sorted(_TYPES)


def get_task(options: TaskOptions, name: str, tokenizer):
    """Build the task ``name`` from its ``options`` (``TaskOptions.from_config(config, name)``): a
    generic one if its task_config entry has a ``type``, else a registered one."""
    kind = options.task_config.get("type")
    if kind is not None:
        if kind not in _TYPES:
            raise ConfigError(f"task_config.{name}.type must be one of {', '.join(registered_types())}, got {kind!r}."
                              f"{closest(str(kind), _TYPES)}")
        return _TYPES[kind](options, name, tokenizer)
    if name not in _REGISTRY:
        raise ConfigError(
            f"Unknown task {name!r}.{closest(name, _REGISTRY)} Known tasks: {', '.join(registered_tasks())}; "
            f"or define it in the hparam task_config, e.g. {{\"task_config\": {{\"{name}\": {{\"type\": \"tsv\", ...}}}}}}."
        )
    return _REGISTRY[name](options, name, tokenizer)
