"""SavedModel export: the signatures a TF Serving / tf.saved_model.load user calls.

Every signature is built from core TensorFlow ops only, so a server needs nothing but
``tensorflow`` (no tensorflow-text, no electra_tf) to load and call the SavedModel. Raw-text
signatures tokenize in the graph exactly as training did (``text/graph_tokenizer.py``) and
build features and decode as the training code (``serving_inputs.py``, ``serving_decode.py``);
their settings come from the model directory's task metadata (``task.json``: labels,
max_seq_length, doc stride, query length, n-best size, answer length, tagging segment id,
lowercasing, CRF) or from ``export_saved_model``'s arguments.

Signatures:

* ``serving_default`` (every model): ``input_ids``, ``attention_mask``, ``token_type_ids``
  (int32 [batch, length]) -> the model's outputs. Token classification also has
  ``serve_positions`` (+ ``labeled_positions``). A QA model with the original joint head takes
  inputs of any length (shorter than its beam size too: they are padded inside).
* ``serve_text`` / ``serve_text_pair`` (sequence classification and the bare/pre-training
  models): strings ``text`` (and ``text_b``) -> ``logits``; a classifier with labels also gives
  ``probabilities`` (softmax), ``label`` and ``label_id``; regression ``value`` (logits times
  the task's regression scale); multi-label ``probabilities`` (sigmoid) and ``predicted``
  (logit > 0, i.e. probability > 0.5, int32). ``[CLS] a [SEP] (b [SEP])`` truncated as training, padded to
  ``max_seq_length``; a classifier trained with ``text_windows`` reads a long text as training's
  windows and aggregates their logits (mean or max) in the graph, as predict.py.
* ``serve_words`` (token classification): ``text``, one sentence per string, words separated by
  whitespace (Python's ``str.split()``) -> per word (padded to the longest sentence of the
  batch): ``words``, ``tags`` (the tags predict.py writes: in the data's scheme, e.g. ``ORG-B``,
  invalid predicted sequences repaired as conlleval reads them, ``tagging.schemes.output_tags``;
  "" after the sentence's end), ``model_tags`` (the model's own labels, the training encoding,
  e.g. ``S-ORG``) and ``tag_ids`` (their ids, -1 after the end), ``probability`` (the softmax
  probability of the argmax tag, as predict.py) and ``n_words``; per entity (padded to the most
  entities of a sentence of the batch) ``entity_types``, ``entity_starts`` / ``entity_ends``
  (code-point offsets into the input string, end exclusive, as Python ``str`` indices; -1 after
  the last), ``entity_texts`` and ``n_entities``: predict.py's JSON ``entities``
  (``tagging/entities.py``; none for token-level taggers). The segment id is the training setting (the original gives tagging tokens id 1);
  sentences longer than ``max_seq_length`` are cut into overlapping word windows as training's
  ``truncation="window"``; a model with a CRF decodes with Viterbi in the graph.
* ``serve_qa`` (question answering): ``question`` and ``context`` strings, any context length
  (doc-stride windows in the graph) -> ``answer`` (the text span of the context; with SQuAD
  v2-style models "" when ``null_odds`` exceeds the task's ``qa_na_threshold``), ``best_text``
  (the best span, whatever the null odds), ``score`` (start + end score), ``start_logit``,
  ``end_logit``, ``start_char``/``end_char`` (code point offsets in the context) and
  ``null_odds``. As the Python decoder with ``answer_mode="offset"`` (the default); the
  original's ``get_final_text`` re-alignment (``answer_mode="original"``) is not reproduced.

The command line is ``python -m electra_tf.export`` (electra_tf/cli/export.py).
"""

from __future__ import annotations

import logging
import types
from typing import Any, Optional

import tensorflow as tf

from electra_tf.errors import ConfigError
from electra_tf.utils.files import save_directory_atomically

logger = logging.getLogger("electra_tf")

TEXT_MODEL_TYPES = ("sequence-classification", "base", "pretraining")


def _outputs(result):
    return {k: v for k, v in result.items() if not isinstance(v, (tuple, list))}


