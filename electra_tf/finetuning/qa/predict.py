"""Question answering on SQuAD-style JSON (predict.py): ``{question id: answer}`` JSON, with the
n-best lists (and, for SQuAD 2.0 style models, the null odds) in side files beside it."""

from __future__ import annotations

import sys

from electra_tf.finetuning.prediction import TASK_NAME, batches, json_document

#: (own format, formats it writes, what it writes in words, extensions to suggest)
OUTPUT_FORMATS = ("json", ("json",), "one JSON object {question id: answer}", ".json")
#: the side files written beside a file output
SIDE_FILES = ("_nbest.json", "_null_odds.json")


def predict(backend, meta, preprocessor, request, model=None) -> int:
    """Answer every question of ``request.input``; write the answers (and the side files when
    ``request.side_targets`` has them); return the number of answers."""
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.qa.decoding import QADecoder
    from electra_tf.finetuning.qa.reader import QAReader
    from electra_tf.finetuning.qa.settings import QASettings

    s = QASettings.from_dict(meta.settings)
    v2 = bool(s.v2)
    examples = QAReader(TASK_NAME, "squad", v2).read(request.input, is_training=False, what=request.input)
    features = preprocessor.featurize(examples, is_training=False, for_eval=True)
    results = {}
    for batch in batches(features, request.batch_size):
        ids, mask, types = (np.array([f[k] for f in batch], "int32") for k in ("input_ids", "input_mask", "segment_ids"))
        outputs = backend.run(ids, mask, types)
        for i, f in enumerate(batch):
            results[f[f"{TASK_NAME}_eid"]] = {k: v[i] for k, v in outputs.items()}
    decoder = QADecoder.for_head(TASK_NAME, s.head, s.head_options, n_best_size=s.n_best_size,
                                 max_answer_length=s.max_answer_length, v2=v2, answer_mode=s.answer_mode,
                                 do_lower_case=meta.do_lower_case)
    decoded = decoder.decode(examples, features, results)
    if not decoded.predictions:
        raise DataError(f"{request.input}: no questions found.")
    answers = dict(decoded.predictions)
    if v2:
        threshold = s.qa_na_threshold
        answers = {q: ("" if decoded.null_odds[q] > threshold else a) for q, a in answers.items()}
    sides = request.side_targets
    if v2 and sides:
        sides["_null_odds.json"].write_text(json_document(decoded.null_odds))
    request.target.write_text(json_document(answers))
    if sides:
        sides["_nbest.json"].write_text(json_document(decoded.nbest))
    else:
        print(f"N-best lists{' and null odds' if v2 else ''} not written: --output {request.output} is not a file "
              f"(give a file path to get them beside it).", file=sys.stderr)
    return len(answers)
