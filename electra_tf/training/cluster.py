"""Which processes form the cluster of a multi-worker or TPU run: the ``cluster_resolver`` hparam.

* ``tf_config`` (default; the behaviour before this option): the ``TF_CONFIG`` variable, written
  by hand or by a launcher, read by TensorFlow's ``TFConfigClusterResolver``.
* ``slurm``: the variables ``srun`` sets for each task (``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``,
  ``SLURM_STEP_NODELIST``, ``SLURM_STEP_TASKS_PER_NODE``), read by TensorFlow's
  ``SlurmClusterResolver`` (it expands the node list itself; no ``scontrol`` needed). Worker
  ``i`` on a node listens on port ``ELECTRA_CLUSTER_PORT`` (default 8888) + its rank on that node.
* ``kubernetes``: a Kubernetes indexed Job. ``JOB_COMPLETION_INDEX`` (set by Kubernetes) is the
  worker index, ``ELECTRA_NUM_WORKERS`` the number of workers (the Job's ``completions``) and
  ``ELECTRA_WORKER_ADDRESS`` the address of worker ``{index}``, e.g.
  ``electra-finetune-{index}.electra-workers:2222`` (pod hostname ``<job>-<index>`` under the
  headless Service ``electra-workers``); see ``examples/jobs/kubernetes.yaml``.
* ``tpu``: TensorFlow's ``TPUClusterResolver`` for ``tpu_name`` (else ``$TPU_NAME``, else
  ``"local"``, the TPU of a Cloud TPU VM), with ``tpu_zone`` and ``gcp_project``.
* ``auto``: the first of slurm (``SLURM_JOB_ID`` or ``SLURM_PROCID`` set), kubernetes
  (``JOB_COMPLETION_INDEX`` and ``ELECTRA_WORKER_ADDRESS`` set), tpu (``TPU_NAME``,
  ``TPU_ACCELERATOR_TYPE`` or ``TPU_WORKER_ID`` set, or a ``/dev/accel*`` device: a TPU VM),
  tf_config (``TF_CONFIG`` set); otherwise a single process.

The resolvers are used by the ``multi_worker_mirrored`` and ``tpu`` strategies (and by ``auto``
to choose one); ``one_device`` and ``mirrored`` are single-process and ignore them.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Mapping, Optional, Tuple

from electra_tf.errors import ConfigError

CLUSTER_RESOLVERS = ("auto", "tf_config", "slurm", "kubernetes", "tpu")

SLURM_VARIABLES = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE")
KUBERNETES_VARIABLES = ("JOB_COMPLETION_INDEX", "ELECTRA_NUM_WORKERS", "ELECTRA_WORKER_ADDRESS")
TPU_VARIABLES = ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID")
PORT_VARIABLE = "ELECTRA_CLUSTER_PORT"
DEFAULT_SLURM_PORT = 8888


def detect_resolver(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """What ``auto`` picks from the environment (see the module docstring), or None: one process."""
    env = os.environ if environ is None else environ
    if env.get("SLURM_JOB_ID") or env.get("SLURM_PROCID"):
        return "slurm"
    if env.get("JOB_COMPLETION_INDEX") and env.get("ELECTRA_WORKER_ADDRESS"):
        return "kubernetes"
    if any(env.get(name) for name in TPU_VARIABLES) or (environ is None and glob.glob("/dev/accel*")):
        return "tpu"
    if env.get("TF_CONFIG"):
        return "tf_config"
    return None


def resolver_name(settings, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The configured ``cluster_resolver`` with ``auto`` resolved (None: no cluster described)."""
    name = getattr(settings, "cluster_resolver", "tf_config")
    return detect_resolver(environ) if name == "auto" else name


def _missing(env: Mapping[str, str], names) -> list:
    return [name for name in names if not env.get(name)]


def _integer(env: Mapping[str, str], name: str) -> int:
    value = env.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"The environment variable {name} must be an integer, got {value!r}.") from None