def _settings(metadata, do_lower_case: Optional[bool], max_seq_length: Optional[int]):
    """The serving settings: the task metadata's (a TaskMetadata or its dict form), explicit
    arguments winning."""
    if metadata is not None and not hasattr(metadata, "settings"):
        from electra_tf.model_dir.metadata import TaskMetadata

        metadata = TaskMetadata.from_dict(dict(metadata))
    from electra_tf.finetuning.options import TaskOptions

    s = types.SimpleNamespace(family=None, labels=None, settings={}, max_seq_length=TaskOptions.max_seq_length,
                              do_lower_case=True,
                              strip_accents=None, tokenize_chinese_chars=True)
    if metadata is not None:
        s.family, s.labels, s.settings = metadata.family, metadata.labels, dict(metadata.settings)
        s.max_seq_length, s.do_lower_case = int(metadata.max_seq_length), metadata.do_lower_case
        # tokenizer settings a checkpoint recorded beyond the original's (finetuning.tokenizer_settings)
        s.strip_accents = metadata.tokenizer.get("strip_accents")
        s.tokenize_chinese_chars = bool(metadata.tokenizer.get("tokenize_chinese_chars", True))
    if max_seq_length is not None:
        s.max_seq_length = int(max_seq_length)
    if do_lower_case is not None:
        s.do_lower_case = bool(do_lower_case)
    return s


def _string_table(values):
    return tf.constant([str(v) for v in values], tf.string)


class _Texts(tf.Module):
    """The tokenizer and constants the raw-text signatures use (tracked for the SavedModel).

    ``words``: tagging models tokenize word by word (``word_tokenizer``, ``word_lower``, no CJK
    splitting, as training did); the others tokenize whole texts (``tokenizer``). Only the one the
    signatures call is built: ``tf.saved_model.save`` traces every tracked tokenizer's ``tokenize``
    (about 1.3 s each on a quiet 2-core EPYC) and stores its graph, used or not.
    """

    def __init__(self, vocab_file: str, lower: bool, word_lower: bool, tokenize_chinese_chars: bool = True,
                 words: bool = False):
        super().__init__()
        from electra_tf.text.graph_tokenizer import GraphTokenizer
        from electra_tf.text.reference_tokenizer import load_vocab

        vocab = load_vocab(vocab_file)
        for token in ("[CLS]", "[SEP]", "[UNK]"):
            if token not in vocab:
                raise ConfigError(f"{vocab_file}: the vocabulary has no {token} token; is this a BERT/ELECTRA vocab.txt?")
        self.cls, self.sep, self.unk = vocab["[CLS]"], vocab["[SEP]"], vocab["[UNK]"]
        if words:
            self.word_tokenizer = GraphTokenizer(vocab, word_lower, tokenize_chinese_chars=False)
        else:
            self.tokenizer = GraphTokenizer(vocab, lower, tokenize_chinese_chars=tokenize_chinese_chars)


def _classifier_outputs(logits, s) -> dict:
    from electra_tf.finetuning.classification.settings import ClassificationSettings

    out = {"logits": logits}
    section = ClassificationSettings.from_dict(s.settings)
    problem = section.resolved_problem(logits.shape[-1])
    if problem == "regression":
        out["value"] = logits[:, 0] * float(section.regression_scale)
    elif problem == "multi_label":
        probabilities = tf.sigmoid(tf.cast(logits, tf.float64))
        # a positive logit, as the run and predict.py decide (scorers.multi_label_decisions)
        out.update(probabilities=probabilities, predicted=tf.cast(logits > 0, tf.int32))
    else:
        out["probabilities"] = tf.nn.softmax(tf.cast(logits, tf.float64), axis=-1)
        out["label_id"] = tf.argmax(logits, axis=-1, output_type=tf.int32)
        if s.labels:
            out["label"] = tf.gather(_string_table(s.labels), out["label_id"])
    return out


def _add_text_signatures(module, model, forward, signatures, s) -> None:
    texts = module.texts
    L = s.max_seq_length
    classifier = model.model_type == "sequence-classification"

    from electra_tf.finetuning.classification.settings import ClassificationSettings

    section = ClassificationSettings.from_dict(s.settings)

    def run(ids_a, ids_b):
        from electra_tf.export.serving_decode import aggregate_windows
        from electra_tf.export.serving_inputs import encode_pairs, text_windows

        if classifier and section.text_windows:  # trained with windows: the same windows, logits aggregated
            ids, mask, segments, window_row = text_windows(ids_a, ids_b, texts.cls, texts.sep, L, section.window_stride)
            logits = forward(ids, mask, segments)["logits"]
            result = {"logits": aggregate_windows(logits, window_row, ids_a.nrows(out_type=tf.int32),
                                                  section.window_aggregation)}
            result.update(_classifier_outputs(result["logits"], s))
            return result
        ids, mask, segments = encode_pairs(ids_a, ids_b, texts.cls, texts.sep, L)
        result = dict(forward(ids, mask, segments))
        if classifier:
            result.update(_classifier_outputs(result["logits"], s))
        return result

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")], autograph=False)
    def serve_text(text):
        return run(texts.tokenizer.tokenize(text)[0], None)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text"), tf.TensorSpec([None], tf.string, "text_b")],
                 autograph=False)
    def serve_text_pair(text, text_b):
        return run(texts.tokenizer.tokenize(text)[0], texts.tokenizer.tokenize(text_b)[0])

    signatures["serve_text"] = serve_text
    signatures["serve_text_pair"] = serve_text_pair


