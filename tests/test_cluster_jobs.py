"""Batch jobs: the cluster resolvers (Slurm, Kubernetes indexed Job, TPU, auto), two local worker
processes started the way a scheduler starts them, preemption of one worker, a worker that cannot
reach the others, and the job examples in examples/jobs/.

The process tests run the real command (run_finetuning.main) on 127.0.0.1 with dropout 0, so two
workers with a global batch of 32 must end with the weights of one process with the same batch.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from electra_tf.training.settings import DistributionSettings

from tests.conftest import ROOT
from tests.test_distributed import _free_ports
from tests.test_scale import _workspace

MODEL = "electra-tiny"
HPARAMS = {"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 32, "eval_batch_size": 32,
           "max_seq_length": 24, "num_train_epochs": 1, "seed": 7, "progress": False, "save_checkpoints_steps": 4,
           "model_hparam_overrides": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
                                      "classifier_dropout": 0.0}}
COMMAND = """
import sys
sys.path.insert(0, {root!r})
import run_finetuning
sys.exit(run_finetuning.main(["--data-dir", sys.argv[1], "--model-name", {model!r}, "--hparams", sys.argv[2]]))
"""
CLUSTER_VARIABLES = ("TF_CONFIG", "SLURM_JOB_ID", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST",
                     "SLURM_STEP_TASKS_PER_NODE", "JOB_COMPLETION_INDEX", "ELECTRA_NUM_WORKERS", "ELECTRA_WORKER_ADDRESS",
                     "ELECTRA_CLUSTER_PORT", "TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID")


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in CLUSTER_VARIABLES}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **{k: str(v) for k, v in extra.items()})
    return env


def _start(data_dir, env, **hparams):
    return subprocess.Popen([sys.executable, "-c", COMMAND.format(root=ROOT, model=MODEL), str(data_dir),
                             json.dumps({**HPARAMS, **hparams})], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _finish(procs, timeout=600):
    outputs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]


def _trial_dir(data_dir):
    return os.path.join(str(data_dir), "models", MODEL, "finetuning_models", "sst_model_1")


def _weights(data_dir):
    import electra_tf as et
    from electra_tf.checkpoints.state import model_state

    return model_state(et.TFElectraForSequenceClassification.from_pretrained(os.path.join(_trial_dir(data_dir), "model")))


def _assert_same_weights(a, b):
    assert max(float(np.max(np.abs(v))) for v in a.values()) > 0
    for name in a:
        np.testing.assert_allclose(b[name], a[name], atol=2e-5, rtol=1e-4, err_msg=name)


def _results_file(data_dir):
    return os.path.join(str(data_dir), "models", MODEL, "results", "sst_results.txt")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The reference: the same job in one process (global batch 32)."""
    data_dir = _workspace(tmp_path_factory.mktemp("single"))
    [(code, _, err)] = _finish([_start(data_dir, _clean_env())])
    assert code == 0, err[-3000:]
    return _weights(data_dir)


def _consecutive_free_ports(n):
    """A base port such that base .. base+n-1 are free (Slurm workers on one node take consecutive ports)."""
    for _ in range(50):
        base = _free_ports(1)[0]
        if base + n >= 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no consecutive free ports")


def _check_workers(results, dirs, one_process):
    for code, _, err in results:
        assert code == 0, err[-3000:]
    _assert_same_weights(one_process, _weights(dirs[0]))
    assert os.path.isfile(_results_file(dirs[0])) and not os.path.exists(_results_file(dirs[1]))  # the chief writes
    logs = [_trial_dir(d)[:-len("_1")] for d in dirs]  # <model_dir>.log: one per worker
    assert os.path.isfile(logs[0] + ".log") and not os.path.exists(logs[0] + ".worker-1.log")
    assert os.path.isfile(logs[1] + ".worker-1.log") and not os.path.exists(logs[1] + ".log")


def test_slurm_two_tasks_equal_one_process(tmp_path, one_process):
    """Two processes with the variables srun sets (one node, two tasks) and cluster_resolver auto."""
    dirs = [_workspace(tmp_path / f"task{i}") for i in range(2)]
    base = _consecutive_free_ports(2)
    procs = [_start(dirs[i], _clean_env(SLURM_JOB_ID=4242, SLURM_PROCID=i, SLURM_STEP_NUM_TASKS=2,
                                        SLURM_STEP_NODELIST="127.0.0.1", SLURM_STEP_TASKS_PER_NODE=2,
                                        ELECTRA_CLUSTER_PORT=base),
                    distribution_strategy="auto", cluster_resolver="auto") for i in range(2)]
    _check_workers(_finish(procs), dirs, one_process)


