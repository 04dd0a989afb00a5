"""Signals that arrive after the work is done (issue #24): a SIGTERM while a command exits lets
the exit complete with the command's own code (its outputs are complete) instead of killing it
silently with 143, and a signal after training finished says that training is done and what a
rerun writes. Real processes and real signals, as a scheduler sends them."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from tests.conftest import ROOT
from tests.test_model_directory_checks import LABELS, VOCAB
from tests.test_run_safety import assert_same_weights, final_weights, run, start_until, workspace

FINAL_LINE = "done: outputs written"


def _script(body, before=""):
    """A command's process: ``before`` runs first, then a command whose action prints FINAL_LINE
    through run_command, then ``body`` (what happens while the process exits)."""
    code = textwrap.dedent(f"""
        import atexit, os, signal, sys, threading, time
        sys.path.insert(0, {ROOT!r})
        from electra_tf.cli.support import run_command
        {before}
        code = run_command(lambda: print({FINAL_LINE!r}, flush=True))
        {body}
        sys.exit(code)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_sigterm_while_python_exits_completes_the_exit_with_a_note():
    # atexit hooks run last-registered first: this one runs while the command's handler is active
    done = _script("atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))")
    assert done.returncode == 0 and done.stdout == FINAL_LINE + "\n"
    assert done.stderr == "note: SIGTERM arrived after the command finished; its outputs are complete.\n"


def test_sigterm_while_threads_are_joined_at_exit_completes_the_exit():
    body = "threading.Thread(target=lambda: (time.sleep(0.3), os.kill(os.getpid(), signal.SIGTERM))).start()"
    done = _script(body)
    assert done.returncode == 0 and done.stdout == FINAL_LINE + "\n" and "its outputs are complete" in done.stderr


def test_sigterm_in_the_last_moments_of_the_exit_is_ignored():
    # registered before the command: runs after its hook, when Python may no longer run handlers
    done = _script("", before="atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))")
    assert done.returncode == 0 and done.stdout == FINAL_LINE + "\n" and done.stderr == ""


def test_a_program_that_goes_on_after_the_command_is_still_stopped_by_sigterm():
    done = _script("print('still running', flush=True); os.kill(os.getpid(), signal.SIGTERM); time.sleep(5); "
                   "print('not reached')")
    assert done.returncode == -signal.SIGTERM and done.stdout == FINAL_LINE + "\nstill running\n"


def test_a_signal_after_training_finished_says_so_and_what_a_rerun_does():
    action = ("lambda: (__import__('electra_tf.training.interrupts', fromlist=['x']).record_training_finished('/runs/x', 7),"
              " os.kill(os.getpid(), signal.SIGTERM), time.sleep(5))")
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {ROOT!r})
        from electra_tf.cli.support import run_command
        sys.exit(run_command({action}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 143
    assert done.stderr == ("Interrupted (SIGTERM) after training had finished (step 7; its final checkpoint is in "
                           "/runs/x). What the run was writing after training (models, predictions, results) may be "
                           "incomplete: run the same command again to write it; training is not repeated.\n")


def test_predict_signalled_while_it_exits_finishes_with_its_outputs(tmp_path):
    import electra_tf as et
    from electra_tf.checkpoints.hf import write_tokenizer_files
    from electra_tf.model_dir.metadata import TaskMetadata

    model_dir = str(tmp_path / "model")
    config = et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, num_labels=2,
                              id2label=dict(enumerate(LABELS)))
    et.TFElectraForSequenceClassification(config).build_with_dummy_inputs().save_pretrained(model_dir, format="keras")
    write_tokenizer_files(model_dir, VOCAB, do_lower_case=True)
    TaskMetadata(task_name="sst", family="classification", model_type="sequence-classification", max_seq_length=16,
                 labels=list(LABELS), tokenizer={"file": "vocab.txt", "do_lower_case": True},
                 settings={"problem": "single_label"}).write(model_dir)
    (tmp_path / "in.txt").write_text("a good movie\nbad\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "predict.py"), "--model", model_dir, "--input",
                             str(tmp_path / "in.txt"), "--output", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    final = proc.stdout.readline()
    time.sleep(random.uniform(0.0, 0.5))  # TensorFlow's teardown takes about a second after the final line
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]  # before: -15 (exit 143), no message
    assert final == f"Wrote 2 predictions to {out}\n" and rest == "" and "Traceback" not in err
    assert [json.loads(line)["line"] for line in out.read_text(encoding="utf-8").splitlines()] == [1, 2]


def test_finetuning_signalled_after_training_reports_it_and_the_rerun_writes_the_rest(tmp_path):
    data_dir = workspace(tmp_path, n_train=48, n_dev=48)
    proc = start_until(data_dir, "Model of sst written to")  # training finished, dev evaluation next
    proc.send_signal(signal.SIGSTOP)  # held, so that it cannot finish before the signal
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143
    assert "Interrupted (SIGTERM) after training had finished (step 3; its final checkpoint is in " in err
    assert "training is not repeated" in err and "Traceback" not in err
    trained = final_weights(data_dir)
    again = run(data_dir)
    assert again.returncode == 0 and "Results:" in again.stdout
    assert "Training already finished" in again.stderr and "step 1/3" not in again.stderr  # not trained again
    assert_same_weights(final_weights(data_dir), trained)