def _add_tagging_signature(module, model, forward_positions, signatures, s) -> None:
    from electra_tf.finetuning.tagging.entities import entity_tables
    from electra_tf.finetuning.tagging.schemes import output_tables
    from electra_tf.export.serving_decode import scheme_tags, viterbi
    from electra_tf.export.serving_inputs import split_words, tagging_windows

    from electra_tf.finetuning.tagging.settings import TaggingSettings

    texts = module.texts
    settings = s.settings
    section = TaggingSettings.from_dict(settings)
    segment_id = int(section.segment_id)
    window_overlap = section.window_overlap
    crf = getattr(model, "crf", None)
    label_names = s.labels or [str(i) for i in range(model.config.num_labels)]
    labels = _string_table(label_names)
    tables = output_tables(label_names, settings)  # None: tags are written as predicted
    entity_table = entity_tables(label_names, settings)  # None: no entities (a token-level task)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")], autograph=False)
    def serve_words(text):
        n_sentences = tf.size(text)
        words, word_rows, per_sentence, word_starts, word_ends = split_words(texts.word_tokenizer, text)
        ids = _unk_for_empty(texts.word_tokenizer.tokenize(words)[0], texts.unk)
        input_ids, mask, positions, owner, word_position, w_sentence, w_words = tagging_windows(
            ids, word_rows, n_sentences, texts.cls, texts.sep, s.max_seq_length, window_overlap)
        segments = mask * segment_id
        logits = forward_positions(input_ids, mask, segments, positions)["logits"]
        if crf is not None:
            transitions, start, end = crf.masked_params()
            window_tags = viterbi(logits, w_words, transitions, start, end)
        else:
            window_tags = tf.argmax(logits, axis=-1, output_type=tf.int32)
        probabilities = tf.reduce_max(tf.nn.softmax(tf.cast(logits, tf.float64), axis=-1), axis=-1)
        at = tf.stack([owner, word_position], 1)
        tag_ids = tf.gather_nd(window_tags, at)
        word_probability = tf.gather_nd(probabilities, at)
        as_rows = lambda v, pad: tf.RaggedTensor.from_value_rowids(  # noqa: E731
            v, tf.cast(word_rows, tf.int64), nrows=tf.cast(n_sentences, tf.int64), validate=False).to_tensor(pad)
        model_tags = tf.gather(labels, tag_ids)
        tags = model_tags if tables is None else scheme_tags(tag_ids, word_rows, tables.prefix, tables.type_id,
                                                             tables.written)
        out = {"words": as_rows(words, ""), "tags": as_rows(tags, ""), "model_tags": as_rows(model_tags, ""),
               "tag_ids": as_rows(tag_ids, -1), "probability": as_rows(word_probability, 0.0),
               "n_words": per_sentence}
        if entity_table is not None:
            out.update(_entity_outputs(text, tag_ids, word_rows, word_starts, word_ends, entity_table))
        return out

    signatures["serve_words"] = serve_words


def _entity_outputs(text, tag_ids, word_rows, word_starts, word_ends, table) -> dict:
    """serve_words' entity outputs (``tagging.entities.entities`` in the graph), per sentence in
    order, padded to the most entities of a sentence of the batch: ``entity_types`` and
    ``entity_texts`` ("" after the last), ``entity_starts`` / ``entity_ends`` (code-point offsets
    into the input string, end exclusive; -1 after the last) and ``n_entities``."""
    from electra_tf.export.serving_decode import entity_spans

    sentence, first, last, type_id = entity_spans(tag_ids, word_rows, table.prefix, table.type_id)
    start, end = tf.gather(word_starts, first), tf.gather(word_ends, last)
    entity_text = tf.strings.substr(tf.gather(text, sentence), start, end - start, unit="UTF8_CHAR")
    n_sentences = tf.size(text)
    as_rows = lambda v, pad: tf.RaggedTensor.from_value_rowids(  # noqa: E731
        v, tf.cast(sentence, tf.int64), nrows=tf.cast(n_sentences, tf.int64), validate=False).to_tensor(pad)
    return {"entity_types": as_rows(tf.gather(_string_table(table.types), type_id), ""),
            "entity_starts": as_rows(start, -1), "entity_ends": as_rows(end, -1),
            "entity_texts": as_rows(entity_text, ""),
            "n_entities": tf.math.bincount(sentence, minlength=n_sentences, maxlength=n_sentences)}


