"""What the families' prediction code shares: the registry of family predictors and the small
helpers (reading input lines, batching, softmax, JSON output).

A family's ``finetuning/<family>/predict.py`` defines ``OUTPUT_FORMATS`` (its own format, the
formats it can write, what it writes in words, the extensions to suggest) and
``predict(backend, meta, preprocessor, request, model) -> int`` (the number of predictions),
which reads ``request.input`` and writes ``request.target`` (and ``request.side_targets``) in
``request.format``. ``finetuning/<family>/family.py`` exposes them (finetuning/families.py).
"""

from __future__ import annotations

import json

#: the task name a model directory's features are named with when it predicts
TASK_NAME = "predict"

def predictor(family: str):
    """The prediction code of ``family``: its ``family.py`` (``predict``, ``OUTPUT_FORMATS``,
    ``SIDE_FILES``)."""
    from electra_tf.finetuning.families import family_module

    return family_module(family)


def softmax(x):
    """Softmax over the last axis (NumPy)."""
    import numpy as np

    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


#: lines featurized and length-sorted together by predict.py (bounded memory on any input size;
#: large enough that batches of similar length form within a block)
PREDICT_BLOCK = 4096


def batches(items, size):
    """``items`` in consecutive slices of ``size``."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def run_length_sorted(backend, input_ids, input_mask, segment_ids, batch_size: int, labeled_positions=None,
                      multiple: int = 8):
    """The backend's outputs for rows [n, max_seq_length] of token ids, computed in batches of rows
    of similar length, each batch cut to its longest row (rounded up to ``multiple``), and
    returned in input order: {name: [n, ...]}. The padding cut away is masked, so the outputs are
    those of full-length batches in input order up to float rounding (the same predictions);
    outputs must not have a per-token axis (classification logits, a tagger's logits at its
    ``labeled_positions``)."""
    import numpy as np

    lengths = np.asarray(input_mask).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    full = np.asarray(input_ids).shape[1]
    outputs = {}
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = min(full, max(multiple, -(-int(lengths[rows].max()) // multiple) * multiple))
        positions = None if labeled_positions is None else np.asarray(labeled_positions)[rows]
        out = backend.run(np.asarray(input_ids)[rows, :width], np.asarray(input_mask)[rows, :width],
                          np.asarray(segment_ids)[rows, :width], labeled_positions=positions)
        for name, value in out.items():
            if name not in outputs:
                outputs[name] = np.zeros((len(order),) + value.shape[1:], value.dtype)
            outputs[name][rows] = value
    return outputs


class GraphBackend:
    """The TF backend of predict.py: the Keras ``model`` called in inference mode inside one
    ``tf.function`` traced once for every batch shape (inputs [None, None]), as the run's own
    evaluation calls it. Graph mode is what makes the predictions the run's own: under
    mixed_bfloat16, TensorFlow's graph optimizations round differently from eager op-by-op
    execution (logits differ by ~1e-3), and it saves the per-op Python overhead of eager calls.
    Same interface as ``export.backends.TFBackend``."""

    kind = "tf"

    def __init__(self, model):
        self.model = model
        self._functions = {}  # with labeled_positions or without -> traced function

    def _function(self, with_positions: bool):
        import tensorflow as tf

        if with_positions not in self._functions:
            spec = tf.TensorSpec([None, None], tf.int32)
            model = self.model

            @tf.function(input_signature=[spec] * (4 if with_positions else 3))
            def run(input_ids, attention_mask, token_type_ids, *positions):
                kwargs = {"labeled_positions": positions[0]} if positions else {}
                outputs = model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                training=False, **kwargs)
                return {k: v for k, v in outputs.items() if not isinstance(v, (tuple, list))}

            self._functions[with_positions] = run
        return self._functions[with_positions]

    def run(self, input_ids, attention_mask, token_type_ids, labeled_positions=None):
        """The model's outputs {name: NumPy array} for int arrays [batch, length]."""
        import numpy as np

        arrays = [input_ids, attention_mask, token_type_ids] + ([] if labeled_positions is None else [labeled_positions])
        outputs = self._function(labeled_positions is not None)(*[np.asarray(a, np.int32) for a in arrays])
        return {k: v.numpy() for k, v in outputs.items()}


def read_lines(path):
    """The lines of ``path``: only "\\n" (or "\\r\\n") ends a line, unlike str.splitlines, which
    also splits on \\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029 and so would shift every
    prediction after such a character. A UTF-8 byte-order mark is dropped."""
    from electra_tf.errors import DataError

    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"Input file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"Input {path} is a folder; give a text file.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        from electra_tf.utils.files import invalid_utf8_message

        raise DataError(invalid_utf8_message(path, e)) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def json_records(records, fmt: str) -> str:
    """``records`` as JSON lines (``jsonl``) or as one JSON list (``json``)."""
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=1) + "\n"
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def json_document(obj) -> str:
    """``obj`` as one indented JSON document."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
