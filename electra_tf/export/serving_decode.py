"""In-graph decoding for the raw-text SavedModel signatures, as the Python decoders.

* ``viterbi``: the CRF's best tag path per window (``modeling/crf.viterbi``, batched);
* ``qa_best_spans``: the QA decoder's candidate search (``qa/decoding.QADecoder.decode``): the
  n-best starts and ends (or the joint head's beams), the same filters (inside the document part,
  start not [CLS], start at a max-context position, start <= end, at most ``max_answer_length``
  tokens), the best total over every window of a question, and the v2 null odds;
* ``scheme_tags``: ``tagging.schemes.output_tags`` (the tags in the data's scheme, repaired as
  conlleval reads them); ``entity_spans``: ``tagging.entities.entities`` (the same chunks as
  entities).
"""

from __future__ import annotations

import tensorflow as tf

# The total of a filtered-out candidate: finite, because unsorted_segment_max starts from the
# lowest float (a maximum over -inf values would come back as -1.8e308, not -inf).
NO_SPAN = -1e300


def viterbi(emissions, lengths, transitions, start, end):
    """Best tag ids [windows, positions] of emissions [windows, positions, tags] over each
    window's first ``lengths`` positions (-1 after them); ties go to the lower tag as np.argmax."""
    emissions = tf.cast(emissions, tf.float32)
    transitions, start, end = (tf.cast(t, tf.float32) for t in (transitions, start, end))
    n_positions = tf.shape(emissions)[1]
    time_major = tf.transpose(emissions, [1, 0, 2])
    score = start[None, :] + time_major[0]
    backs = tf.TensorArray(tf.int32, size=n_positions, clear_after_read=False)
    backs = backs.write(0, tf.zeros_like(score, tf.int32))

    def forward(t, score, backs):
        total = score[:, :, None] + transitions[None]
        back = tf.argmax(total, axis=1, output_type=tf.int32)
        new = tf.reduce_max(total, axis=1)
        live = (t < lengths)[:, None]
        return t + 1, tf.where(live, new + time_major[t], score), backs.write(t, back)

    _, score, backs = tf.while_loop(lambda t, *unused: t < n_positions, forward, (tf.constant(1), score, backs))
    current = tf.argmax(score + end[None, :], axis=1, output_type=tf.int32)
    tags = tf.TensorArray(tf.int32, size=n_positions)

    def backward(t, current, tags):
        inside = t <= lengths - 1
        tags = tags.write(t, tf.where(inside, current, -1))
        previous = tf.gather(backs.read(t), current, batch_dims=1)
        return t - 1, tf.where(inside & (t > 0), previous, current), tags

    _, _, tags = tf.while_loop(lambda t, *unused: t >= 0, backward, (n_positions - 1, current, tags))
    return tf.transpose(tags.stack())


def qa_best_spans(outputs, window_question, n_questions, doc_start, doc_length, is_max_context,
                  n_best_size: int, max_answer_length: int, joint: bool, answerable: bool):
    """Per question: (best start token, best end token, best window, start score, end score,
    found, null score). ``outputs`` are the model's outputs on the windows [windows, L];
    ``doc_start`` [windows] is the first document position of each window, ``doc_length`` its
    number of document tokens, ``is_max_context`` [windows, L] bool."""
    start_logits = tf.cast(outputs["start_logits"], tf.float64)
    end_logits = tf.cast(outputs["end_logits"], tf.float64)
    L = tf.shape(start_logits)[1]
    if joint:
        starts = tf.cast(outputs["start_top_index"], tf.int32)  # [W, K]
        ends = tf.cast(outputs["end_top_index"], tf.int32)  # [W, K, K]
        s = tf.broadcast_to(starts[:, :, None], tf.shape(ends))
        e = ends
        start_score = tf.broadcast_to(tf.cast(outputs["start_top_log_probs"], tf.float64)[:, :, None], tf.shape(ends))
        end_score = tf.cast(outputs["end_top_log_probs"], tf.float64)
    else:
        n = tf.minimum(n_best_size, L)
        top_s = tf.math.top_k(start_logits, n).indices
        top_e = tf.math.top_k(end_logits, n).indices
        s = tf.broadcast_to(top_s[:, :, None], [tf.shape(top_s)[0], n, n])
        e = tf.broadcast_to(top_e[:, None, :], [tf.shape(top_s)[0], n, n])
        start_score = tf.gather(start_logits, s, batch_dims=1)
        end_score = tf.gather(end_logits, e, batch_dims=1)
    W = tf.shape(s)[0]
    flat = lambda t: tf.reshape(t, [W, -1])  # noqa: E731
    s, e, start_score, end_score = flat(s), flat(e), flat(start_score), flat(end_score)
    first, count = doc_start[:, None], doc_length[:, None]
    in_doc = lambda p: (p >= first) & (p < first + count)  # noqa: E731
    max_context = tf.gather(tf.cast(is_max_context, tf.bool), tf.clip_by_value(s, 0, L - 1), batch_dims=1)
    valid = in_doc(s) & in_doc(e) & (s != 0) & max_context & (e >= s) & (e - s + 1 <= max_answer_length)
    total = tf.where(valid, start_score + end_score, NO_SPAN)
    # The best candidate of each question over all its windows (the first in window order on ties).
    best_in_window = tf.argmax(total, axis=1, output_type=tf.int32)
    best_total = tf.reduce_max(total, axis=1)
    question_best = tf.math.unsorted_segment_max(best_total, window_question, n_questions)
    window_index = tf.range(W)
    winner = tf.math.unsorted_segment_min(tf.where(best_total == tf.gather(question_best, window_question), window_index, W),
                                          window_question, n_questions)
    found = question_best > NO_SPAN
    winner = tf.minimum(winner, W - 1)
    pick = tf.gather(best_in_window, winner)
    gather2 = lambda t: tf.gather(tf.gather(t, winner), pick, batch_dims=1)  # noqa: E731
    best_s, best_e = gather2(s), gather2(e)
    best_start_score, best_end_score = gather2(start_score), gather2(end_score)
    if answerable:
        null = tf.cast(outputs["answerable_logit"], tf.float64)
    else:
        null = start_logits[:, 0] + end_logits[:, 0]
    score_null = tf.minimum(tf.math.unsorted_segment_min(null, window_question, n_questions), 1000000.0)
    return best_s, best_e, winner, best_start_score, best_end_score, found, score_null