def tf_config_workers(environ: Optional[Mapping[str, str]] = None) -> int:
    """The number of chief + worker tasks in ``TF_CONFIG`` (0 when it is not set)."""
    cluster = _read_tf_config(environ)["cluster"]
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _read_tf_config(environ: Optional[Mapping[str, str]] = None) -> dict:
    """``TF_CONFIG`` parsed, with a "cluster" object whose worker and chief entries are lists ({"cluster":
    {}} when it is not set); a ConfigError naming the expected shape otherwise."""
    env = os.environ if environ is None else environ
    shape = "an object with \"cluster\" (an object of task lists, such as {\"worker\": [\"host:port\", ...]}) and \"task\""
    try:
        config = json.loads(env.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as e:
        raise ConfigError(f"The TF_CONFIG environment variable is not valid JSON ({e}); it must be {shape}.") from None
    cluster = config.get("cluster", {}) if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not all(isinstance(cluster.get(k, []), list) for k in ("worker", "chief")):
        raise ConfigError(f"The TF_CONFIG environment variable must be {shape}; got {env.get('TF_CONFIG')!r}.")
    return dict(config, cluster=cluster)


def cluster_workers(settings, environ: Optional[Mapping[str, str]] = None) -> int:
    """How many worker processes the environment describes for ``settings.cluster_resolver``
    (0 when it describes none; TPU hosts are not counted: the TPU strategy handles them)."""
    env = os.environ if environ is None else environ
    name = resolver_name(settings, env)
    if name == "tf_config":
        return tf_config_workers(env)
    if name == "slurm":
        return 0 if _missing(env, SLURM_VARIABLES) else _integer(env, "SLURM_STEP_NUM_TASKS")
    if name == "kubernetes":
        return 0 if _missing(env, KUBERNETES_VARIABLES) else _integer(env, "ELECTRA_NUM_WORKERS")
    return 0


def _no_cluster(name: str, names, hint: str) -> ConfigError:
    return ConfigError(f"cluster_resolver {name!r}: the environment does not describe a cluster; it needs the "
                       f"variables {', '.join(names)}. {hint}")


def slurm_resolver(environ: Optional[Mapping[str, str]] = None):
    """The cluster of a Slurm job step from TensorFlow's ``SlurmClusterResolver``, as a
    ``SimpleClusterResolver`` that reports this process's real GPUs.

    TensorFlow's resolver also hands GPUs to tasks (CUDA_VISIBLE_DEVICES) and would report
    ``gpus_per_task`` GPUs even on a CPU node; we leave GPU visibility to Slurm (one task per node
    sees the node's GPUs), so it is given a placeholder GPU count that only lets it pack the tasks.
    """
    import tensorflow as tf

    env = os.environ if environ is None else environ
    missing = _missing(env, SLURM_VARIABLES)
    if missing:
        raise _no_cluster("slurm", SLURM_VARIABLES, "Start each worker with srun inside the batch job "
                          "(see examples/jobs/slurm.sbatch).")
    port = _integer(env, PORT_VARIABLE) if env.get(PORT_VARIABLE) else DEFAULT_SLURM_PORT
    tasks = _integer(env, "SLURM_STEP_NUM_TASKS")
    slurm = tf.distribute.cluster_resolver.SlurmClusterResolver(
        jobs={"worker": tasks}, port_base=port, gpus_per_node=max(tasks, 1), gpus_per_task=1, auto_set_gpu=False)
    spec = slurm.cluster_spec()  # also sets task_type / task_id from SLURM_PROCID
    return _simple(spec, slurm.task_type, slurm.task_id)


def kubernetes_resolver(environ: Optional[Mapping[str, str]] = None):
    """The cluster of a Kubernetes indexed Job from its environment (see the module docstring).

    Not TensorFlow's ``KubernetesClusterResolver``: it lists pods through the Kubernetes API, which
    needs the ``kubernetes`` client library and a service account allowed to read pods, and it has
    no notion of the job completion index. An indexed Job already tells each pod its index, and a
    headless Service gives every pod a stable DNS name, so the cluster follows from three variables.
    """
    env = os.environ if environ is None else environ
    if _missing(env, KUBERNETES_VARIABLES):
        raise _no_cluster("kubernetes", KUBERNETES_VARIABLES, "Run as an indexed Job (completionMode: Indexed) and set "
                          "the other two in the pod template (see examples/jobs/kubernetes.yaml).")
    index, count = _integer(env, "JOB_COMPLETION_INDEX"), _integer(env, "ELECTRA_NUM_WORKERS")
    pattern = env["ELECTRA_WORKER_ADDRESS"]
    if "{index}" not in pattern:
        raise ConfigError(f"ELECTRA_WORKER_ADDRESS must contain {{index}} (e.g. job-{{index}}.service:2222), got {pattern!r}.")
    if not 0 <= index < count:
        raise ConfigError(f"JOB_COMPLETION_INDEX={index} is not below ELECTRA_NUM_WORKERS={count}; set ELECTRA_NUM_WORKERS "
                          f"to the Job's completions.")
    addresses = [pattern.replace("{index}", str(i)) for i in range(count)]
    import tensorflow as tf

    return _simple(tf.train.ClusterSpec({"worker": addresses}), "worker", index)


def _simple(spec, task_type: str, task_id: int):
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    return tf.distribute.cluster_resolver.SimpleClusterResolver(
        spec, task_type=task_type, task_id=task_id, num_accelerators={"GPU": gpus} if gpus else None, rpc_layer="grpc")


def tf_config_resolver(environ: Optional[Mapping[str, str]] = None):
    """TensorFlow's ``TFConfigClusterResolver``; a ConfigError when TF_CONFIG names no workers or its
    ``"task"`` is not one of them."""
    config = _read_tf_config(environ)
    if not config["cluster"].get("worker") and not config["cluster"].get("chief"):
        raise ConfigError("distribution_strategy multi_worker_mirrored needs TF_CONFIG with a cluster of workers "
                          "(or another cluster_resolver: slurm, kubernetes, auto).")
    _check_tf_config_task(config)
    import tensorflow as tf

    return tf.distribute.cluster_resolver.TFConfigClusterResolver()


def _check_tf_config_task(config: dict) -> None:
    """This process's ``"task"`` in ``TF_CONFIG`` must name a task of the cluster: {"type": one of its
    jobs, "index": a position in that job's list} (TensorFlow would otherwise fail later, or start a
    worker that waits for a peer that never comes)."""
    cluster, task = config["cluster"], config.get("task")
    jobs = ", ".join(f"{job!r} (indexes 0-{len(addresses) - 1})" for job, addresses in cluster.items() if addresses)
    fix = f"set \"task\" to {{\"type\": <job>, \"index\": <n>}} with one of this cluster's tasks: {jobs}"
    if not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG has no \"task\" object for this process (got {task!r}); {fix}.")
    job, index = task.get("type"), task.get("index", 0)
    if job not in cluster or not isinstance(index, int) or isinstance(index, bool) or \
            not 0 <= index < len(cluster[job]):
        raise ConfigError(f"TF_CONFIG's \"task\" {json.dumps(task)} is not a task of its cluster; {fix}.")


