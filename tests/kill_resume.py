"""The SIGKILL-and-rerun check shared by the fine-tuning resume tests: a run killed once a given
checkpoint exists, then rerun with the same command, ends with the weights of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

import electra_tf as et
from electra_tf.checkpoints.state import model_state
from tests.conftest import ROOT

MODEL = "electra-tiny"

_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import run_finetuning
sys.exit(run_finetuning.main(["--data-dir", {data!r}, "--model-name", {model!r}, "--hparams", {hparams!r}]))
"""


def assert_killed_run_resumes_to_the_same_weights(straight, killed, hparams: str, checkpoint: int,
                                                  task: str = "sst") -> None:
    """Train in ``straight`` without a break; in ``killed``, SIGKILL once ``ckpt-<checkpoint>``
    exists (before the model is written), rerun, and compare every weight of the two models."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

    def command(data):
        return [sys.executable, "-c", _SCRIPT.format(root=ROOT, data=str(data), model=MODEL, hparams=hparams)]

    def trial_dir(data):
        return data / "models" / MODEL / "finetuning_models" / f"{task}_model_1"

    # The uninterrupted run goes alongside the killed one and its rerun: separate processes sharing
    # nothing but the CPU, so their start-ups and model builds overlap instead of adding up.
    running = []
    with tempfile.TemporaryFile() as straight_err, tempfile.TemporaryFile() as rerun_err:
        try:
            uninterrupted = subprocess.Popen(command(straight), env=env, stdout=subprocess.DEVNULL, stderr=straight_err)
            running.append(uninterrupted)
            marker = trial_dir(killed) / f"ckpt-{checkpoint}.index"
            proc = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running.append(proc)
            deadline = time.time() + 300
            while time.time() < deadline and not marker.exists():
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert marker.exists() and not (trial_dir(killed) / "model").exists()  # killed before the end
            rerun = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL, stderr=rerun_err)
            running.append(rerun)
            for run, err in ((uninterrupted, straight_err), (rerun, rerun_err)):
                run.wait(timeout=600)
                err.seek(0)
                assert run.returncode == 0, err.read().decode(errors="replace")[-2000:]
        finally:  # a failed check leaves no process behind
            for run in running:
                if run.poll() is None:
                    run.kill()
                    run.wait()
    a = model_state(et.TFElectraForSequenceClassification.from_pretrained(str(trial_dir(straight) / "model")))
    b = model_state(et.TFElectraForSequenceClassification.from_pretrained(str(trial_dir(killed) / "model")))
    for name, value in a.items():
        np.testing.assert_allclose(b[name], value, atol=1e-5, rtol=1e-5, err_msg=name)
