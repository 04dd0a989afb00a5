"""Sentence classification on raw text (predict.py): one text per line, or ``text_a<TAB>text_b``
pairs; JSON records ``{"line", "text", "label", "score", "scores"}`` (regression:
``"prediction"``; multi-label: ``"labels"``), one per input line, blank lines flagged ``empty``.
A model trained with ``text_windows`` reads long texts as the same windows and aggregates their
logits as its evaluation did (task.json records the settings)."""

from __future__ import annotations

from electra_tf.finetuning.prediction import (PREDICT_BLOCK, TASK_NAME, batches, json_records, read_lines,
                                              run_length_sorted, softmax)

#: (own format, formats it writes, what it writes in words, extensions to suggest)
OUTPUT_FORMATS = ("jsonl", ("jsonl", "json"), "JSON records", ".jsonl (one record per line) or .json (one list)")


def predict(backend, meta, preprocessor, request, model=None) -> int:
    """Classify every line of ``request.input``; write the records; return their number."""
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.classification.scorers import multi_label_decisions
    from electra_tf.finetuning.classification.settings import ClassificationSettings
    from electra_tf.finetuning.task import Example
    from electra_tf.finetuning.windows import aggregate, group_by_example

    lines = read_lines(request.input)
    if not any(line.strip() for line in lines):
        raise DataError(f"{request.input}: no text to classify.")
    problem = preprocessor.problem
    labels = list(meta.labels or [])
    dummy = 0.0 if problem == "regression" else ([] if problem == "multi_label" else labels[0])
    scale = float(ClassificationSettings.from_dict(meta.settings).regression_scale)
    # One output record per input line, in order, with its 1-based line number; blank lines give
    # a record flagged "empty" so that outputs and inputs stay aligned.
    numbered = [(n, line.split("\t", 1) if "\t" in line else [line, None]) for n, line in enumerate(lines, 1)
                if line.strip()]
    records = {n: {"line": n, "text": line, "empty": True} for n, line in enumerate(lines, 1) if not line.strip()}
    settings = ClassificationSettings.from_dict(meta.settings)
    # Lines are read in blocks (bounded memory on huge inputs); each block runs in batches of
    # similar length (run_length_sorted: the same predictions as unsorted batches, in input order).
    for block in batches(numbered, PREDICT_BLOCK):
        examples = [Example(eid=i, task_name=TASK_NAME, fields={"text_a": a, "text_b": b or None, "label": dummy})
                    for i, (_, (a, b)) in enumerate(block)]
        features = preprocessor.featurize(examples, is_training=False)
        arrays = [np.array([f[k] for f in features], "int32") for k in ("input_ids", "input_mask", "segment_ids")]
        rows = run_length_sorted(backend, *arrays, request.batch_size)["logits"]
        if getattr(preprocessor, "text_windows", False):
            # text_windows: a long text gives several features; their logits aggregated as the
            # run's evaluation (windows.aggregate)
            groups = group_by_example([f[f"{TASK_NAME}_eid"] for f in features])
            logits = [aggregate([rows[r] for r in groups[i]], settings.window_aggregation) for i in range(len(block))]
        else:
            logits = rows
        for (n, (a, b)), row in zip(block, logits):
            record = {"line": n, "text": a} if b is None else {"line": n, "text": a, "text_b": b}
            if problem == "regression":
                # in the data's units (STS labels were divided by 5 for training, as the original)
                record["prediction"] = float(row[0]) * scale
            elif problem == "multi_label":
                probs = 1.0 / (1.0 + np.exp(-row.astype(np.float64)))
                record.update(labels=[labels[i] for i, chosen in enumerate(multi_label_decisions(row)) if chosen],
                              scores={labels[i]: float(p) for i, p in enumerate(probs)})
            else:
                probs = softmax(row.astype(np.float64))
                best = int(np.argmax(row))
                record.update(label=labels[best], score=float(probs[best]),
                              scores={labels[i]: float(p) for i, p in enumerate(probs)})
            records[n] = record
    out = [records[n] for n in range(1, len(lines) + 1)]
    request.target.write_text(json_records(out, request.format))
    return len(out)
