"""TensorFlow's start-up notices are hidden by default and shown on request."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_QUIET = ("import sys; sys.path.insert(0, {root!r}); from electra_tf.cli.startup import start_tensorflow; "
          "start_tensorflow(); import tensorflow as tf; print(float(tf.constant(2.0) * 2))")
_PLAIN = "import tensorflow as tf; print(float(tf.constant(2.0) * 2))"


def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ELECTRA_TF_VERBOSE")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code.format(root=ROOT)], capture_output=True, text=True,
                          env=full, timeout=300)


def _shape(stderr):
    """The notices without their time stamps and process ids."""
    return sorted(re.sub(r"^\S+ \S+\s+\d+ ", "", line) for line in stderr.splitlines() if line.strip())


def test_quiet_by_default_and_verbose_shows_what_tensorflow_prints():
    quiet = _run(_QUIET)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "4.0"
    assert quiet.stderr == ""
    plain = _run(_PLAIN, TF_CPP_MIN_LOG_LEVEL="2")
    verbose = _run(_QUIET, ELECTRA_TF_VERBOSE="1")
    assert verbose.returncode == 0 and verbose.stdout.strip() == "4.0"
    assert _shape(verbose.stderr) == _shape(plain.stderr)


def test_failed_start_replays_the_captured_notices():
    # A broken keras backend makes the import fail; the error must still be visible.
    failing = _run(_QUIET, KERAS_BACKEND="no-such-backend")
    assert failing.returncode != 0
    assert "no-such-backend" in failing.stderr