def _unk_for_empty(ids: tf.RaggedTensor, unk: int) -> tf.RaggedTensor:
    """Words with no piece (only deleted characters) become [UNK], as TaggingPreprocessor."""
    lengths = ids.row_lengths()
    kept = tf.maximum(lengths, 1)
    rows = tf.repeat(tf.range(tf.size(kept, out_type=tf.int64)), kept)
    within = tf.range(tf.reduce_sum(kept)) - tf.gather(tf.cumsum(kept, exclusive=True), rows)
    source = tf.gather(ids.row_splits[:-1], rows) + within
    flat = tf.concat([ids.flat_values, tf.constant([unk], tf.int32)], 0)
    values = tf.where(tf.gather(lengths, rows) > 0, tf.gather(flat, tf.minimum(source, tf.size(flat, out_type=tf.int64) - 1)),
                      unk)
    return tf.RaggedTensor.from_row_lengths(values, kept, validate=False)


def _add_qa_signature(module, model, forward, signatures, s) -> None:
    from electra_tf.modeling.heads import QA_HEAD_DEFAULTS
    from electra_tf.export.serving_decode import qa_best_spans
    from electra_tf.export.serving_inputs import qa_windows

    from electra_tf.finetuning.qa.settings import QASettings

    texts = module.texts
    section = QASettings.from_dict(s.settings)
    max_query_length = int(section.max_query_length)
    if max_query_length + 3 >= s.max_seq_length:
        raise ConfigError(f"max_seq_length {s.max_seq_length} leaves no room for the document after max_query_length "
                          f"{max_query_length}; raise max_seq_length.")
    doc_stride = int(section.doc_stride)
    n_best_size = int(section.n_best_size)
    max_answer_length = int(section.max_answer_length)
    v2 = bool(section.v2)
    threshold = float(section.qa_na_threshold)
    options = {**QA_HEAD_DEFAULTS, **dict(model.config.head_options or {})}
    original = model.config.head == "electra"
    joint = original and bool(options["joint_prediction"])
    answerable = original and bool(options["answerable_classifier"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "question"), tf.TensorSpec([None], tf.string, "context")],
                 autograph=False)
    def serve_qa(question, context):
        n_questions = tf.size(question)
        query_ids = texts.tokenizer.tokenize(question)[0]
        doc_ids, doc_starts, doc_ends = texts.tokenizer.tokenize(context)
        ids, mask, segments, window_question, doc_offset, doc_first, doc_length, is_max = qa_windows(
            query_ids, doc_ids, texts.cls, texts.sep, s.max_seq_length, max_query_length, doc_stride)
        outputs = forward(ids, mask, segments)
        best_s, best_e, window, start_score, end_score, found, score_null = qa_best_spans(
            outputs, window_question, n_questions, doc_offset, doc_length, is_max, n_best_size, max_answer_length,
            joint, answerable)
        # Token positions -> context pieces -> character offsets.
        piece_base = tf.gather(tf.cast(doc_ids.row_splits, tf.int32), tf.range(n_questions)) + tf.gather(doc_first, window) \
            - tf.gather(doc_offset, window)
        first_piece = tf.clip_by_value(piece_base + best_s, 0, tf.maximum(tf.size(doc_starts.flat_values) - 1, 0))
        last_piece = tf.clip_by_value(piece_base + best_e, 0, tf.maximum(tf.size(doc_starts.flat_values) - 1, 0))
        starts = tf.concat([doc_starts.flat_values, [0]], 0)
        ends = tf.concat([doc_ends.flat_values, [0]], 0)
        start_char = tf.where(found, tf.gather(starts, first_piece), 0)
        end_char = tf.where(found, tf.gather(ends, last_piece), 0)
        text = tf.strings.substr(context, start_char, end_char - start_char, unit="UTF8_CHAR")
        text = tf.where(found, text, "empty")  # the decoder's placeholder when no span qualifies
        start_score = tf.where(found, start_score, 0.0)
        end_score = tf.where(found, end_score, 0.0)
        null_odds = score_null if answerable else score_null - start_score - end_score
        answer = tf.where(null_odds > threshold, "", text) if v2 else text
        return {"answer": answer, "best_text": text, "score": start_score + end_score, "start_logit": start_score,
                "end_logit": end_score, "start_char": start_char, "end_char": end_char, "null_odds": null_odds}

    signatures["serve_qa"] = serve_qa


