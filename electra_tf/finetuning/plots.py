"""A run's curves as PNG files: training loss and learning rate over steps, dev metrics over
evaluations (read from the run's TensorBoard event files), and a metric against hparams (sweeps).

Reading the event files needs no TensorFlow (the record framing is read here, the ``Event``
messages with TensorBoard's protobuf classes). Drawing needs matplotlib, the optional extra
``report`` (``pip install electra-tf[report]``); it is imported only when a plot is drawn (a plain
``Figure``, saved by the Agg renderer; pyplot is never imported), so ``--help`` and training never import it.
"""

from __future__ import annotations

import glob
import io
import os
import struct
from typing import Dict, List, Optional, Sequence, Tuple

from electra_tf.errors import ElectraError
from electra_tf.utils.files import atomic_write_bytes


class PlottingUnavailable(ElectraError, ImportError):
    """matplotlib (the extra ``report``) is not installed."""


def new_figure(**kwargs):
    """A matplotlib Figure (drawn by Agg when saved; pyplot, its global state and its 0.5 s import
    are not needed), or PlottingUnavailable naming the pip command."""
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise PlottingUnavailable(f"drawing plots needs the Python package 'matplotlib' ({e}); install it with: "
                                  f"pip install electra-tf[report]") from None
    return Figure(**kwargs)


# ------------------------------------------------------------------------ event files
def _records(path: str):
    """The payloads of a TFRecord file (length, length CRC, data, data CRC); a record cut short at
    the end (a run killed while writing) ends the file."""
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if len(header) < 12:
                return
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                return
            yield data


def _value(value) -> Optional[float]:
    """The number of a summary value: a scalar tensor (TF2 summaries) or a simple_value (TF1)."""
    import numpy as np

    if value.HasField("tensor"):
        tensor = value.tensor
        dtypes = {1: ("float_val", "<f4"), 2: ("double_val", "<f8"), 3: ("int_val", "<i4"), 9: ("int64_val", "<i8")}
        if tensor.dtype not in dtypes:
            return None
        field, code = dtypes[tensor.dtype]
        if tensor.tensor_content:
            values = np.frombuffer(tensor.tensor_content, dtype=code)
        else:
            values = list(getattr(tensor, field))
        return float(values[0]) if len(values) == 1 else None
    if value.HasField("simple_value"):
        return float(value.simple_value)
    return None


def read_scalars(folder: str) -> Dict[str, Dict[int, float]]:
    """{tag: {step: value}} of every scalar in the event files of ``folder`` ({} when there are
    none). Files are read in name order (their creation time), so a resumed run's later value of
    a step wins; an unreadable record ends its file."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import event_pb2

    found: Dict[str, Dict[int, float]] = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "events.out.tfevents.*"))):
        for data in _records(path):
            event = event_pb2.Event()
            try:
                event.ParseFromString(data)
            except DecodeError:
                break
            for value in event.summary.value:
                number = _value(value)
                if number is not None:
                    found.setdefault(value.tag, {})[int(event.step)] = number
    return found


# ------------------------------------------------------------------------ drawing
def _save(fig, path: str) -> None:
    """Write the figure as PNG atomically (no timestamp in the file: equal data, equal bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())


def _series(axis, points: Dict[int, float], label: str) -> None:
    steps = sorted(points)
    axis.plot(steps, [points[s] for s in steps], marker="o" if len(steps) < 30 else None, label=label)


def plot_training(scalars: Dict[str, Dict[int, float]], path: str, title: str = "") -> bool:
    """Training loss and learning rate over steps (two panels) to ``path``; False (nothing
    written) when the events hold neither."""
    curves = [(tag, scalars[tag]) for tag in ("loss", "learning_rate") if scalars.get(tag)]
    if not curves:
        return False
    fig = new_figure(figsize=(7, 2.6 * len(curves)))
    axes = fig.subplots(len(curves), 1, sharex=True, squeeze=False)
    for axis, (tag, points) in zip(axes[:, 0], curves):
        _series(axis, points, tag)
        axis.set_ylabel({"loss": "training loss (per example)", "learning_rate": "learning rate"}[tag])
        axis.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    _save(fig, path)
    return True


def plot_dev_metrics(metrics: Dict[str, Dict[int, float]], path: str, title: str = "") -> bool:
    """Each dev metric ({name: {step: value}}) over the evaluations to ``path``; False when empty."""
    metrics = {name: points for name, points in sorted(metrics.items()) if points}
    if not metrics:
        return False
    fig = new_figure(figsize=(7, 3.2))
    axis = fig.subplots()
    for name, points in metrics.items():
        _series(axis, points, name)
    axis.set_xlabel("step")
    axis.set_ylabel("dev metric")
    axis.grid(True, alpha=0.3)
    axis.legend()
    if title:
        axis.set_title(title)
    fig.tight_layout()
    _save(fig, path)
    return True


def plot_metric_against(points: Sequence[Tuple[Dict[str, object], Sequence[float]]], metric: str, path: str) -> None:
    """A sweep's ``metric`` against its hparams, one panel per swept hparam, to ``path``.

    ``points``: (hparam values of a sweep point, the metric of each of its trials). Each panel
    shows every trial (dots) and the point's mean (a line through the means of each value, the
    other hparams fixed); a numeric hparam spanning a factor of 10 or more gets a log axis."""
    import numpy as np

    points = [(dict(values), [float(v) for v in metrics]) for values, metrics in points]
    if not points:
        raise ElectraError(f"no sweep points to plot for {metric}.")
    names = sorted({name for values, _ in points for name in values})
    if not names:
        names = [""]
    fig = new_figure(figsize=(4.2 * len(names), 3.4))
    axes = fig.subplots(1, len(names), squeeze=False, sharey=True)
    for axis, name in zip(axes[0], names):
        values = [values.get(name) for values, _ in points]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        order = sorted({repr(v) for v in values}) if not numeric else None
        position = (lambda v: float(v)) if numeric else (lambda v: float(order.index(repr(v))))  # noqa: E731
        others = sorted({tuple(sorted((k, repr(v)) for k, v in values_.items() if k != name)) for values_, _ in points})
        for other in others:
            group = [(position(values_.get(name)), metrics) for values_, metrics in points
                     if tuple(sorted((k, repr(v)) for k, v in values_.items() if k != name)) == other]
            group.sort(key=lambda item: item[0])
            label = ", ".join(f"{k}={v}" for k, v in other) or None
            line = axis.plot([x for x, m in group if m], [float(np.mean(m)) for _, m in group if m], marker="s",
                             label=label)[0]
            for x, metrics in group:
                axis.scatter([x] * len(metrics), metrics, color=line.get_color(), alpha=0.5, s=14)
        if numeric:
            positive = [float(v) for v in values if float(v) > 0]
            if positive and len(positive) == len(values) and max(positive) / min(positive) >= 10:
                axis.set_xscale("log")
        else:
            axis.set_xticks(range(len(order)), order)
        axis.set_xlabel(name or "point")
        axis.grid(True, alpha=0.3)
        if len(others) > 1:
            axis.legend(fontsize="small")
    axes[0, 0].set_ylabel(metric)
    fig.tight_layout()
    _save(fig, path)
