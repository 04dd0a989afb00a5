"""Token classification on raw text (predict.py): CoNLL-style tokens or one sentence per line;
``word<TAB>label<TAB>probability`` lines (or JSON records), tags in the training data's scheme,
decoded as the run's own evaluation (argmax per word, or the CRF's Viterbi path). The JSON
records also hold the sentence's ``text`` and its ``entities`` (``tagging/entities.py``: type,
character start and end in ``text``, the entity's text); the table stays the original's."""

from __future__ import annotations

from electra_tf.finetuning.prediction import TASK_NAME, json_records, read_lines, run_length_sorted, softmax

#: (own format, formats it writes, what it writes in words, extensions to suggest)
OUTPUT_FORMATS = ("tsv", ("tsv", "jsonl", "json"), "a word<TAB>label<TAB>probability table or JSON records "
                  "(with entity spans)",
                  ".tsv or .conll (the word-per-line table), .jsonl or .json (records)")


def read_tagging_input(path: str, input_format: str):
    """Sentences (lists of words) of a tagging input (``read_tagging_sentences`` without texts)."""
    return [words for _, words, _ in read_tagging_sentences(path, input_format)]


def read_tagging_sentences(path: str, input_format: str):
    """``(text, words, starts)`` of every sentence of a tagging input: ``words[i]`` starts at
    ``text[starts[i]]``.

    ``conll``: one word per line (the first whitespace-separated column; the rest, e.g. gold
    tags, is ignored), a blank line between sentences, ``-DOCSTART-`` lines skipped; the text is
    the words joined by single spaces. ``lines``: one sentence per line, words separated by
    whitespace (``str.split()``); the text is the line itself (a byte-order mark dropped, as
    ``read_lines``). ``auto``: CoNLL when the file separates sentences by blank lines or has one
    word per line; a file with several words on a line and no blank lines is ambiguous and
    refused (it used to keep the first word)."""
    from electra_tf.errors import DataError
    from electra_tf.finetuning.tagging.entities import joined_text, word_offsets

    lines = read_lines(path)
    if input_format == "auto":
        content = [i for i, line in enumerate(lines) if line.strip()]
        separated = content and any(not lines[i].strip() for i in range(content[0], content[-1])) or \
            any(line.startswith("-DOCSTART-") for line in lines)
        if not separated and any(len(lines[i].split()) > 1 for i in content):
            raise DataError(f"{path}: lines hold several words and no blank line separates sentences; pass "
                            f"--input-format lines (one sentence per line) or --input-format conll (one word per "
                            f"line, the word in the first column).")
        input_format = "conll"
    if input_format == "lines":
        return [(line, *word_offsets(line)) for line in lines if line.strip()]
    sentences, current = [], []
    for line in lines + [""]:
        if not line.strip():
            if current:
                text, starts = joined_text(current)
                sentences.append((text, current, starts))
            current = []
        elif not line.startswith("-DOCSTART-"):
            current.append(line.split()[0])
    return sentences


def predict(backend, meta, preprocessor, request, model=None) -> int:
    """Tag every sentence of ``request.input``; write the table or records; return the number
    of sentences. ``model``: the loaded model, whose CRF (if any) decodes."""
    import numpy as np

    from electra_tf.errors import DataError
    from electra_tf.finetuning.tagging.schemes import output_tags
    from electra_tf.finetuning.tagging.scorer import TaggingScorer
    from electra_tf.finetuning.task import Example

    crf = model.crf_params() if model is not None else None
    from electra_tf.finetuning.tagging.entities import entities, entity_tables

    read = read_tagging_sentences(request.input, request.input_format)
    sentences = [words for _, words, _ in read]
    with_entities = entity_tables(preprocessor.label_list, meta.settings) is not None
    if not sentences:
        raise DataError(f"{request.input}: no words to tag.")
    examples = [Example(eid=i, task_name=TASK_NAME, fields={"words": words, "labels": [0] * len(words)})
                for i, words in enumerate(sentences)]
    features = preprocessor.featurize(examples, is_training=False)
    # As the run's own evaluation: argmax per word, or the CRF's Viterbi path when it has one.
    scorer = TaggingScorer(TASK_NAME, preprocessor.label_list, crf=crf)
    probabilities = {}
    n = TASK_NAME
    # batches of similar length, outputs in input order (run_length_sorted: the same predictions)
    arrays = {k: np.array([f[k] for f in features]).astype("int32")
              for k in ("input_ids", "input_mask", "segment_ids", f"{n}_labeled_positions")}
    logits = run_length_sorted(backend, arrays["input_ids"], arrays["input_mask"], arrays["segment_ids"],
                               request.batch_size, labeled_positions=arrays[f"{n}_labeled_positions"])["logits"]
    for feature, row in zip(features, logits):
        scorer.update(row, feature, 0.0)
        probs = softmax(row.astype(np.float64))
        eid, offset = feature[f"{n}_eid"], feature[f"{n}_word_offset"]
        for j, keep in enumerate(feature[f"{n}_score_mask"]):
            if keep:
                probabilities[(eid, offset + j)] = float(probs[j].max())
    eids, _, preds = scorer.sentences()
    lines, records = [], []
    for eid, pred in zip(eids, preds):
        text, words, starts = read[eid]
        found = entities(text, words, starts, pred) if with_entities else None  # as serve_words' entity outputs
        pred = output_tags(pred, meta.settings)  # the one decoder serve_words shares (serving_decode.scheme_tags)
        for i, (word, tag) in enumerate(zip(words, pred)):
            lines.append(f"{word}\t{tag}\t{probabilities[(eid, i)]:.4f}")
        lines.append("")
        record = {"sentence": eid + 1, "words": list(words), "labels": list(pred[:len(words)]),
                  "probabilities": [round(probabilities[(eid, i)], 4) for i in range(min(len(words), len(pred)))]}
        if found is not None:
            record.update(text=text, entities=found)
        records.append(record)
    text = "\n".join(lines) + "\n" if request.format == "tsv" else json_records(records, request.format)
    request.target.write_text(text)
    return len(sentences)
