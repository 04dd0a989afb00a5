"""Choosing the tf.distribute strategy from the hparams.

``distribution_strategy``: ``one_device`` (the original's behaviour, default), ``mirrored``
(all local GPUs, or all logical CPUs), ``multi_worker_mirrored`` (the cluster from
``cluster_resolver``: ``TF_CONFIG`` by default, or Slurm, a Kubernetes indexed Job; see
cluster.py), ``tpu`` (also chosen by the original's ``use_tpu`` with ``tpu_name``/``tpu_zone``/
``gcp_project``), or ``auto`` (TPU if ``use_tpu`` or the resolver finds one, multi-worker if the
resolver's environment names several workers, mirrored with more than one GPU, else one device).
Batch sizes stay global.

A multi-worker start waits at most ``cluster_timeout_secs`` for the other workers; then it fails
with a message naming the addresses it tried (TensorFlow alone waits without bound on worker 0).
"""

from __future__ import annotations

import logging

import tensorflow as tf

from electra_tf.errors import ConfigError, ElectraError
from electra_tf.training import cluster
from electra_tf.training.settings import DistributionSettings

logger = logging.getLogger("electra_tf")


class ClusterUnreachable(ElectraError):
    """A worker could not reach the other workers of its cluster in time."""


def resolve_strategy_name(settings: DistributionSettings) -> str:
    """The distribution strategy to use: the configured one, with "auto" resolved from the cluster
    resolver's environment (TF_CONFIG by default) and the visible GPUs (and use_tpu as the original)."""
    name = settings.distribution_strategy
    if settings.use_tpu and name in ("auto", "one_device"):
        return "tpu"
    if name != "auto":
        return name
    if cluster.resolver_name(settings) == "tpu":
        return "tpu"
    if cluster.cluster_workers(settings) > 1:
        return "multi_worker_mirrored"
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "one_device"


def tpu_resolver(settings: DistributionSettings):
    """The TPU cluster resolver from the original's hparams (tpu_name, tpu_zone, gcp_project)."""
    return cluster.tpu_resolver(settings)


def build_strategy(settings: DistributionSettings):
    """The tf.distribute strategy named by ``resolve_strategy_name`` (connecting to the TPU for "tpu")."""
    name = resolve_strategy_name(settings)
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        resolver = cluster.multi_worker_resolver(settings)
        return connect_multi_worker(resolver, float(settings.cluster_timeout_secs or 0))
    if name == "tpu":
        resolver = tpu_resolver(settings)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"Unknown distribution_strategy {name!r}.")


def resolve_jit_compile(value, strategy) -> bool:
    """XLA where it is known to help and be safe: the hparam ``value`` "auto" turns it on for one
    GPU with the one-device strategy only (on CPU it gave no gain here, and under multi-replica
    strategies Keras/TF have open XLA issues); true/false force it."""
    if isinstance(value, bool):
        return value
    if value != "auto":
        raise ConfigError(f"hparam jit_compile must be true, false or 'auto', got {value!r}.")
    gpus = tf.config.list_logical_devices("GPU")
    return len(gpus) == 1 and strategy.num_replicas_in_sync == 1


def connect_multi_worker(resolver, timeout: float):
    """MultiWorkerMirroredStrategy over ``resolver``'s cluster, waiting at most ``timeout`` seconds
    (0: TensorFlow's own limits) for the other workers.

    Measured on TF 2.21: a worker other than the coordination leader gives up after the
    coordination service's registration timeout (set here) with DeadlineExceededError; the leader
    (worker 0) waits for the others without bound, holding the GIL, so a watchdog process
    (watchdog.py) ends it after ``timeout`` plus a grace period, naming the workers that do not answer.
    """
    from electra_tf.training import watchdog

    leader, peers = cluster.leader_and_peers(resolver)
    me = f"worker {resolver.task_id}" if resolver.task_type == "worker" else f"{resolver.task_type} {resolver.task_id}"
    guard = None
    if timeout > 0:
        _configure_coordination(resolver, timeout)
        # The constructor holds the GIL while it waits: only another process can end the wait.
        guard = watchdog.start(me, peers, timeout + 15)
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
    try:
        logger.info("Joining the cluster as %s (coordination leader %s; %d other worker(s)).", me, leader, len(peers))
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver, communication_options=options)
    except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError):
        raise ClusterUnreachable(
            f"{me.capitalize()} could not reach the coordination leader at {leader} within {timeout:g} s "
            f"(cluster_timeout_secs). Check that every worker was started, that the address resolves from this "
            f"host and that the port is open.") from None
    finally:
        if guard is not None:
            watchdog.stop(guard)
    return strategy


def _configure_coordination(resolver, timeout: float) -> None:
    """What MultiWorkerMirroredStrategy configures itself (it keeps a configuration made before it),
    plus the registration timeout."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    spec = resolver.cluster_spec()
    if context.context().coordination_service is not None or resolver.task_type not in ("chief", "worker"):
        return
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in ("chief", "worker") if job in spec.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec), coordinated_jobs=jobs,
        cluster_register_timeout_in_ms=int(timeout * 1000))


def distributed_input(strategy, dataset):
    """What the training and evaluation loops iterate: ``dataset`` itself for one CPU device, else
    ``strategy.experimental_distribute_dataset(dataset)``.

    The same batches either way. On one CPU there is nothing to distribute, and the distributed
    dataset's per-device wrapper (a dataset of its own, with tf.data's autotuning thread, which our
    pipeline options cannot reach) made destroying the iterator wait for that thread's sleep: the end of
    every training loop and evaluation stalled for 0 to 58 s at random (#26; utils/input_pipelines.py)."""
    if isinstance(strategy, tf.distribute.OneDeviceStrategy) and "CPU" in strategy.extended.worker_devices[0].upper():
        return dataset
    return strategy.experimental_distribute_dataset(dataset)
