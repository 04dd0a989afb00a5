"""Process-level facts of a training run: which process is the chief, and seeding.

Kept free of model and task code so that any runner (fine-tuning, pre-training) can use it.
"""

from __future__ import annotations

import os
import random

import numpy as np



#: The original's TPU hparams (configure_finetuning.py and configure_pretraining.py alike), in
#: their order with their defaults: use_tpu + tpu_name select a TPUStrategy.
TPU_HPARAMS = {
    "use_tpu": False,
    "num_tpu_cores": 1,
    "tpu_job_name": None,
    "tpu_name": None,
    "tpu_zone": None,
    "gcp_project": None,
}


#: Grappler passes turned off for the training and evaluation steps. On ELECTRA-small's training
#: step (about 10,000 graph nodes) they cost 0.4-0.6 s of the first step's graph optimisation
#: and bought nothing measurable afterwards (steady step time unchanged in float32 and bfloat16):
#: the layout optimizer only rewrites GPU convolutions, and the dependency and loop optimizers find
#: no work in a graph without loops. The results are unchanged (a test checks bit-identical
#: fine-tuning steps in float32 and bfloat16). Constant folding stays on although it costs as
#: much again: it rewrites divisions by constants into multiplications by reciprocals, which
#: changes the last bits of the weights (the original's TF1 sessions ran it too). The remapper
#: (MatMul+BiasAdd+activation fusion), the arithmetic optimizer and the rest stay on.
GRAPH_OPTIMIZER_OPTIONS = {"layout_optimizer": False, "dependency_optimization": False, "loop_optimization": False}


def configure_graph_optimizer() -> None:
    """Apply :data:`GRAPH_OPTIMIZER_OPTIONS` to the graphs this process builds from now on (a
    process-wide TensorFlow setting; it does not initialise the eager context, so it is safe
    before a multi-worker strategy is created)."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options(GRAPH_OPTIMIZER_OPTIONS)


def is_chief(strategy) -> bool:
    """Whether this process writes results and exports (multi-worker: the chief, or worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def is_multi_worker(strategy) -> bool:
    """Whether ``strategy`` spans several processes (a cluster from TF_CONFIG or a resolver)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return False
    spec = resolver.cluster_spec().as_dict()
    return sum(len(tasks) for job, tasks in spec.items() if job in ("chief", "worker")) > 1


def worker_directory(strategy, model_dir: str) -> str:
    """Where this process writes checkpoints: ``model_dir`` on the chief, a temporary
    ``<model_dir>/.<task>_<id>_tmp`` on the other workers.

    Every worker takes part in saving a multi-worker checkpoint; only the chief's copy is kept
    (TF's multi-worker rule), the others are deleted after training.
    """
    if is_chief(strategy):
        return model_dir
    resolver = strategy.cluster_resolver
    return os.path.join(model_dir, f".{resolver.task_type}_{resolver.task_id}_tmp")


def log_file_name(strategy, path: str) -> str:
    """This process's log file: ``path`` on the chief (and in single-process runs), ``<stem>.<task>-<id><ext>``
    on the other workers, so that workers sharing a file system do not write into one file."""
    if is_chief(strategy):
        return path
    resolver = strategy.cluster_resolver
    stem, ext = os.path.splitext(path)
    return f"{stem}.{resolver.task_type}-{resolver.task_id}{ext}"


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and Keras' (hence TF's) random generators for a reproducible run."""
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