def _indexed_job_env(index, prefix):
    # Locally every worker needs its own port: worker {index} listens on port <prefix><index>.
    return _clean_env(JOB_COMPLETION_INDEX=index, ELECTRA_NUM_WORKERS=2, ELECTRA_WORKER_ADDRESS=f"127.0.0.1:{prefix}{{index}}")


def _port_prefix():
    for _ in range(200):
        prefix = int.from_bytes(os.urandom(2), "big") % 3000 + 2000  # ports 20000-50009
        try:
            for index in range(2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", prefix * 10 + index))
            return prefix
        except OSError:
            continue
    raise RuntimeError("no free ports")


def test_sigterm_to_one_worker_stops_both_and_the_rerun_resumes(tmp_path, one_process):
    """Two pods of a Kubernetes indexed Job; SIGTERM to worker 1 mid-training: both workers save the
    same step and exit 143; started again, they resume and end with the weights of the uninterrupted
    one-process run (so the Kubernetes-style cluster also equals one process)."""
    dirs = [_workspace(tmp_path / f"pod{i}") for i in range(2)]
    prefix = _port_prefix()
    hparams = dict(distribution_strategy="multi_worker_mirrored", cluster_resolver="kubernetes")
    procs = [_start(dirs[i], _indexed_job_env(i, prefix), **hparams) for i in range(2)]
    first = os.path.join(_trial_dir(dirs[0]), "ckpt-4.index")
    deadline = time.monotonic() + 600
    while not os.path.exists(first) and time.monotonic() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    assert os.path.exists(first), [p.communicate()[1][-2000:] for p in procs]
    procs[1].send_signal(signal.SIGTERM)
    results = _finish(procs)
    stops = []
    for (code, _, err), who in zip(results, ("another worker received SIGTERM", "this worker received SIGTERM")):
        assert code == 143, err[-3000:]
        assert who in err, err[-3000:]
        words = err.split("Stopped at step ")[1].split()  # "<step> of <total> because ..."
        stops.append((int(words[0]), int(words[2])))
    steps = [step for step, _ in stops]
    total = stops[0][1]
    assert steps[0] == steps[1] and 4 <= steps[0] < total
    chief_dir = _trial_dir(dirs[0])
    from electra_tf.training.checkpointing import checkpoint_step, latest_checkpoint

    assert checkpoint_step(latest_checkpoint(chief_dir)) == steps[0]
    assert checkpoint_step(latest_checkpoint(os.path.join(_trial_dir(dirs[1]), ".worker_1_tmp"))) == steps[0]
    assert not os.path.exists(_results_file(dirs[0]))

    prefix = _port_prefix()
    procs = [_start(dirs[i], _indexed_job_env(i, prefix), **hparams) for i in range(2)]
    results = _finish(procs)
    for code, _, err in results:
        assert code == 0, err[-3000:]
        assert f"at step {steps[0]} of {total}" in err, err[-3000:]  # resumed, not started over
    _assert_same_weights(one_process, _weights(dirs[0]))


def test_a_worker_alone_fails_in_bounded_time_naming_the_address(tmp_path):
    """Worker 1 without worker 0 (the coordination leader) and worker 0 without worker 1 both stop
    within cluster_timeout_secs plus a grace period, naming the address they waited for."""
    prefix = _port_prefix()
    procs = []
    for index in range(2):
        data_dir = _workspace(tmp_path / f"alone{index}")
        env = _indexed_job_env(index, prefix if index == 0 else prefix + 1)  # separate clusters: nobody answers
        procs.append(_start(data_dir, env, distribution_strategy="multi_worker_mirrored", cluster_resolver="kubernetes",
                            cluster_timeout_secs=5))
    started = time.monotonic()
    results = _finish(procs, timeout=240)
    elapsed = time.monotonic() - started
    assert elapsed < 180
    (code0, _, err0), (code1, _, err1) = results
    assert code0 != 0 and f"no answer from 127.0.0.1:{prefix}1" in err0, err0[-3000:]
    assert code1 != 0 and f"could not reach the coordination leader at 127.0.0.1:{prefix + 1}0" in err1, err1[-3000:]


# ---------------------------------------------------------------------------- resolvers (no processes)
def test_auto_picks_the_resolver_from_the_environment():
    from electra_tf.training.cluster import detect_resolver

    assert detect_resolver({}) is None
    assert detect_resolver({"SLURM_JOB_ID": "7", "TF_CONFIG": "{}"}) == "slurm"
    assert detect_resolver({"JOB_COMPLETION_INDEX": "0", "ELECTRA_WORKER_ADDRESS": "j-{index}.s:2222"}) == "kubernetes"
    assert detect_resolver({"JOB_COMPLETION_INDEX": "0"}) is None  # any indexed Job is not a cluster
    assert detect_resolver({"TPU_NAME": "my-tpu"}) == "tpu"
    assert detect_resolver({"TF_CONFIG": '{"cluster": {}}'}) == "tf_config"


def test_resolvers_build_the_cluster_and_name_missing_variables(monkeypatch):
    from electra_tf.errors import ConfigError
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.training import cluster, distribute

    for name in CLUSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    k8s = {"JOB_COMPLETION_INDEX": "1", "ELECTRA_NUM_WORKERS": "3", "ELECTRA_WORKER_ADDRESS": "job-{index}.svc:2222"}
    resolver = cluster.kubernetes_resolver(k8s)
    assert resolver.cluster_spec().as_dict() == {"worker": ["job-0.svc:2222", "job-1.svc:2222", "job-2.svc:2222"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    with pytest.raises(ConfigError, match="ELECTRA_NUM_WORKERS"):
        cluster.kubernetes_resolver(dict(k8s, JOB_COMPLETION_INDEX="3"))
    slurm = {"SLURM_PROCID": "2", "SLURM_STEP_NUM_TASKS": "4", "SLURM_STEP_NODELIST": "gpu[07-08]",
             "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "ELECTRA_CLUSTER_PORT": "9000"}
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    resolver = cluster.slurm_resolver()
    assert resolver.cluster_spec().as_dict() == {"worker": ["gpu07:9000", "gpu07:9001", "gpu08:9000", "gpu08:9001"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 2)
    config = FinetuningConfig(MODEL, "/data", task_names=["sst"], distribution_strategy="auto", cluster_resolver="auto")
    assert distribute.resolve_strategy_name(DistributionSettings.from_hparams(config)) == "multi_worker_mirrored"
    monkeypatch.delenv("SLURM_STEP_NODELIST")
    with pytest.raises(ConfigError) as error:
        cluster.multi_worker_resolver(DistributionSettings.from_hparams(FinetuningConfig(MODEL, "/data", task_names=["sst"], cluster_resolver="slurm")))
    assert all(name in str(error.value) for name in cluster.SLURM_VARIABLES) and "srun" in str(error.value)
    with pytest.raises(ConfigError, match="ELECTRA_WORKER_ADDRESS"):
        cluster.multi_worker_resolver(DistributionSettings.from_hparams(FinetuningConfig(MODEL, "/data", task_names=["sst"], cluster_resolver="kubernetes")))
    for key in slurm:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="SLURM_JOB_ID.*JOB_COMPLETION_INDEX.*TF_CONFIG"):
        cluster.multi_worker_resolver(DistributionSettings.from_hparams(FinetuningConfig(MODEL, "/data", task_names=["sst"], cluster_resolver="auto")))


def test_cluster_hparams_are_checked_in_both_configs():
    from electra_tf.errors import ConfigError
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.pretraining.config import PretrainingConfig

    for make in (lambda **kw: FinetuningConfig(MODEL, "/data", task_names=["sst"], **kw),
                 lambda **kw: PretrainingConfig(MODEL, "/data", **kw)):
        assert make().cluster_resolver == "tf_config"  # the behaviour before the option
        with pytest.raises(ConfigError, match="Did you mean 'kubernetes'"):
            make(cluster_resolver="kubernets")
        with pytest.raises(ConfigError, match="cluster_timeout_secs"):
            make(cluster_timeout_secs=-1)


def test_tpu_resolver_defaults_to_the_local_tpu_of_a_tpu_vm(monkeypatch):
    import tensorflow as tf

    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.training import cluster, distribute

    seen = {}
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", lambda tpu, zone, project: seen.update(tpu=tpu))
    monkeypatch.delenv("TPU_NAME", raising=False)
    config = DistributionSettings.from_hparams(
        FinetuningConfig(MODEL, "/data", task_names=["sst"], distribution_strategy="auto", cluster_resolver="tpu"))
    assert distribute.resolve_strategy_name(config) == "tpu"
    cluster.tpu_resolver(config)
    assert seen == {"tpu": "local"}
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    cluster.tpu_resolver(config)
    assert seen == {"tpu": "my-tpu"}
    distribute.tpu_resolver(DistributionSettings.from_hparams(FinetuningConfig(MODEL, "/data", task_names=["sst"], use_tpu=True)))  # the original's
    assert seen == {"tpu": ""}


# ---------------------------------------------------------------------------- examples/jobs
JOBS = os.path.join(ROOT, "examples", "jobs")


def test_job_examples_parse_and_agree():
    import yaml

    for script in ("slurm.sbatch", "tpu_vm.sh"):
        proc = subprocess.run(["bash", "-n", os.path.join(JOBS, script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    with open(os.path.join(JOBS, "slurm.sbatch"), encoding="utf-8") as f:
        sbatch = f.read()
    assert "--ntasks-per-node=1" in sbatch and "--gpus-per-node" in sbatch and '"cluster_resolver": "slurm"' in sbatch
    with open(os.path.join(JOBS, "kubernetes.yaml"), encoding="utf-8") as f:
        service, job = list(yaml.safe_load_all(f))
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert int(env["ELECTRA_NUM_WORKERS"]) == job["spec"]["completions"] == job["spec"]["parallelism"]
    port = service["spec"]["ports"][0]["port"]
    assert env["ELECTRA_WORKER_ADDRESS"] == f"{job['metadata']['name']}-{{index}}.{service['metadata']['name']}:{port}"
    hparams = json.loads(pod["containers"][0]["args"][-1].split("=", 1)[1])
    assert hparams["cluster_resolver"] == "kubernetes" and hparams["distribution_strategy"] == "multi_worker_mirrored"


@pytest.mark.parametrize("value,expected", [
    ("", 0), ("{}", 0), ('{"cluster": {"worker": ["a:1", "b:2"], "chief": ["c:3"]}, "task": {}}', 3),
])
def test_tf_config_workers_are_counted(value, expected):
    from electra_tf.training.cluster import tf_config_workers

    assert tf_config_workers({"TF_CONFIG": value}) == expected


@pytest.mark.parametrize("value", ["{not json", "[1, 2]", '{"cluster": ["a:1"]}', '{"cluster": {"worker": "a:1"}}',
                                   '{"cluster": null}', '"text"'])
def test_a_malformed_tf_config_is_one_clear_error(value):
    # Before: a TF_CONFIG whose "cluster" was not an object escaped as an AttributeError.
    from electra_tf.errors import ConfigError
    from electra_tf.training.cluster import tf_config_workers

    with pytest.raises(ConfigError, match="TF_CONFIG environment variable") as info:
        tf_config_workers({"TF_CONFIG": value})
    assert '"cluster"' in str(info.value)


@pytest.mark.parametrize("task", ["", ', "task": {}', ', "task": {"type": "ps", "index": 0}',
                                  ', "task": {"type": "worker", "index": 2}', ', "task": {"type": "worker", "index": "1"}',
                                  ', "task": "worker"'])
def test_a_tf_config_task_outside_its_cluster_is_one_clear_error(task):
    # Before: TensorFlow's resolver took any "task" and failed later, or the worker waited forever.
    from electra_tf.errors import ConfigError
    from electra_tf.training.cluster import tf_config_resolver

    value = '{"cluster": {"worker": ["a:1", "b:2"], "chief": ["c:3"]}%s}' % task
    with pytest.raises(ConfigError, match="TF_CONFIG") as info:
        tf_config_resolver({"TF_CONFIG": value})
    assert "'worker' (indexes 0-1)" in str(info.value) and "'chief' (indexes 0-0)" in str(info.value)


def test_a_tf_config_task_of_its_cluster_gives_tensorflow_resolver(monkeypatch):
    from electra_tf.training.cluster import tf_config_resolver

    value = '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}'
    monkeypatch.setenv("TF_CONFIG", value)
    resolver = tf_config_resolver({"TF_CONFIG": value})
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
