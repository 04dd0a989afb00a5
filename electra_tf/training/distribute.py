"""Choosing the tf.distribute strategy from the hparams.

``distribution_strategy``: ``one_device`` (the original's behaviour, default), ``mirrored``
(all local GPUs, or all logical CPUs), ``multi_worker_mirrored`` (cluster from ``TF_CONFIG``),
``tpu`` (also chosen by the original's ``use_tpu`` with ``tpu_name``/``tpu_zone``/
``gcp_project``), or ``auto`` (TPU if ``use_tpu``, multi-worker if ``TF_CONFIG`` names several
workers, mirrored with more than one GPU, else one device). Batch sizes stay global.
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from electra_tf.errors import ConfigError

logger = logging.getLogger("electra_tf")


def _tf_config_workers() -> int:
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError:
        raise ConfigError("The TF_CONFIG environment variable is not valid JSON.") from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def resolve_strategy_name(config) -> str:
    """The distribution strategy to use: the configured one, with "auto" resolved from TF_CONFIG and the visible
    GPUs (and use_tpu as the original)."""
    name = config.distribution_strategy
    if config.use_tpu and name in ("auto", "one_device"):
        return "tpu"
    if name != "auto":
        return name
    if _tf_config_workers() > 1:
        return "multi_worker_mirrored"
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "one_device"


def tpu_resolver(config):
    """The TPU cluster resolver from the original's hparams (tpu_name, tpu_zone, gcp_project)."""
    return tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=config.tpu_name or "", zone=config.tpu_zone, project=config.gcp_project)


def build_strategy(config):
    """The tf.distribute strategy named by ``resolve_strategy_name`` (connecting to the TPU for "tpu")."""
    name = resolve_strategy_name(config)
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        if _tf_config_workers() < 1:
            raise ConfigError("distribution_strategy multi_worker_mirrored needs TF_CONFIG with a cluster of workers.")
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "tpu":
        resolver = tpu_resolver(config)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"Unknown distribution_strategy {name!r}.")


def resolve_jit_compile(config, strategy) -> bool:
    """XLA where it is known to help and be safe: "auto" turns it on for one GPU with the
    one-device strategy only (on CPU it gave no gain here, and under multi-replica strategies
    Keras/TF have open XLA issues); true/false force it."""
    value = config.jit_compile
    if isinstance(value, bool):
        return value
    if value != "auto":
        raise ConfigError(f"hparam jit_compile must be true, false or 'auto', got {value!r}.")
    gpus = tf.config.list_logical_devices("GPU")
    return len(gpus) == 1 and strategy.num_replicas_in_sync == 1
