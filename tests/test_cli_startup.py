"""Every command answers --help and argument errors without importing TensorFlow.

Importing TensorFlow and Keras takes several seconds; a user asking for --help, or mistyping a
flag, should not wait for it. Each command runs in a fresh interpreter (--help, then the bad flag)
that reports after each command line whether tensorflow / keras got imported.
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
target, kind, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
for args in runs:  # one command line after the other, each reported on its own
    sys.argv = [target] + args.split()
    code = 0
    try:
        if kind == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    heavy = sorted(m for m in ("tensorflow", "keras", "torch") if m in sys.modules)
    sys.stdout.write("\\nEND-OF-RUN\\n")
    sys.stderr.write("CODE=%d HEAVY=%s\\nEND-OF-RUN\\n" % (code, ",".join(heavy)))
"""

# --help, then the bad flag, in ONE fresh interpreter per command (half the interpreter start-ups):
# the state after --help is checked before the bad flag runs, so an import of TensorFlow is still
# blamed on the command line that made it.
HELP, BAD_FLAG = "--help", "--no-such-flag"


def _run_both(target: str, kind: str):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-c", _PROBE, target, kind, HELP, BAD_FLAG], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    outs = done.stdout.split("\nEND-OF-RUN\n")
    errs = done.stderr.split("\nEND-OF-RUN\n")
    assert done.returncode == 0 and len(outs) == len(errs) == 3, done.stderr
    runs = {}
    for name, out, err in zip((HELP, BAD_FLAG), outs, errs):
        body, _, status = err.rpartition("CODE=")
        code, heavy = status.split(" HEAVY=")
        runs[name] = (int(code), out, body, heavy.strip())
    return runs


@pytest.mark.parametrize("target,kind", [(s, "script") for s in SCRIPTS] + [(m, "module") for m in MODULES])
def test_help_and_argument_error_do_not_import_tensorflow(target, kind):
    runs = _run_both(target, kind)
    code, out, err, heavy = runs[HELP]
    assert code == 0, err
    assert "usage:" in out
    assert heavy == "", f"{target} --help imported {heavy}"
    code, out, err, heavy = runs[BAD_FLAG]
    assert code == 2, err
    assert "error:" in err
    assert "Traceback" not in err
    assert heavy == "", f"{target} with a bad flag imported {heavy}"


_HIDDEN_PROBE = """
import sys
from electra_tf.cli.startup import start_tensorflow
start_tensorflow()
import keras
print("loaded during start-up:", sorted(n for n in ("sklearn", "matplotlib") if n in sys.modules))
from sklearn.metrics import f1_score
import io
from electra_tf.finetuning.plots import new_figure
figure = new_figure()
figure.subplots().plot([0, 1], [1, 0])
png = io.BytesIO()
figure.savefig(png, format="png")
print("usable afterwards:", f1_score([0, 1], [0, 1]), type(figure).__name__, png.getvalue()[1:4].decode())
"""


def test_start_up_skips_scikit_learn_and_matplotlib_and_both_work_afterwards():
    """keras imports both when TensorFlow starts; the commands leave them out of start-up (2 s of
    6-8 on an AVX2-only EPYC) and the metrics and plots that need them still import them."""
    done = subprocess.run([sys.executable, "-c", _HIDDEN_PROBE], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded during start-up: []" in done.stdout
    assert "usable afterwards: 1.0 Figure PNG" in done.stdout
