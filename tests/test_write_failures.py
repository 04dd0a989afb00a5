"""Write failures injected at the operating-system level (RLIMIT_FSIZE in a child process).

A full disk or a file-size limit must end in a clear error: no crash (the Keras/h5py writer used
to segfault), no temporary files left, and files written earlier byte-identical.
"""

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

from tests.test_run_safety import BASE, MODEL, results_dir, trial_dir, workspace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PRELUDE = """
import os, resource, sys
sys.path.insert(0, {root!r}); sys.path.insert(0, os.path.join({root!r}, "tests"))
from conftest import tiny_config
from electra_tf.modeling.models import TFElectraForSequenceClassification
model = TFElectraForSequenceClassification(tiny_config(head="electra")).build_with_dummy_inputs()
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
"""


def run_limited(body: str, limit: int):
    code = _PRELUDE.format(root=ROOT, limit=limit) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)


def snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def test_keras_directory_write_over_the_size_limit_is_a_clean_error(tmp_path):
    target = tmp_path / "model"
    first = run_limited(f"model.save_pretrained({str(target)!r}, format='keras')", limit=1 << 30)
    assert first.returncode == 0, first.stderr
    before = snapshot(target)
    done = run_limited(f"""
        import numpy as np
        for w in model.weights:
            w.assign(w + 1.0)  # different weights: a successful write would change the files
        try:
            model.save_pretrained({str(target)!r}, format='keras')
        except OSError as e:
            print("OSError", e.errno)
    """, limit=50_000)
    assert done.returncode == 0, done.stderr[-2000:]  # no segmentation fault (139)
    assert done.stdout.split() == ["OSError", "27"]  # EFBIG: the limit, reported as an error
    assert snapshot(target) == before  # nothing replaced, no .tmp files beside


# ------------------------------------------------------------------ the commands, as a user runs them


def limited_run(args, limit):
    """Run a command with a file-size limit (RLIMIT_FSIZE) in the child only."""
    def limit_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          preexec_fn=limit_size)


def finetune_args(data_dir, **hparams):
    return [os.path.join(ROOT, "run_finetuning.py"), "--data-dir", str(data_dir), "--model-name", MODEL,
            "--hparams", json.dumps({**BASE, "seed": 1, **hparams})]


def temporary_files(folder):
    """Leftovers of interrupted writes: our atomic writers' ``.tmp-<pid>-x`` / ``.x.<random>.tmp``
    files and TensorFlow's ``ckpt-N_temp`` folders."""
    def temporary(name):
        return name.startswith(".tmp-") or (name.startswith(".") and name.endswith(".tmp")) or name.endswith("_temp")

    return sorted(os.path.join(d, n) for d, dirs, names in os.walk(folder) for n in names + dirs if temporary(n))


def tree(folder):
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(folder) for n in names}


def assert_clean_failure(done, path_part):
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not write") and path_part in last and "file-size limit" in last, last
    assert "Traceback" not in done.stderr


def assert_rewrite_failure_keeps_output(args, out, folder, limit):
    """Write ``out`` once, then again under a file-size ``limit``: a clean error, the first
    output byte-identical, no temporary files under ``folder``."""
    first = limited_run(args, limit=1 << 40)
    assert first.returncode == 0, first.stderr[-3000:]
    before = tree(out)
    done = limited_run(args, limit=limit)
    assert_clean_failure(done, str(out))
    assert temporary_files(folder) == []
    assert tree(out) == before


def test_feature_cache_write_failure(tmp_path):
    data = workspace(tmp_path)
    done = limited_run(finetune_args(data), limit=4_000)
    assert_clean_failure(done, "sst_train.tfrecord")  # the first split checked and written
    assert temporary_files(data) == []
    assert not (data / "models" / MODEL / "finetuning_tfrecords" / "sst_tfrecords" / "sst_train.tfrecord").exists()


def test_checkpoint_write_failure_keeps_earlier_results(tmp_path):
    data = workspace(tmp_path)
    assert limited_run(finetune_args(data), limit=1 << 40).returncode == 0
    before = tree(results_dir(data))
    done = limited_run(finetune_args(data, overwrite_model_dir=True), limit=300_000)
    assert_clean_failure(done, "ckpt-")
    assert temporary_files(data) == []
    assert tree(results_dir(data)) == before


def test_results_write_failure_keeps_earlier_results(tmp_path):
    data = workspace(tmp_path)
    assert limited_run(finetune_args(data), limit=1 << 40).returncode == 0
    before = tree(results_dir(data))
    trained = tree(trial_dir(data))
    done = limited_run(finetune_args(data, eval_batch_size=16), limit=200)  # evaluation only: results are written
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: could not write")
    assert "Traceback" not in done.stderr
    assert temporary_files(data) == []
    assert tree(results_dir(data)) == before
    assert {k: v for k, v in tree(trial_dir(data)).items() if "tensorboard" not in k} == {
        k: v for k, v in trained.items() if "tensorboard" not in k}


@pytest.mark.parametrize("fmt", ["keras", "hf", "tf1"])
def test_converter_write_failure_keeps_the_earlier_output(tmp_path, fmt):
    source = os.path.join(ROOT, "examples", "data", "models", MODEL)
    out = tmp_path / "out"
    args = [os.path.join(ROOT, "convert", "convert_checkpoint.py"), "--input", source, "--output", str(out),
            "--to", fmt]
    assert_rewrite_failure_keeps_output(args, out, tmp_path, limit=100_000)


def test_saved_model_export_write_failure_keeps_the_earlier_export(tmp_path):
    model_dir = tmp_path / "model"
    made = run_limited(f"model.save_pretrained({str(model_dir)!r}, format='keras')", limit=1 << 40)
    assert made.returncode == 0, made.stderr[-2000:]
    out = tmp_path / "saved"
    args = ["-m", "electra_tf.cli.export", "--model", str(model_dir), "--output", str(out), "--max-seq-length", "16"]
    assert_rewrite_failure_keeps_output(args, out, tmp_path, limit=20_000)
