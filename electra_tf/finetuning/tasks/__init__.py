"""Task registry. Importing this package registers every built-in task."""

from electra_tf.finetuning.tasks import classification, qa, tagging  # noqa: F401  (importing registers the tasks)
from electra_tf.finetuning.tasks.base import Example, Task, get_task, register, registered_tasks

__all__ = ["Example", "Task", "get_task", "register", "registered_tasks"]
