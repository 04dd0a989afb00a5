"""Every built-in task family, registered: import ``get_task`` from here.

Importing this module imports the families' ``tasks`` modules, which register their tasks and
generic task_config types in ``registry``.
"""

from electra_tf.finetuning.classification import tasks as _classification  # noqa: F401  (registers)
from electra_tf.finetuning.qa import tasks as _qa  # noqa: F401  (registers)
from electra_tf.finetuning.registry import get_task, registered_tasks, registered_types
from electra_tf.finetuning.tagging import tasks as _tagging  # noqa: F401  (registers)

__all__ = ["get_task", "registered_tasks", "registered_types"]