def tpu_resolver(settings, environ: Optional[Mapping[str, str]] = None):
    """TensorFlow's ``TPUClusterResolver`` for ``tpu_name`` with ``tpu_zone`` and ``gcp_project``.
    With ``cluster_resolver`` tpu/auto an unset ``tpu_name`` means ``$TPU_NAME``, else ``"local"``
    (the TPU attached to a Cloud TPU VM); with the default tf_config it stays the original's."""
    import tensorflow as tf

    env = os.environ if environ is None else environ
    tpu = settings.tpu_name or ""
    if not tpu and resolver_name(settings, env) == "tpu":
        tpu = env.get("TPU_NAME") or "local"
    return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu, zone=settings.tpu_zone, project=settings.gcp_project)


def multi_worker_resolver(settings, environ: Optional[Mapping[str, str]] = None):
    """The cluster resolver for MultiWorkerMirroredStrategy named by ``settings.cluster_resolver``;
    a ConfigError naming the variables looked for when the environment describes no cluster."""
    name = resolver_name(settings, environ)
    if name is None:
        raise ConfigError("cluster_resolver 'auto' found no cluster in the environment: it looked for SLURM_JOB_ID / "
                          "SLURM_PROCID (Slurm), JOB_COMPLETION_INDEX + ELECTRA_WORKER_ADDRESS (Kubernetes), "
                          f"{', '.join(TPU_VARIABLES)} (TPU) and TF_CONFIG.")
    if name == "tpu":
        raise ConfigError("cluster_resolver 'tpu' goes with distribution_strategy 'tpu' (or 'auto'), not "
                          "multi_worker_mirrored.")
    return {"tf_config": tf_config_resolver, "slurm": slurm_resolver, "kubernetes": kubernetes_resolver}[name](environ)


def leader_and_peers(resolver) -> Tuple[str, list]:
    """(the address of the coordination leader, the addresses of the other workers) of ``resolver``'s
    cluster, as seen by this task; for error messages."""
    spec = resolver.cluster_spec().as_dict()
    tasks = [(job, i, address) for job in ("chief", "worker") for i, address in enumerate(_addresses(spec.get(job, [])))]
    me = (resolver.task_type, resolver.task_id)
    leader = tasks[0][2] if tasks else ""
    return leader, [address for job, i, address in tasks if (job, i) != me]


def _addresses(value) -> list:
    return list(value.values()) if isinstance(value, dict) else list(value)
