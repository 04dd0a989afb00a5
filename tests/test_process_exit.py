"""A command's own process ends without Python's teardown (cli/process_exit.py), and still does
everything of Python's exit that can matter: threads finish, atexit hooks run, output is flushed, the
exit code is the command's, and a SIGTERM during the exit does not turn it into 143."""

import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT


def _command(tmp_path, main_body: str, before: str = "", stdout=None, buffered: bool = False):
    """Run ``as_command(main)`` in a fresh process; ``main``'s body is ``main_body``. A module-level
    object writes ``torn down`` to a file when Python's teardown finalizes it."""
    header = textwrap.dedent(f"""
        import atexit, os, signal, sys, threading, time
        sys.path.insert(0, {ROOT!r})
        from electra_tf.cli.process_exit import as_command
        from electra_tf.cli.support import run_command
        OUT = {str(tmp_path)!r}
        fd = os.open(os.path.join(OUT, "teardown"), os.O_WRONLY | os.O_CREAT)

        class Witness:
            def __del__(self):
                os.write(fd, b"torn down")

        witness = Witness()
        {before}
    """)
    main = "def main():\n" + textwrap.indent(textwrap.dedent(main_body).strip("\n"), "    ") + "\n"
    code = header + main + "\nas_command(main)()\nprint('not reached')\n"
    env = None
    if buffered:  # stdout block-buffered as Python makes it for a file (PYTHONUNBUFFERED may be set around us)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE if stdout is None else stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120, env=env)


def test_threads_hooks_and_buffered_output_complete_and_the_code_is_the_commands(tmp_path):
    body = """
        print("buffered, never flushed by the command", end="")
        def later():
            time.sleep(0.3)
            with open(os.path.join(OUT, "thread"), "w") as f:
                f.write("finished")
        threading.Thread(target=later).start()  # not a daemon: the exit waits for it
        atexit.register(lambda: open(os.path.join(OUT, "hook"), "w").write("ran"))
        return 3
    """
    done = _command(tmp_path, body)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "buffered, never flushed by the command"
    assert (tmp_path / "thread").read_text() == "finished"
    assert (tmp_path / "hook").read_text() == "ran"
    # the point of it: Python's teardown (module finalization) did not run
    assert (tmp_path / "teardown").read_text() == ""


def test_the_teardown_witness_does_fire_on_a_normal_exit(tmp_path):
    # the check above can fail: the same process ended by sys.exit finalizes the module's objects
    done = _command(tmp_path, "sys.exit(0)")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "teardown").read_text() == "torn down"


def test_a_sigterm_during_the_exit_hooks_completes_the_exit_with_the_commands_code(tmp_path):
    # cli/support.py's handler needs to know the process is exiting: without threading's exit step
    # the default action would kill the exit with 143
    body = """
        code = run_command(lambda: print("done: outputs written", flush=True))
        atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))  # runs first of the hooks
        return code
    """
    done = _command(tmp_path, body)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout == "done: outputs written\n"
    assert done.stderr == "note: SIGTERM arrived after the command finished; its outputs are complete.\n"


def test_an_error_escaping_main_takes_pythons_normal_exit(tmp_path):
    done = _command(tmp_path, 'raise RuntimeError("boom")')
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: boom" in done.stderr
    assert (tmp_path / "teardown").read_text() == "torn down"


def test_a_real_command_completes_its_output_and_exits_with_its_code(tmp_path):
    """build_vocab.py (no TensorFlow) on a small corpus: its vocabulary is complete and its exit code 0;
    a missing corpus is exit code 2 with the one-line error."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 50, encoding="utf-8")
    vocab = tmp_path / "vocab.txt"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "build_vocab.py"), "--corpus-dir", str(corpus),
                           "--vocab-file", str(vocab), "--vocab-size", "120"],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    words = vocab.read_text(encoding="utf-8").split("\n")
    assert "[CLS]" in words and "fox" in words
    missing = subprocess.run([sys.executable, os.path.join(ROOT, "build_vocab.py"), "--corpus-dir",
                              str(tmp_path / "nowhere"), "--vocab-file", str(tmp_path / "v2.txt")],
                             capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert missing.returncode == 2 and missing.stderr.startswith("error: "), missing.stderr


def test_output_that_cannot_be_written_is_reported_and_fails_the_command(tmp_path):
    # `command > results.json` on a full disk: the buffered output's last flush fails with ENOSPC.
    # Python's own exit says so with code 120; ours must not turn it into a silent success.
    with open("/dev/full", "w") as full:
        done = _command(tmp_path, 'print("{\\"f1\\": 90.0}")\nreturn 0', stdout=full, buffered=True)
        assert done.returncode == 120, done.stderr
        assert "could not write the command's output to standard output" in done.stderr
        assert "No space left on device" in done.stderr
        failed = _command(tmp_path, 'print("partial")\nreturn 3', stdout=full, buffered=True)
        assert failed.returncode == 3, failed.stderr  # a failing command keeps its own code


def test_a_reader_that_went_away_is_not_an_error(tmp_path):
    # `command | head`: the reader is gone before the output's last flush (Python's own exit would
    # print "Exception ignored ... BrokenPipeError" and end with 120); the command's code stands
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait(timeout=60)  # exited without reading: the pipe has no reader left
    try:
        done = _command(tmp_path, 'print("a short result")\nreturn 0', stdout=reader.stdin, buffered=True)
    finally:
        reader.stdin.close()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_process_that_joined_a_cluster_takes_pythons_normal_exit(tmp_path):
    # multi-worker / TPU: TensorFlow's teardown is how a worker leaves the cluster, so it is not skipped
    body = """
        from tensorflow.python.eager import context
        context.context().configure_coordination_service(service_type="standalone",
                                                         service_leader="/job:worker/replica:0/task:0")
        from electra_tf.cli.process_exit import joined_a_cluster
        print(joined_a_cluster())
        return 4
    """
    done = _command(tmp_path, body)
    assert done.returncode == 4, done.stderr
    assert done.stdout.strip().endswith("True")
    assert (tmp_path / "teardown").read_text() == "torn down"
    (tmp_path / "plain").mkdir()
    plain = _command(tmp_path / "plain", "import tensorflow as tf\ntf.constant(1)\n"
                     "from electra_tf.cli.process_exit import joined_a_cluster\nprint(joined_a_cluster())\nreturn 0")
    assert plain.returncode == 0 and plain.stdout.strip().endswith("False"), plain.stderr
    assert (tmp_path / "plain" / "teardown").read_text() == ""