def export_saved_model(model, path: str, vocab_file: Optional[str] = None, do_lower_case: Optional[bool] = None,
                       max_seq_length: Optional[int] = None, metadata: Any = None) -> str:
    """Write ``model`` as a SavedModel at ``path`` with the signatures described above.

    ``metadata``: the model directory's TaskMetadata (default: ``model.task_metadata``, set by
    from_pretrained); ``do_lower_case`` and ``max_seq_length`` override it when given.
    """
    model.build_with_dummy_inputs()
    if metadata is None:
        metadata = getattr(model, "task_metadata", None)
    s = _settings(metadata, do_lower_case, max_seq_length)
    module = tf.Module()
    module.model = model
    ids_spec = [tf.TensorSpec([None, None], tf.int32, name) for name in ("input_ids", "attention_mask", "token_type_ids")]
    from electra_tf.finetuning.tagging.settings import TaggingSettings
    from electra_tf.modeling.heads import QA_HEAD_DEFAULTS

    qa_joint = model.model_type == "question-answering" and model.config.head == "electra" and \
        bool({**QA_HEAD_DEFAULTS, **dict(model.config.head_options or {})}["joint_prediction"])

    # The model on token ids, traced once and called by every signature that runs it: one copy of its
    # graph in the SavedModel, and one trace instead of one per signature (export and load are faster;
    # TensorFlow inlines the call when a signature runs, so the outputs are the same).
    @tf.function(input_signature=ids_spec, autograph=False)
    def forward(input_ids, attention_mask, token_type_ids):
        return _outputs(model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, training=False))

    @tf.function(input_signature=ids_spec, autograph=False)
    def serve_ids(input_ids, attention_mask, token_type_ids):
        if qa_joint:
            return _qa_ids_any_length(forward, model, input_ids, attention_mask, token_type_ids)
        return forward(input_ids, attention_mask, token_type_ids)

    signatures = {"serving_default": serve_ids}
    forward_positions = None
    if model.model_type == "token-classification":
        @tf.function(input_signature=ids_spec + [tf.TensorSpec([None, None], tf.int32, "labeled_positions")],
                     autograph=False)
        def forward_positions(input_ids, attention_mask, token_type_ids, labeled_positions):
            return _outputs(model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                  labeled_positions=labeled_positions, training=False))

        signatures["serve_positions"] = forward_positions  # the signature, and what serve_words calls
    strip_apart = s.strip_accents is not None and bool(s.strip_accents) != bool(s.do_lower_case)
    if strip_apart and vocab_file:
        logger.warning("No raw-text signatures: the model's tokenizer sets strip_accents=%s apart from "
                       "do_lower_case=%s, which the in-graph tokenizer does not reproduce (use serving_default with "
                       "token ids, or predict.py).", s.strip_accents, s.do_lower_case)
    elif vocab_file and vocab_file.endswith(".txt"):
        tagging = TaggingSettings.from_dict(s.settings)
        if model.model_type == "token-classification" and tagging.truncation != "window":
            logger.warning("No serve_words signature: it reproduces tagging truncation 'window', and this model was "
                           "trained with 'original' (use serving_default / serve_positions, or predict.py).")
        else:  # the one tokenizer the signatures below call
            module.texts = _Texts(vocab_file, s.do_lower_case, tagging.word_lowercase(s.do_lower_case),
                                  s.tokenize_chinese_chars, words=model.model_type == "token-classification")
            if model.model_type in TEXT_MODEL_TYPES:
                _add_text_signatures(module, model, forward, signatures, s)
            elif model.model_type == "token-classification":
                _add_tagging_signature(module, model, forward_positions, signatures, s)
            elif model.model_type == "question-answering":
                _add_qa_signature(module, model, forward, signatures, s)
    module.serve_ids = serve_ids
    save_directory_atomically(lambda tmp: tf.saved_model.save(module, tmp, signatures=signatures), path)
    return path


def _qa_ids_any_length(forward, model, input_ids, attention_mask, token_type_ids):
    """The joint QA head takes the top ``beam_size`` positions: inputs shorter than that are
    padded (masked positions, which the head scores -1000 below the context) and the per-position
    outputs cut back to the input length; the beam outputs keep ``beam_size`` entries."""
    from electra_tf.modeling.heads import QA_HEAD_DEFAULTS

    beam = int({**QA_HEAD_DEFAULTS, **dict(model.config.head_options or {})}["beam_size"])
    length = tf.shape(input_ids)[1]
    pad = tf.maximum(beam - length, 0)
    padded = [tf.pad(t, [[0, 0], [0, pad]]) for t in (input_ids, attention_mask, token_type_ids)]
    out = dict(forward(*padded))
    for key in ("start_logits", "end_logits"):
        out[key] = out[key][:, :length]
    return out
