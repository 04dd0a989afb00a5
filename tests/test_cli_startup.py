"""Every command answers --help and argument errors without importing TensorFlow.

Importing TensorFlow and Keras takes several seconds; a user asking for --help, or mistyping a
flag, should not wait for it. Each command runs in a fresh interpreter that reports whether
tensorflow / keras got imported.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPTS = ["run_finetuning.py", "run_pretraining.py", "predict.py", "convert/convert_checkpoint.py", "build_vocab.py",
           "build_pretraining_dataset.py"]
# electra_tf.export is the documented "python -m electra_tf.export" (export/__main__.py)
MODULES = ["electra_tf.cli.export", "electra_tf.export", "electra_tf.cli.evaluate", "electra_tf.cli.report"]

_PROBE = """
import runpy, sys
target, kind, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.argv = [target] + args
code = 0
try:
    if kind == "module":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(target, run_name="__main__")
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
heavy = sorted(m for m in ("tensorflow", "keras", "torch") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
sys.exit(code)
"""


def _run(target: str, kind: str, *args: str):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-c", _PROBE, target, kind, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    heavy = [line for line in done.stderr.splitlines() if line.startswith("HEAVY=")]
    assert heavy, done.stderr
    return done, heavy[-1][len("HEAVY="):]


@pytest.mark.parametrize("target,kind", [(s, "script") for s in SCRIPTS] + [(m, "module") for m in MODULES])
def test_help_does_not_import_tensorflow(target, kind):
    done, heavy = _run(target, kind, "--help")
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert heavy == "", f"{target} --help imported {heavy}"


@pytest.mark.parametrize("target,kind", [(s, "script") for s in SCRIPTS] + [(m, "module") for m in MODULES])
def test_argument_error_does_not_import_tensorflow(target, kind):
    done, heavy = _run(target, kind, "--no-such-flag")
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr
    assert heavy == "", f"{target} with a bad flag imported {heavy}"
