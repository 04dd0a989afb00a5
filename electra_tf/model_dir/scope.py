"""The scope of the fine-tuning heads' weights, shared by the models and the checkpoint readers.

As the original, every task's head lives under ``task_specific/<task>/`` (TF1 checkpoints); the
canonical (HF-style) names of a multi-task model use ``task_specific.<task>.<weight>``. This module
imports nothing, so ``electra_tf.checkpoints`` can use it without depending on
``electra_tf.modeling`` (a rule tests/test_checkpoint_formats.py checks).
"""

#: the scope of every head weight in the multi-task model: task_specific.<task>.<weight>
TASK_SCOPE = "task_specific"


def head_weight_prefix(task_name: str) -> str:
    """``task_specific.<task>.``: the prefix of a task's head weights in the multi-task model."""
    return f"{TASK_SCOPE}.{task_name}."
