"""Every built-in task family, registered: import ``get_task`` from here.

Importing this module imports the ``tasks`` module of every family of
``model_dir.metadata.FAMILIES`` (``finetuning/<family>/tasks.py``), which registers its tasks and
generic task_config types in ``registry``.
"""

import importlib as _importlib

from electra_tf.finetuning.registry import get_task, registered_tasks, registered_types
from electra_tf.model_dir.metadata import FAMILIES as _FAMILIES

for _family in _FAMILIES:
    _importlib.import_module(f"electra_tf.finetuning.{_family}.tasks")  # registers

__all__ = ["get_task", "registered_tasks", "registered_types"]
