"""The same job on one device and under MirroredStrategy (two logical CPUs) ends with the same
weights: global batches are split across replicas, per-example losses are summed, gradients
are summed across replicas and clipped after the sum, so the math is the one-device math.
Dropout (including the classification head's, 0.1 in the original) is 0 so that neither run draws
random numbers after initialisation.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np

from tests.conftest import ROOT, copy_tiny_model

MODEL = "electra-tiny"

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {root!r})
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner
    hparams = json.loads({hparams!r})
    out = {{}}
    for strategy, data_dir in (("one_device", {d1!r}), ("mirrored", {d2!r})):
        runner = FinetuningRunner(FinetuningConfig({model!r}, data_dir, distribution_strategy=strategy, **hparams))
        trials = runner.run()
        out[strategy] = {{"replicas": runner.n_replicas, "results": trials[0]["results"]}}
    print("RESULT " + json.dumps(out))
    """
)


def test_mirrored_two_cpus_equals_one_device(tmp_path):
    src = os.path.join(ROOT, "examples", "data")
    dirs = []
    for name in ("one", "two"):
        d = tmp_path / name
        copy_tiny_model(d)
        shutil.copytree(os.path.join(src, "finetuning_data", "sst"), d / "finetuning_data" / "sst")
        dirs.append(str(d))
    hparams = {"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 32, "eval_batch_size": 32,
               "max_seq_length": 24, "num_train_epochs": 1, "seed": 7,
               "model_hparam_overrides": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
                                          "classifier_dropout": 0.0}}
    script = SCRIPT.format(root=ROOT, hparams=json.dumps(hparams), d1=dirs[0], d2=dirs[1], model=MODEL)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))[len("RESULT "):])
    assert out["one_device"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2

    import electra_tf as et
    from electra_tf.checkpoints.state import model_state

    states = []
    for d in dirs:
        path = os.path.join(d, "models", MODEL, "finetuning_models", "sst_model_1", "model")
        states.append(model_state(et.TFElectraForSequenceClassification.from_pretrained(path)))
    moved = max(float(np.max(np.abs(states[0][k]))) for k in states[0])
    assert moved > 0
    for name in states[0]:
        np.testing.assert_allclose(states[1][name], states[0][name], atol=2e-5, rtol=1e-4, err_msg=name)
    assert out["one_device"]["results"]["sst"]["accuracy"] == out["mirrored"]["results"]["sst"]["accuracy"]


WORKER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.path.insert(0, {root!r})
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.runner import FinetuningRunner
    hparams = json.loads({hparams!r})
    runner = FinetuningRunner(FinetuningConfig({model!r}, sys.argv[1], **hparams))
    trials = runner.run()
    print("RESULT " + json.dumps({{"replicas": runner.n_replicas, "chief": runner.is_chief,
                                   "results": trials[0]["results"]}}))
    """
)


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_two_processes_equal_one_process(tmp_path):
    """MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1 ends with the weights of
    one process with the same global batch, and both workers score every dev example."""
    dirs = {}
    for name in ("single", "w0", "w1"):
        d = tmp_path / name
        copy_tiny_model(d)
        shutil.copytree(os.path.join(ROOT, "examples", "data", "finetuning_data", "sst"), d / "finetuning_data" / "sst")
        dirs[name] = str(d)
    common = {"task_names": ["sst"], "learning_rate": 3e-3, "train_batch_size": 32, "eval_batch_size": 32,
              "max_seq_length": 24, "num_train_epochs": 1, "seed": 7, "progress": False,
              "model_hparam_overrides": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
                                         "classifier_dropout": 0.0}}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    single = subprocess.run([sys.executable, "-c", WORKER_SCRIPT.format(root=ROOT, hparams=json.dumps(common), model=MODEL),
                             dirs["single"]], capture_output=True, text=True, env=env, timeout=900)
    assert single.returncode == 0, single.stderr[-3000:]
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    multi = dict(common, distribution_strategy="multi_worker_mirrored")
    procs = []
    for index in range(2):
        worker_env = dict(env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT.format(root=ROOT, hparams=json.dumps(multi), model=MODEL), dirs[f"w{index}"]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=worker_env))
    outputs = [p.communicate(timeout=900) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    results = [json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:]) for out, _ in outputs]
    assert [r["replicas"] for r in results] == [2, 2] and [r["chief"] for r in results] == [True, False]
    one = json.loads(next(l for l in single.stdout.splitlines() if l.startswith("RESULT "))[7:])
    assert results[0]["results"] == results[1]["results"]  # both workers scored the whole dev set

    import electra_tf as et
    from electra_tf.checkpoints.state import model_state

    def weights(d):
        path = os.path.join(d, "models", MODEL, "finetuning_models", "sst_model_1", "model")
        return model_state(et.TFElectraForSequenceClassification.from_pretrained(path))

    a, b = weights(dirs["single"]), weights(dirs["w0"])
    for name in a:
        np.testing.assert_allclose(b[name], a[name], atol=2e-5, rtol=1e-4, err_msg=name)
    assert results[0]["results"]["sst"]["accuracy"] == one["results"]["sst"]["accuracy"]
    assert not os.path.exists(os.path.join(dirs["w1"], "models", MODEL, "results", "sst_results.txt"))  # chief writes
