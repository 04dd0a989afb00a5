"""TensorFlow's start-up notices are hidden by default and shown on request."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_QUIET = ("import sys; sys.path.insert(0, {root!r}); from electra_tf.cli.startup import start_tensorflow; "
          "start_tensorflow(); import tensorflow as tf; print(float(tf.constant(2.0) * 2))")
_PLAIN = "import tensorflow as tf; print(float(tf.constant(2.0) * 2))"


X86 = os.uname().machine.lower() in ("x86_64", "amd64")  # where TF_ENABLE_ONEDNN_OPTS decides the kernels


def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ELECTRA_TF_VERBOSE", "TF_ENABLE_ONEDNN_OPTS")}
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
    # plain TensorFlow with the oneDNN setting electra_tf gives it on x86-64 (on AVX2-only CPUs TensorFlow
    # alone keeps oneDNN off and does not print its "oneDNN custom operations are on" notice)
    onednn = {"TF_ENABLE_ONEDNN_OPTS": "1"} if X86 else {}
    plain = _run(_PLAIN, TF_CPP_MIN_LOG_LEVEL="2", **onednn)
    verbose = _run(_QUIET, ELECTRA_TF_VERBOSE="1")
    assert verbose.returncode == 0 and verbose.stdout.strip() == "4.0"
    assert _shape(verbose.stderr) == _shape(plain.stderr)


def test_failed_start_replays_the_captured_notices():
    # A broken keras backend makes the import fail; the error must still be visible.
    failing = _run(_QUIET, KERAS_BACKEND="no-such-backend")
    assert failing.returncode != 0
    assert "no-such-backend" in failing.stderr


def test_onednn_rewrites_are_asked_for_on_x86_unless_the_user_chose():
    from electra_tf.utils.onednn import ONEDNN_ENV, enable_onednn_default

    env = {}
    assert enable_onednn_default(env, machine="x86_64") and env == {ONEDNN_ENV: "1"}
    env = {ONEDNN_ENV: "0"}  # the user's choice (Eigen kernels) stays
    assert not enable_onednn_default(env, machine="x86_64") and env == {ONEDNN_ENV: "0"}
    env = {}
    assert not enable_onednn_default(env, machine="aarch64") and env == {}  # TensorFlow decides there


def test_the_commands_start_tensorflow_with_the_onednn_setting():
    code = ("import os, sys; sys.path.insert(0, {root!r}); from electra_tf.cli.startup import start_tensorflow; "
            "start_tensorflow(); print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    unset = _run(code)
    expected = "1" if X86 else "None"
    assert unset.returncode == 0 and unset.stdout.strip() == expected
    chosen = _run(code, TF_ENABLE_ONEDNN_OPTS="0")
    assert chosen.returncode == 0 and chosen.stdout.strip() == "0"


def test_importing_the_library_first_gives_tensorflow_the_same_kernels():
    # A model trained by a command (which imports electra_tf first) predicts with the same kernels in a
    # notebook that imports electra_tf before TensorFlow.
    code = "import os, sys; sys.path.insert(0, {root!r}); import electra_tf; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
    assert _run(code).stdout.strip() == ("1" if X86 else "None")
    if X86:  # and TensorFlow then computes with oneDNN, whatever this CPU's own default
        kernels = _run("import sys; sys.path.insert(0, {root!r}); import electra_tf; "
                       "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())")
        assert kernels.stdout.strip().splitlines()[-1] == "True"


def test_the_test_process_computes_with_onednn_as_the_commands_do():
    # conftest imports electra_tf before keras: bit-for-bit comparisons between a command's outputs
    # and this process's are made with the same kernels on every x86-64 host (AVX2-only included).
    if not X86:
        pytest.skip("oneDNN is TensorFlow's own choice off x86-64")
    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") in ("1", "0")  # set by import electra_tf, or by the user
    if os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0":
        pytest.skip("the test run was started with TF_ENABLE_ONEDNN_OPTS=0")
    from tensorflow.python.util import _pywrap_util_port as port

    assert port.IsMklEnabled()
    late = _run("import os, sys; sys.path.insert(0, {root!r}); import tensorflow; import electra_tf; "
                "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    assert late.stdout.strip() == "None"  # too late to matter: left alone


def test_a_program_that_imported_tensorflow_first_is_told_when_it_got_the_eigen_kernels():
    # Too late to choose: the notice comes exactly where TensorFlow chose its Eigen kernels by itself
    # (AVX2-only x86-64 CPUs), and never on a CPU where TensorFlow turned oneDNN on.
    code = ("import sys, warnings; sys.path.insert(0, {root!r}); import tensorflow; "
            "from tensorflow.python.util import _pywrap_util_port as port; "
            "warnings.simplefilter('always'); "
            "with_notice = []; warnings.showwarning = lambda m, *a, **k: with_notice.append(str(m)); "
            "import electra_tf; print(port.IsMklEnabled(), any('Eigen kernels' in m for m in with_notice))")
    onednn_on, noticed = _run(code).stdout.strip().splitlines()[-1].split()
    assert noticed == str(X86 and onednn_on == "False")
    assert _run(code, TF_ENABLE_ONEDNN_OPTS="0").stdout.strip().splitlines()[-1].endswith("False")  # chosen: quiet


def test_the_eigen_notice_is_only_for_an_unset_variable_on_x86():
    from electra_tf.utils.onednn import tensorflow_chose_eigen_notice

    assert tensorflow_chose_eigen_notice({"TF_ENABLE_ONEDNN_OPTS": "0"}, machine="x86_64") is None
    assert tensorflow_chose_eigen_notice({"TF_ENABLE_ONEDNN_OPTS": "1"}, machine="x86_64") is None
    assert tensorflow_chose_eigen_notice({}, machine="aarch64") is None