def _shifted(values, fill, forward: bool):
    """``values`` [n] moved one place later (``forward``) or earlier, ``fill`` entering; size n (also n = 0)."""
    n = tf.size(values)
    fill = tf.fill([1], tf.cast(fill, values.dtype))
    joined = tf.concat([fill, values[:-1]], 0) if forward else tf.concat([values[1:], fill], 0)
    return joined[:n]


def _chunks(kind, type_, sentence_of_word):
    """(in_chunk, starts, ends) [n] bool of words with conlleval prefix kinds O/B/I/E/S (0..4) and
    type ids, all sentences end to end (``sentence_of_word`` non-decreasing): conlleval's chunks
    (``tagging.schemes.spans``). Only the neighbours of a word matter: a word is in a chunk unless
    it is O, a chunk begins where conlleval's ``begin_chunk`` holds (B or S; I or E after O, E or
    S; I or E of another type than the previous word) and ends before an O, before a beginning,
    or at the sentence's end."""
    outside, begin, inside, end, single = range(5)  # schemes.OUTSIDE ... schemes.SINGLE
    first = _shifted(sentence_of_word, -1, True) != sentence_of_word
    last = _shifted(sentence_of_word, -1, False) != sentence_of_word
    prev_kind = tf.where(first, outside, _shifted(kind, outside, True))
    prev_type = tf.where(first, -1, _shifted(type_, -1, True))
    continuing = (kind == inside) | (kind == end)
    opens = (kind == begin) | (kind == single) | (continuing & (
        (prev_kind == end) | (prev_kind == single) | (prev_kind == outside) | (type_ != prev_type)))
    in_chunk = kind != outside
    starts = in_chunk & opens
    ends = in_chunk & (last | ~_shifted(in_chunk, False, False) | _shifted(starts, False, False))
    return in_chunk, starts, ends


def scheme_tags(tag_ids, sentence_of_word, prefix, type_id, written):
    """Words' predicted label ids -> their tags in the data's scheme, as
    ``tagging.schemes.output_tags`` (conlleval's reading of the predicted sequence, which repairs
    invalid ones, then the chunks written in the data's scheme).

    ``tag_ids`` [n] are the label ids of all words end to end, ``sentence_of_word`` [n] their
    sentence (non-decreasing); ``prefix``, ``type_id`` and ``written`` are
    ``schemes.output_tables``; the chunks are ``_chunks``'.
    """
    outside, begin, inside, end, single = range(5)  # schemes.OUTSIDE ... schemes.SINGLE
    tag_ids = tf.cast(tag_ids, tf.int32)
    kind = tf.gather(tf.constant(prefix, tf.int32), tag_ids)
    type_ = tf.gather(tf.constant(type_id, tf.int32), tag_ids)
    in_chunk, starts, ends = _chunks(kind, type_, tf.cast(sentence_of_word, tf.int32))
    position = tf.where(~in_chunk, outside, tf.where(starts & ends, single, tf.where(
        starts, begin, tf.where(ends, end, inside))))
    return tf.gather_nd(tf.constant(written, tf.string), tf.stack([type_, position], 1))


def entity_spans(tag_ids, sentence_of_word, prefix, type_id):
    """The entities of words' predicted label ids, as ``tagging.entities.entities``: per entity
    (in order) its sentence, first word and last word (indices into the words end to end) and
    type id. ``prefix`` and ``type_id`` are ``entities.entity_tables``; chunks as ``_chunks``."""
    tag_ids = tf.cast(tag_ids, tf.int32)
    sentence_of_word = tf.cast(sentence_of_word, tf.int32)
    kind = tf.gather(tf.constant(prefix, tf.int32), tag_ids)
    type_ = tf.gather(tf.constant(type_id, tf.int32), tag_ids)
    _, starts, ends = _chunks(kind, type_, sentence_of_word)
    first = tf.cast(tf.where(starts)[:, 0], tf.int32)  # one start and one end per chunk, in order
    last = tf.cast(tf.where(ends)[:, 0], tf.int32)
    return tf.gather(sentence_of_word, first), first, last, tf.gather(type_, first)


def aggregate_windows(logits, window_row, n_rows, how: str = "mean"):
    """[n_rows, labels] logits of the inputs from their windows' ``logits`` (``window_row``: each
    window's input): the mean or the maximum, as ``finetuning.windows.aggregate``."""
    if how == "max":
        return tf.math.unsorted_segment_max(logits, window_row, n_rows)
    return tf.math.unsorted_segment_mean(logits, window_row, n_rows)
