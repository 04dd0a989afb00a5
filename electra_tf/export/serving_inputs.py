"""In-graph feature building for the raw-text SavedModel signatures, as training's preprocessors.

Core TensorFlow ops only (a SavedModel using them loads with plain ``import tensorflow``):

* ``encode_pairs``: ``[CLS] a [SEP] (b [SEP])`` truncated as the original's ``_truncate_seq_pair``
  (``features.truncated_pair_lengths``) and padded to ``max_seq_length``;
* ``text_windows``: ``SentencePreprocessor.encode_windows`` in the graph (the hparam
  ``text_windows``: overlapping windows over a long text, or over a pair's second text);
* ``split_words``: a sentence string -> its words as ``str.split()`` gives them, and their
  character offsets;
* ``tagging_windows``: ``TaggingPreprocessor`` in the graph (each word's pieces, [UNK] for a word
  with none, overlapping word windows for sentences over ``max_seq_length``, the window that
  scores each word);
* ``qa_windows``: ``QAPreprocessor`` in the graph (query cut to ``max_query_length``, doc-stride
  windows, the max-context rule).
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from electra_tf.text.graph_tokenizer import PY_SPACE, GraphTokenizer


def _take_prefix(ragged: tf.RaggedTensor, kept: tf.Tensor) -> tf.RaggedTensor:
    """The first ``kept[r]`` values of every row ``r`` (gathers only: cheap to build)."""
    kept = tf.cast(kept, tf.int64)
    rows = tf.repeat(tf.range(tf.size(kept, out_type=tf.int64)), kept)
    within = tf.range(tf.reduce_sum(kept)) - tf.gather(tf.cumsum(kept, exclusive=True), rows)
    source = tf.gather(tf.cast(ragged.row_splits[:-1], tf.int64), rows) + within
    return tf.RaggedTensor.from_row_lengths(tf.gather(ragged.values, source), kept, validate=False)


def _concat(parts) -> tf.RaggedTensor:
    """Ragged rows side by side (one scatter instead of ragged concat's many ops)."""
    lengths = [tf.cast(p.row_lengths(), tf.int64) for p in parts]
    total = tf.add_n(lengths)
    offset = tf.cumsum(total, exclusive=True)
    targets, values = [], []
    for part, n in zip(parts, lengths):
        rows = tf.cast(part.value_rowids(), tf.int64)
        within = tf.range(tf.size(part.values, out_type=tf.int64)) - tf.gather(tf.cast(part.row_splits, tf.int64), rows)
        targets.append(tf.gather(offset, rows) + within)
        values.append(part.values)
        offset = offset + n
    flat = tf.scatter_nd(tf.concat(targets, 0)[:, None], tf.concat(values, 0), tf.reshape(tf.reduce_sum(total), [1]))
    return tf.RaggedTensor.from_row_lengths(flat, total, validate=False)


def _column(value: int, rows) -> tf.RaggedTensor:
    return tf.RaggedTensor.from_row_lengths(tf.fill([rows], tf.constant(value, tf.int32)),
                                            tf.ones([rows], tf.int64), validate=False)


def encode_pairs(ids_a: tf.RaggedTensor, ids_b: Optional[tf.RaggedTensor], cls_id: int, sep_id: int,
                 max_seq_length: int):
    """(input_ids, input_mask, segment_ids) int32 [batch, max_seq_length], as ``features.encode_pairs``."""
    rows = ids_a.nrows(out_type=tf.int32)
    len_a = tf.cast(ids_a.row_lengths(), tf.int32)
    if ids_b is None:
        parts = [_column(cls_id, rows), _take_prefix(ids_a, tf.minimum(len_a, max_seq_length - 2)), _column(sep_id, rows)]
        types = [tf.zeros_like(p) for p in parts]
    else:
        len_b = tf.cast(ids_b.row_lengths(), tf.int32)
        budget = max_seq_length - 3
        cut_a = tf.minimum(len_a, tf.maximum((budget + 1) // 2, budget - len_b))
        over = len_a + len_b > budget
        kept_a = tf.where(over, cut_a, len_a)
        kept_b = tf.where(over, budget - cut_a, len_b)
        first = [_column(cls_id, rows), _take_prefix(ids_a, kept_a), _column(sep_id, rows)]
        second = [_take_prefix(ids_b, kept_b), _column(sep_id, rows)]
        parts = first + second
        types = [tf.zeros_like(p) for p in first] + [tf.ones_like(p) for p in second]
    ids = _concat(parts)
    types = _concat(types)
    shape = [None, max_seq_length]
    return (ids.to_tensor(0, shape=shape), tf.ones_like(ids).to_tensor(0, shape=shape), types.to_tensor(0, shape=shape))


def split_words(tokenizer: GraphTokenizer, texts: tf.Tensor):
    """(words [n] strings, their sentence row [n] int32, words per sentence [batch], where each
    word starts and ends [n] int32): ``str.split()`` of each text (Python's whitespace, from the
    tokenizer's character table). Offsets are code-point indices into the text, end exclusive,
    as Python ``str`` indexing (an invalid UTF-8 sequence counts as one U+FFFD, as Python decodes it)."""
    decoded = tf.strings.unicode_decode(texts, "UTF-8", errors="replace", replacement_char=0xFFFD)
    cps = decoded.flat_values
    rows = tf.cast(decoded.value_rowids(), tf.int32)
    space = (tokenizer._classes(cps) & PY_SPACE) != 0
    prev_rows = tf.concat([[-1], rows[:-1]], 0)
    prev_space = tf.concat([[True], space[:-1]], 0)
    start = ~space & ((rows != prev_rows) | prev_space)
    word = tf.boolean_mask(tf.cumsum(tf.cast(start, tf.int32)) - 1, ~space)
    n_words = tf.reduce_sum(tf.cast(start, tf.int32))
    word_cps = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(cps, ~space), word, nrows=n_words, validate=False)
    words = tf.strings.unicode_encode(word_cps, "UTF-8")
    word_rows = tf.boolean_mask(rows, start)
    per_sentence = tf.math.bincount(word_rows, minlength=tf.size(texts), maxlength=tf.size(texts))
    in_row = tf.range(tf.size(cps, out_type=tf.int32)) - tf.gather(tf.cast(decoded.row_splits, tf.int32), rows)
    word_starts = tf.boolean_mask(in_row, start)
    word_ends = word_starts + tf.cast(word_cps.row_lengths(), tf.int32)
    return words, word_rows, per_sentence, word_starts, word_ends


def tagging_windows(word_ids: tf.RaggedTensor, word_rows: tf.Tensor, n_sentences, cls_id: int, sep_id: int,
                    max_seq_length: int, window_overlap: Optional[int] = None):
    """``TaggingPreprocessor.featurize`` (truncation "window") for sentences of tokenized words.

    ``word_ids``: ragged [words, pieces] ids of every word of every sentence end to end (a word
    with no piece must already be [UNK]); ``word_rows``: each word's sentence. Returns
    ``(input_ids, input_mask, labeled_positions, window_of_word, position_of_word, window_sentence)``:
    the windows' int32 [windows, max_seq_length] ids, mask and first-sub-token positions, and for
    every word the window that scores it and its position index in that window.
    """
    L = max_seq_length
    budget = L - 2
    lengths = tf.cast(word_ids.row_lengths(), tf.int32)
    n_words = tf.shape(lengths)[0]
    sentence_splits = tf.concat([[0], tf.cumsum(tf.math.bincount(word_rows, minlength=n_sentences,
                                                                  maxlength=n_sentences))], 0)
    cum = tf.concat([[0], tf.cumsum(lengths)], 0)  # pieces before each word (all sentences end to end)
    # Windows, all sentences at once: the original's greedy loop, one window per sentence per step.
    first_words = sentence_splits[:-1]
    last_words = sentence_splits[1:]
    has_words = last_words > first_words

    def body(start, active, w_sentence, w_start, w_end):
        sentences = tf.cast(tf.where(active)[:, 0], tf.int32)
        s = tf.gather(start, sentences)
        limit = tf.gather(last_words, sentences)
        fits = tf.searchsorted(cum, tf.gather(cum, s) + budget, side="right") - 1
        end = tf.maximum(tf.minimum(fits, limit), s + 1)  # a word longer than the budget: its own window
        done = end >= limit
        span = end - s
        overlap = span // 2 if window_overlap is None else tf.minimum(int(window_overlap), span - 1)
        next_start = tf.maximum(end - overlap, s + 1)
        start = tf.tensor_scatter_nd_update(start, sentences[:, None], next_start)
        active = tf.tensor_scatter_nd_update(active, sentences[:, None], ~done)
        return (start, active, tf.concat([w_sentence, sentences], 0), tf.concat([w_start, s], 0),
                tf.concat([w_end, end], 0))

    empty = tf.zeros([0], tf.int32)
    _, _, w_sentence, w_start, w_end = tf.while_loop(
        lambda start, active, *unused: tf.reduce_any(active), body,
        (first_words, has_words, empty, empty, empty),
        shape_invariants=(tf.TensorShape([None]),) * 5)
    order = tf.argsort(tf.cast(w_sentence, tf.int64) * tf.cast(n_words + 1, tf.int64) + tf.cast(w_start, tf.int64))
    w_sentence, w_start, w_end = (tf.gather(t, order) for t in (w_sentence, w_start, w_end))
    n_windows = tf.shape(w_start)[0]
    # (window, word) pairs; the window scoring a word gives it the most context, the first on ties.
    pair_window = tf.repeat(tf.range(n_windows), w_end - w_start)
    pair_word = tf.range(tf.shape(pair_window)[0]) - tf.gather(tf.cumsum(w_end - w_start, exclusive=True), pair_window) \
        + tf.gather(w_start, pair_window)
    score = tf.minimum(pair_word - tf.gather(w_start, pair_window), tf.gather(w_end, pair_window) - 1 - pair_word)
    best = tf.math.unsorted_segment_max(score, pair_word, n_words)
    owner = tf.math.unsorted_segment_min(tf.where(score == tf.gather(best, pair_word), pair_window, n_windows),
                                         pair_word, n_words)
    # Each window: [CLS] + every word's first L - 2 pieces + [SEP]; a word's position is its first piece.
    kept = tf.minimum(lengths, L - 2)
    pair_pieces = tf.gather(kept, pair_word)
    pair_position = 1 + tf.cumsum(pair_pieces, exclusive=True) - tf.gather(
        tf.cumsum(pair_pieces, exclusive=True), tf.gather(tf.cumsum(w_end - w_start, exclusive=True), pair_window))
    pair_index = pair_word - tf.gather(w_start, pair_window)  # the word's index among its window's words
    window_pieces = _take_prefix(tf.gather(word_ids, pair_word), pair_pieces)  # [pairs, pieces]
    window_ids = tf.RaggedTensor.from_value_rowids(window_pieces.flat_values,
                                                   tf.repeat(pair_window, pair_pieces), nrows=n_windows, validate=False)
    rows = tf.cast(n_windows, tf.int32)
    ids = _concat([_column(cls_id, rows), window_ids, _column(sep_id, rows)])
    shape = [None, L]
    input_ids = ids.to_tensor(0, shape=shape)
    input_mask = tf.ones_like(ids).to_tensor(0, shape=shape)
    positions = tf.RaggedTensor.from_value_rowids(pair_position, pair_window, nrows=n_windows, validate=False).to_tensor(0, shape=shape)
    is_owner = tf.gather(owner, pair_word) == pair_window
    word_position = tf.math.unsorted_segment_max(tf.where(is_owner, pair_index, -1), pair_word, n_words)
    return input_ids, input_mask, positions, owner, word_position, w_sentence, w_end - w_start


def qa_windows(query_ids: tf.RaggedTensor, doc_ids: tf.RaggedTensor, cls_id: int, sep_id: int, max_seq_length: int,
               max_query_length: int, doc_stride: int):
    """``QAPreprocessor.featurize`` for questions and their tokenized contexts.

    Returns ``(input_ids, input_mask, segment_ids, window_question, doc_offset, doc_start,
    doc_length, is_max_context)``: [windows, L] features; per window its question, the position
    of its first document token (``len(query) + 2``), the index of that token among the
    context's pieces and the number of document tokens; [windows, L] whether each position is
    the window giving that piece the most context (the original's ``_check_is_max_context``).
    """
    L = max_seq_length
    query = _take_prefix(query_ids, tf.minimum(tf.cast(query_ids.row_lengths(), tf.int32), max_query_length))
    n_query = tf.cast(query.row_lengths(), tf.int32)
    n_pieces = tf.cast(doc_ids.row_lengths(), tf.int32)
    max_tokens = L - n_query - 3
    stride = tf.minimum(max_tokens, doc_stride)
    extra = tf.maximum(n_pieces - max_tokens, 0)
    n_windows = 1 + (extra + stride - 1) // stride  # the last window reaches the end
    window_question = tf.repeat(tf.range(tf.size(n_pieces)), n_windows)
    index = tf.range(tf.shape(window_question)[0]) - tf.gather(tf.cumsum(n_windows, exclusive=True), window_question)
    q_stride, q_max, q_pieces = (tf.gather(t, window_question) for t in (stride, max_tokens, n_pieces))
    start = index * q_stride
    length = tf.minimum(q_pieces - start, q_max)
    W = tf.shape(start)[0]
    # Document tokens of every window, and the max-context rule over the windows of a question.
    pair_window = tf.repeat(tf.range(W), length)
    i = tf.range(tf.shape(pair_window)[0]) - tf.gather(tf.cumsum(length, exclusive=True), pair_window)
    w_start, w_length = tf.gather(start, pair_window), tf.gather(length, pair_window)
    piece = w_start + i
    score = tf.cast(tf.minimum(i, w_length - 1 - i), tf.float64) + 0.01 * tf.cast(w_length, tf.float64)
    doc_splits = tf.cast(doc_ids.row_splits, tf.int32)
    global_piece = tf.gather(doc_splits, tf.gather(window_question, pair_window)) + piece
    n_all = doc_splits[-1]
    best = tf.math.unsorted_segment_max(score, global_piece, n_all)
    owner = tf.math.unsorted_segment_min(tf.where(score == tf.gather(best, global_piece), pair_window, W),
                                         global_piece, n_all)
    max_context = tf.gather(owner, global_piece) == pair_window
    doc = tf.RaggedTensor.from_value_rowids(tf.gather(doc_ids.flat_values, global_piece), pair_window, nrows=W, validate=False)
    w_query = tf.gather(query, window_question)
    rows = W
    head = _concat([_column(cls_id, rows), w_query, _column(sep_id, rows)])
    tail = _concat([doc, _column(sep_id, rows)])
    ids = _concat([head, tail])
    types = _concat([tf.zeros_like(head), tf.ones_like(tail)])
    shape = [None, L]
    doc_offset = tf.gather(n_query, window_question) + 2
    positions = tf.gather(doc_offset, pair_window) + i
    is_max = tf.scatter_nd(tf.stack([pair_window, positions], 1), max_context, [W, L])
    return (ids.to_tensor(0, shape=shape), tf.ones_like(ids).to_tensor(0, shape=shape), types.to_tensor(0, shape=shape),
            window_question, doc_offset, start, length, is_max)


def text_windows(ids_a: tf.RaggedTensor, ids_b: Optional[tf.RaggedTensor], cls_id: int, sep_id: int,
                 max_seq_length: int, window_stride: Optional[int] = None):
    """``SentencePreprocessor.encode_windows`` (the hparam ``text_windows``) in the graph.

    A single text: windows of ``max_seq_length - 2`` tokens; a pair: the first text truncated as
    the original's ``_truncate_seq_pair`` against the whole second one (``encode_pairs``), the
    windows over the second text in the room left. Windows start ``window_stride`` tokens apart
    (None: half the room; never more than the room) and the last reaches the text's end, as
    ``finetuning.windows.windows``. Returns ``(input_ids, input_mask, segment_ids, window_row)``:
    int32 [windows, max_seq_length] features and each window's input row.
    """
    L = max_seq_length
    rows = ids_a.nrows(out_type=tf.int32)
    len_a = tf.cast(ids_a.row_lengths(), tf.int32)
    if ids_b is None:
        head = _column(cls_id, rows)
        text, n_text, segment = ids_a, len_a, 0
        room = tf.fill([rows], tf.constant(L - 2, tf.int32))
    else:
        len_b = tf.cast(ids_b.row_lengths(), tf.int32)
        budget = L - 3
        cut_a = tf.minimum(len_a, tf.maximum((budget + 1) // 2, budget - len_b))
        kept_a = tf.where(len_a + len_b > budget, cut_a, len_a)
        head = _concat([_column(cls_id, rows), _take_prefix(ids_a, kept_a), _column(sep_id, rows)])
        text, n_text, segment = ids_b, len_b, 1
        room = budget - kept_a
    if window_stride is None:
        stride = tf.maximum(room // 2, 1)
    else:
        stride = tf.maximum(tf.minimum(tf.constant(int(window_stride), tf.int32), room), 1)
    extra = tf.maximum(n_text - room, 0)
    n_windows = 1 + (extra + stride - 1) // stride  # the last window reaches the end
    window_row = tf.repeat(tf.range(rows), n_windows)
    W = tf.shape(window_row)[0]
    index = tf.range(W) - tf.gather(tf.cumsum(n_windows, exclusive=True), window_row)
    start = index * tf.gather(stride, window_row)
    length = tf.minimum(tf.gather(n_text, window_row) - start, tf.gather(room, window_row))
    piece_window = tf.repeat(tf.range(W), length)
    within = tf.range(tf.shape(piece_window)[0]) - tf.gather(tf.cumsum(length, exclusive=True), piece_window)
    text_splits = tf.cast(text.row_splits, tf.int32)
    source = tf.gather(text_splits, tf.gather(window_row, piece_window)) + tf.gather(start, piece_window) + within
    body = tf.RaggedTensor.from_value_rowids(tf.gather(text.values, source), piece_window, nrows=W, validate=False)
    w_head = tf.gather(head, window_row)
    tail = _concat([body, _column(sep_id, W)])
    ids = _concat([w_head, tail])
    types = _concat([tf.zeros_like(w_head), tf.ones_like(tail) * segment])
    shape = [None, L]
    return (ids.to_tensor(0, shape=shape), tf.ones_like(ids).to_tensor(0, shape=shape), types.to_tensor(0, shape=shape),
            window_row)
