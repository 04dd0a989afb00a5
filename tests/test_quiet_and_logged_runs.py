"""A run's console starts with its own first line, and its .log file records how it ended.

* The README's quick start (on a copy of examples/data, one tenth of an epoch) prints no
  TensorFlow/absl start-up notice: the first stderr line is electra-tf's, and none appears later.
* An error after the run's .log was opened (here: resume false on a model folder that holds
  checkpoints) goes to the .log with its exit code, as do Ctrl-C and SIGTERM.
"""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from electra_tf.cli.run_logging import setup_logging
from electra_tf.cli.support import run_command
from electra_tf.errors import ConfigError
from electra_tf.training.interrupts import RunInterrupted

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What TensorFlow, absl and CUDA print at start-up (issue #15: seven lines before the first useful one).
NOTICES = re.compile(r"absl::InitializeLog|cuInit|cuda|cpu_feature_guard|oneDNN|rebuild TensorFlow|^[IWEF]\d{4} ",
                     re.IGNORECASE)
USEFUL_FIRST_LINE = re.compile(r"^\d\d:\d\d:\d\d (Wrote \d+ features|Using cached features|Trial 1)")


def _quiet_env():
    """The environment of a user's shell: none of the test run's logging settings."""
    return {k: v for k, v in os.environ.items()
            if k not in ("TF_CPP_MIN_LOG_LEVEL", "ELECTRA_TF_VERBOSE", "PYTHONPATH")}


def _quick_start(tmp_path, **overrides):
    with open(os.path.join(ROOT, "configs", "params_quickstart.json"), encoding="utf-8") as f:
        hparams = json.load(f)
    hparams.update(num_train_epochs=0.1, **overrides)  # a few steps: the output, not the accuracy, is tested
    params = tmp_path / "params.json"
    params.write_text(json.dumps(hparams), encoding="utf-8")
    return subprocess.run([sys.executable, "run_finetuning.py", "--data-dir", str(tmp_path / "data"),
                           "--model-name", "electra-tiny", "--hparams", str(params)],
                          cwd=ROOT, env=_quiet_env(), capture_output=True, text=True, timeout=900)


def test_quick_start_is_quiet_and_its_log_records_a_later_error(tmp_path):
    shutil.copytree(os.path.join(ROOT, "examples", "data"), tmp_path / "data",
                    ignore=shutil.ignore_patterns("finetuning_models", "finetuning_tfrecords", "results",
                                                  "test_predictions"))
    done = _quick_start(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and USEFUL_FIRST_LINE.match(lines[0]), lines[:8]
    assert not [line for line in lines if NOTICES.search(line)], lines[:8]
    log_file = tmp_path / "data" / "models" / "electra-tiny" / "finetuning_models" / "sst_model.log"
    assert "Training for" in log_file.read_text(encoding="utf-8")

    again = _quick_start(tmp_path, resume=False)  # the trial folder holds checkpoints: an error, exit 2
    assert again.returncode == 2, again.stderr[-3000:]
    message = [line for line in again.stderr.splitlines() if line.startswith("error: ")]
    assert message and "resume" in message[0]
    last = log_file.read_text(encoding="utf-8").strip().splitlines()[-1]
    assert last.endswith(f"{message[0]} (exit code 2)"), last


@pytest.fixture
def run_log(tmp_path):
    """The command's logging set up with a .log file, restored afterwards for the other tests."""
    loggers = [logging.getLogger("electra_tf"), logging.getLogger("electra_tf.file")]
    saved = [(lg, list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    path = tmp_path / "run.log"
    setup_logging(str(path))
    yield path
    for lg, handlers, propagate, level in saved:
        for handler in lg.handlers:
            if handler not in handlers:
                handler.close()
        lg.handlers[:] = handlers
        lg.propagate, lg.level = propagate, level


def _raise(error):
    def action():
        raise error
    return action


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)  # the handler raises during the sleep


@pytest.mark.parametrize("action,code,expected", [
    (_raise(ConfigError("bad key 'x' in params.json")), 2, "error: bad key 'x' in params.json (exit code 2)"),
    (_raise(KeyboardInterrupt()), 130, "Interrupted (Ctrl-C). Nothing to resume"),
    (_sigterm, 143, "Interrupted (SIGTERM). Nothing to resume"),
    (_raise(RunInterrupted("Stopped by SIGINT at step 7; saved.", "SIGINT", 7, 130)), 130,
     "Stopped by SIGINT at step 7; saved. (exit code 130)"),
])
def test_errors_and_interrupts_go_to_the_log_file(run_log, capsys, action, code, expected):
    assert run_command(action) == code
    logged = run_log.read_text(encoding="utf-8")
    assert expected in logged
    assert f"(exit code {code})" in logged
    assert expected.split(" (exit code")[0] in capsys.readouterr().err  # the console gets it too


def test_an_unexpected_error_goes_to_the_log_with_its_traceback(run_log):
    with pytest.raises(ZeroDivisionError):
        run_command(lambda: 1 / 0)
    logged = run_log.read_text(encoding="utf-8")
    assert "error: unexpected ZeroDivisionError" in logged and "Traceback" in logged


# Commands that start TensorFlow before they find the input missing: their whole stderr must be
# the one error line (a notice printed by TensorFlow's import or device set-up would come first).
# The command ends the process itself (cli/process_exit.py): the probe reports from an atexit hook.
_PROBE = """
import atexit, runpy, sys
target, kind, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.argv = [target] + args
atexit.register(lambda: sys.stdout.write("TENSORFLOW=" + str("tensorflow" in sys.modules) + "\\n"))
if kind == "module":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    runpy.run_path(target, run_name="__main__")
"""


@pytest.mark.parametrize("target,kind,args", [
    ("electra_tf.cli.export", "module", ["--model", "{missing}", "--output", "{out}"]),
    ("build_pretraining_dataset.py", "script", ["--corpus-dir", "{missing}", "--vocab-file", "{missing}",
                                                "--output-dir", "{out}"]),
])
def test_commands_that_start_tensorflow_print_only_their_own_lines(tmp_path, target, kind, args):
    args = [a.format(missing=tmp_path / "missing", out=tmp_path / "out") for a in args]
    done = subprocess.run([sys.executable, "-c", _PROBE, target, kind, *args], cwd=ROOT,
                          env=dict(_quiet_env(), PYTHONPATH=ROOT), capture_output=True, text=True, timeout=300)
    assert "TENSORFLOW=True" in done.stdout  # it got as far as starting TensorFlow
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "missing" in lines[0], lines[:8]
