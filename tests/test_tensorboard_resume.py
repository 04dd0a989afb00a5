"""After a resume, TensorBoard shows each step once: the resumed run purges the steps it re-runs.

The run is simulated with the training monitor and the evaluation summaries (what the engine and
the evaluator write): steps 1-6 with dev evaluations at 3 and 6, an interruption, a resume from
the checkpoint at step 3 that writes steps 4-8 and evaluates at 6 and 8. TensorBoard's own event
loader (purge_orphaned_data, its default) must then see steps 1-8 once each, with the resumed
run's values after step 3.
"""

import glob
import os

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

from electra_tf.training.progress import TrainingMonitor, write_eval_summaries


def _train(tensorboard_dir, start, stop, offset, evals):
    monitor = TrainingMonitor(total_steps=8, batch_size=2, start_step=start, every=1, tensorboard_dir=tensorboard_dir)
    for step in range(start + 1, stop + 1):
        monitor.step(step, loss=offset + step, lr=1e-4, grad_norm=1.0)
        if step in evals:
            write_eval_summaries(tensorboard_dir, "dev", step, {"sst": {"accuracy": offset + step / 10}})
    monitor.close()


def _points(run_dir, tag):
    accumulator = EventAccumulator(run_dir)  # purge_orphaned_data=True, as TensorBoard runs it
    accumulator.Reload()
    return [(event.step, float(tf.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


def _strip_markers(run_dir, out_dir):
    """A copy of a run's event files without the SessionLog events (what was written before)."""
    os.makedirs(out_dir)
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        with tf.io.TFRecordWriter(os.path.join(out_dir, os.path.basename(path))) as writer:
            for record in tf.data.TFRecordDataset(path):
                event = tf.compat.v1.Event.FromString(record.numpy())
                if not event.HasField("session_log"):
                    writer.write(record.numpy())


def test_resume_purges_the_steps_it_reruns(tmp_path):
    board = str(tmp_path / "tensorboard")
    _train(board, start=0, stop=6, offset=0, evals=(3, 6))  # interrupted after step 6, checkpoint at 3
    _train(board, start=3, stop=8, offset=100, evals=(6, 8))

    train = _points(os.path.join(board, "train"), "loss")
    assert [s for s, _ in train] == list(range(1, 9))
    assert [v for _, v in train] == [1, 2, 3, 104, 105, 106, 107, 108]  # the resumed run's values
    dev = _points(os.path.join(board, "dev"), "sst/accuracy")
    assert [s for s, _ in dev] == [3, 6, 8]
    np.testing.assert_allclose([v for _, v in dev], [0.3, 100.6, 100.8], rtol=1e-6)

    # Without the markers TensorBoard keeps both runs' points (the reason for the markers).
    _strip_markers(os.path.join(board, "train"), str(tmp_path / "unmarked"))
    steps = [s for s, _ in _points(str(tmp_path / "unmarked"), "loss")]
    assert len(steps) > len(set(steps))


def test_second_resume_purges_again_and_a_fresh_run_writes_no_marker(tmp_path):
    board = str(tmp_path / "tensorboard")
    _train(board, start=0, stop=5, offset=0, evals=())
    assert not any(tf.compat.v1.Event.FromString(r.numpy()).HasField("session_log")
                   for path in glob.glob(os.path.join(board, "train", "*"))
                   for r in tf.data.TFRecordDataset(path))
    _train(board, start=2, stop=6, offset=100, evals=())
    _train(board, start=4, stop=8, offset=200, evals=())
    assert _points(os.path.join(board, "train"), "loss") == [
        (1, 1), (2, 2), (3, 103), (4, 104), (5, 205), (6, 206), (7, 207), (8, 208)]
