"""The original FullTokenizer as a TensorFlow graph of core ops only (for SavedModel serving).

A SavedModel built with tensorflow-text's ops cannot be loaded without importing tensorflow-text
("Op type not registered 'CaseFoldUTF8'"), and its case folding also folds compatibility
characters (full-width "，" became ","), which the original does not. This tokenizer uses only
``tf.strings``, ``tf.ragged``, ``tf.lookup`` and ``tf.while_loop``, and answers every character
question from tables computed here, at export time, from Python's ``unicodedata`` and
``str.lower`` -- the same sources the training tokenizer (``tokenizer.py``) follows -- and stored
in the graph as constants:

* a class per code point (deleted by the cleaning, whitespace, CJK, punctuation, Python
  whitespace for ``str.split``, the two properties of ``str.lower``'s final-sigma rule, category
  Mn), as runs looked up with ``tf.searchsorted``;
* for lowercasing, ``NFD(chr(c).lower())`` of every code point it changes (multi-character
  results such as "İ" -> "i̇" included), and the canonical combining classes, so that NFD's
  canonical reordering of combining marks happens as in ``unicodedata.normalize``.

Steps, as the original's BasicTokenizer + WordpieceTokenizer: drop NUL, U+FFFD and control
characters, whitespace -> space; CJK ideographs become words of their own; when lowercasing,
``str.lower`` (with its word-final capital sigma rule), NFD, then drop category Mn; split on
whitespace and around every punctuation character; greedy longest-match-first WordPiece with
"##" continuations, ``[UNK]`` for a word longer than 200 characters or with no match. Each token
also carries the character span (code points of the input) it came from, as
``reference_tokenizer.tokenize_with_offsets``. Input strings are UTF-8; invalid bytes become
U+FFFD and are therefore deleted.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from electra_tf.text import reference_tokenizer as ref

# Character class bits.
DELETED, TO_SPACE, CJK, PUNCT, PY_SPACE, CASED, CASE_IGNORABLE, MN = (1 << i for i in range(8))
SIGMA, FINAL_SIGMA = 0x3A3, 0x3C2


def _final_sigma_properties(ch: str) -> Tuple[bool, bool]:
    """(cased and not case-ignorable, case-ignorable) as ``str.lower``'s final-sigma rule sees
    ``ch``: read off ``str.lower`` itself, since unicodedata does not expose the properties."""
    alone = (ch + "Σ").lower()[-1] == "ς"  # final only when ch is cased and not ignorable
    after_cased = ("A" + ch + "Σ").lower()[-1] == "ς"  # final when ch is ignorable or cased
    return alone, after_cased and not alone


@functools.lru_cache(maxsize=None)
def character_tables():
    """(class run starts, class run values, lowercase keys, lowercase value splits, lowercase
    values, combining class run starts, combining class run values) as NumPy arrays."""
    size = sys.maxunicode + 1
    classes = [DELETED] * size  # unassigned, private-use and surrogate code points: control (C*), deleted
    ccc = [0] * size
    keys, splits, values = [], [0], []
    category_of, combining, normalize = unicodedata.category, unicodedata.combining, unicodedata.normalize
    for cp in range(size):
        ch = chr(cp)
        category = category_of(ch)
        if category in ("Cn", "Co", "Cs"):
            continue
        c = 0
        if cp == 0 or cp == 0xFFFD or ref.is_control(ch):
            c |= DELETED
        elif ref.is_whitespace(ch):
            c |= TO_SPACE
        if ref.is_punctuation(ch):
            c |= PUNCT
        if ch.isspace():
            c |= PY_SPACE
        if category == "Mn":
            c |= MN
        cased, ignorable = _final_sigma_properties(ch)
        c |= (CASED if cased else 0) | (CASE_IGNORABLE if ignorable else 0)
        lowered = ch.lower()
        if lowered != ch or cp >= 0xC0:
            lowered = normalize("NFD", lowered)
            if lowered != ch:
                keys.append(cp)
                values.extend(map(ord, lowered))
                splits.append(len(values))
        classes[cp] = c
        ccc[cp] = combining(ch)
    classes, ccc = np.array(classes, np.int32), np.array(ccc, np.int32)
    for lo, hi in ref.CJK_RANGES:
        classes[lo:hi + 1] |= CJK
    return (*_runs(classes), np.array(keys, np.int32), np.array(splits, np.int32), np.array(values, np.int32),
            *_runs(ccc))


def _runs(table: np.ndarray):
    starts = np.flatnonzero(np.concatenate([[True], table[1:] != table[:-1]]))
    return starts.astype(np.int32), table[starts].astype(np.int32)


def _lookup(starts: tf.Tensor, values: tf.Tensor, cps: tf.Tensor) -> tf.Tensor:
    """The run value of each code point (flat int32)."""
    return tf.gather(values, tf.searchsorted(starts, cps, side="right") - 1)


class GraphTokenizer(tf.Module):
    """FullTokenizer(vocab, do_lower_case, tokenize_chinese_chars) in core TensorFlow ops.

    ``vocab`` maps tokens to ids (``reference_tokenizer.load_vocab``). ``tokenize(texts)``
    takes a string vector and returns ``(ids, starts, ends)``, ragged [texts, tokens]: token ids
    (int32) and each token's character span in its text.
    """

    def __init__(self, vocab: Dict[str, int], do_lower_case: bool = True, tokenize_chinese_chars: bool = True,
                 max_chars_per_word: int = ref.MAX_CHARS_PER_WORD, unk_token: str = "[UNK]"):
        super().__init__()
        self.do_lower_case = bool(do_lower_case)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.max_chars_per_word = int(max_chars_per_word)
        self.unk_id = int(vocab[unk_token])
        keys = list(vocab)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string), tf.constant([vocab[k] for k in keys], tf.int32)),
            default_value=-1)
        longest = max((len(k[2:]) if k.startswith("##") else len(k)) for k in keys)
        self.max_piece_chars = int(min(longest, self.max_chars_per_word))
        class_starts, class_values, lower_keys, lower_splits, lower_values, ccc_starts, ccc_values = character_tables()
        self._class_starts = tf.constant(class_starts)
        self._class_values = tf.constant(class_values)
        if self.do_lower_case:
            self._lower_keys = tf.constant(lower_keys)
            self._lower_splits = tf.constant(lower_splits)
            self._lower_values = tf.constant(lower_values)
            self._ccc_starts = tf.constant(ccc_starts)
            self._ccc_values = tf.constant(ccc_values)

    # -- normalization ------------------------------------------------------------------------

    def _classes(self, cps):
        return _lookup(self._class_starts, self._class_values, cps)

    def _final_sigmas(self, cps, rows):
        """Where a capital sigma is word-final by ``str.lower``'s rule: the nearest character
        before it that is not case-ignorable is cased, and the nearest one after it is not (or
        there is none). Spaces end the context, as the original lowercases word by word."""
        classes = self._classes(cps)
        anchor = tf.cast((classes & CASE_IGNORABLE) == 0, tf.int32)
        anchors = tf.cast(tf.where(anchor > 0)[:, 0], tf.int32)
        n_anchors = tf.shape(anchors)[0]
        anchors = tf.concat([anchors, [0]], 0)  # never empty (the extra entry is never a real answer)
        before = tf.cumsum(anchor, exclusive=True)  # anchors before each position
        prev = tf.gather(anchors, tf.maximum(before - 1, 0))
        prev_ok = (before > 0) & (tf.gather(rows, prev) == rows) & ((tf.gather(classes, prev) & CASED) != 0)
        through = tf.cumsum(anchor)  # anchors up to and including each position
        nxt = tf.gather(anchors, tf.minimum(through, tf.maximum(n_anchors - 1, 0)))
        has_next = (through < n_anchors) & (tf.gather(rows, nxt) == rows)
        next_ok = ~has_next | ((tf.gather(classes, nxt) & CASED) == 0)
        return (cps == SIGMA) & prev_ok & next_ok

    def _lowercase(self, cps, origins, cjk, rows):
        """``str.lower``, NFD and the removal of category Mn, on flat code points (with each
        output character keeping its source's origin, CJK flag and row)."""
        cps = tf.where(self._final_sigmas(cps, rows), FINAL_SIGMA, cps)
        n_keys = tf.shape(self._lower_keys)[0]
        at = tf.minimum(tf.searchsorted(self._lower_keys, cps, side="left"), n_keys - 1)
        found = tf.gather(self._lower_keys, at) == cps
        lengths = tf.where(found, tf.gather(self._lower_splits, at + 1) - tf.gather(self._lower_splits, at), 1)
        source = tf.repeat(tf.range(tf.shape(cps)[0]), lengths)
        first = tf.cumsum(lengths, exclusive=True)
        within = tf.range(tf.shape(source)[0]) - tf.gather(first, source)
        mapped = tf.gather(self._lower_values, tf.gather(tf.gather(self._lower_splits, at), source) + within)
        cps = tf.where(tf.gather(found, source), mapped, tf.gather(cps, source))
        origins, cjk, rows = tf.gather(origins, source), tf.gather(cjk, source), tf.gather(rows, source)
        # NFD's canonical ordering: a stable sort of each run of marks (non-zero combining class) by class.
        ccc = _lookup(self._ccc_starts, self._ccc_values, cps)
        n = tf.shape(cps)[0]
        position = tf.range(n)
        in_run = ccc > 0
        run_start = in_run & tf.concat([[True], (~in_run[:-1]) | (rows[1:] != rows[:-1])], 0)
        # The start of the run containing each mark: the last run start at or before it.
        start_positions = tf.concat([tf.cast(tf.where(run_start)[:, 0], tf.int32), [0]], 0)  # [0]: never empty
        run_index = tf.cumsum(tf.cast(run_start, tf.int32)) - 1
        group = tf.where(in_run, tf.gather(start_positions, tf.maximum(run_index, 0)), position)
        order = tf.argsort(tf.cast(group, tf.int64) * 256 + tf.cast(ccc, tf.int64), stable=True)
        cps, origins, cjk, rows = (tf.gather(t, order) for t in (cps, origins, cjk, rows))
        keep = (self._classes(cps) & MN) == 0
        return tuple(tf.boolean_mask(t, keep) for t in (cps, origins, cjk, rows))

    def _normalized(self, texts):
        """Cleaned (and lowercased) code points of all texts end to end, with their origins
        (character index in the input), CJK flag and text row."""
        decoded = tf.strings.unicode_decode(texts, "UTF-8", errors="replace", replacement_char=0xFFFD)
        cps = decoded.flat_values
        rows = tf.cast(decoded.value_rowids(), tf.int32)
        origins = tf.range(tf.shape(cps)[0]) - tf.gather(tf.cast(decoded.row_splits, tf.int32), rows)
        classes = self._classes(cps)
        keep = (classes & DELETED) == 0
        cps, origins, rows, classes = (tf.boolean_mask(t, keep) for t in (cps, origins, rows, classes))
        cps = tf.where((classes & TO_SPACE) != 0, 32, cps)
        cjk = (classes & CJK) != 0 if self.tokenize_chinese_chars else tf.zeros_like(cps, tf.bool)
        if self.do_lower_case:
            cps, origins, cjk, rows = self._lowercase(cps, origins, cjk, rows)
        return cps, origins, cjk, rows

    def words(self, texts):
        """The BasicTokenizer's words: (words as a ragged [words, chars] code-point tensor,
        their characters' origins, the text row of each word)."""
        texts = tf.convert_to_tensor(texts, tf.string)
        cps, origins, cjk, rows = self._normalized(texts)
        classes = self._classes(cps)
        space = (classes & PY_SPACE) != 0
        punct = (classes & PUNCT) != 0
        prev = lambda t, first: tf.concat([[first], t[:-1]], 0)  # noqa: E731
        new_row = rows != prev(rows, -1)
        other_source = origins != prev(origins, -1)
        start = ~space & (new_row | prev(space, True) | punct | prev(punct, True)
                          | (other_source & (cjk | prev(cjk, False))))
        word = tf.cumsum(tf.cast(start, tf.int32)) - 1
        keep = ~space
        word = tf.boolean_mask(word, keep)
        n_words = tf.reduce_sum(tf.cast(start, tf.int32))
        word_cps = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(cps, keep), word, nrows=n_words, validate=False)
        word_origins = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(origins, keep), word, nrows=n_words, validate=False)
        word_rows = tf.boolean_mask(rows, start)
        return word_cps, word_origins, word_rows

    # -- WordPiece ----------------------------------------------------------------------------

    def _wordpiece(self, word_cps):
        """Greedy longest-match-first WordPiece of every word at once -> flat (word index, id,
        first char, end char) of all pieces in order; a word with no match or over the length
        limit is one [UNK] over the whole word."""
        strings = tf.strings.unicode_encode(word_cps, "UTF-8")
        lengths = tf.cast(word_cps.row_lengths(), tf.int32)
        n = tf.shape(strings)[0]
        K = self.max_piece_chars
        too_long = lengths > self.max_chars_per_word

        def body(start, failed, acc_word, acc_id, acc_start, acc_end):
            active = tf.cast(tf.where((start < lengths) & ~failed)[:, 0], tf.int32)
            a_start = tf.gather(start, active)
            # Candidates: every piece length the word's rest and the vocabulary allow, flat.
            counts = tf.minimum(tf.gather(lengths, active) - a_start, K)
            owner = tf.repeat(tf.range(tf.shape(active)[0]), counts)
            size = tf.range(tf.shape(owner)[0]) - tf.gather(tf.cumsum(counts, exclusive=True), owner) + 1
            pos = tf.gather(a_start, owner)
            pieces = tf.strings.substr(tf.gather(strings, tf.gather(active, owner)), pos, size, unit="UTF8_CHAR")
            pieces = tf.where(pos > 0, tf.strings.join(["##", pieces]), pieces)
            ids = self.table.lookup(pieces)
            n_active = tf.shape(active)[0]
            best = tf.math.unsorted_segment_max(tf.where(ids >= 0, size, 0), owner, n_active)
            best = tf.maximum(best, 0)  # words without candidates give the lowest int32
            found = best > 0
            hit = (ids >= 0) & (size == tf.gather(best, owner))
            best_id = tf.math.unsorted_segment_max(tf.where(hit, ids, -1), owner, n_active)
            failed = tf.tensor_scatter_nd_update(failed, active[:, None], ~found)
            start = tf.tensor_scatter_nd_add(start, active[:, None], best)
            return (start, failed,
                    tf.concat([acc_word, tf.boolean_mask(active, found)], 0),
                    tf.concat([acc_id, tf.boolean_mask(best_id, found)], 0),
                    tf.concat([acc_start, tf.boolean_mask(a_start, found)], 0),
                    tf.concat([acc_end, tf.boolean_mask(a_start + best, found)], 0))

        def cond(start, failed, *unused):
            return tf.reduce_any((start < lengths) & ~failed)

        empty = tf.zeros([0], tf.int32)
        start, failed, p_word, p_id, p_start, p_end = tf.while_loop(
            cond, body, (tf.zeros([n], tf.int32), too_long, empty, empty, empty, empty),
            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None])) + (tf.TensorShape([None]),) * 4)
        keep = ~tf.gather(failed, p_word)
        unk_words = tf.cast(tf.where(failed)[:, 0], tf.int32)
        p_word = tf.concat([tf.boolean_mask(p_word, keep), unk_words], 0)
        p_id = tf.concat([tf.boolean_mask(p_id, keep), tf.fill(tf.shape(unk_words), self.unk_id)], 0)
        p_start = tf.concat([tf.boolean_mask(p_start, keep), tf.zeros_like(unk_words)], 0)
        p_end = tf.concat([tf.boolean_mask(p_end, keep), tf.gather(lengths, unk_words)], 0)
        order = tf.argsort(tf.cast(p_word, tf.int64) * (self.max_chars_per_word + 2) + tf.cast(p_start, tf.int64),
                           stable=True)
        return tuple(tf.gather(t, order) for t in (p_word, p_id, p_start, p_end))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def tokenize(self, texts):
        """(ids, starts, ends): ragged [texts, tokens] int32 token ids and character spans.

        One traced function, shared by every signature of a SavedModel that calls it.
        """
        word_cps, word_origins, word_rows = self.words(texts)
        p_word, p_id, p_start, p_end = self._wordpiece(word_cps)
        origin_starts = tf.gather(word_origins.row_splits, p_word)
        flat_origins = word_origins.flat_values
        first = tf.gather(flat_origins, tf.cast(origin_starts, tf.int32) + p_start)
        last = tf.gather(flat_origins, tf.cast(origin_starts, tf.int32) + p_end - 1)
        rows = tf.gather(word_rows, p_word)
        n_texts = tf.shape(texts, out_type=tf.int64)[0]
        make = lambda v: tf.RaggedTensor.from_value_rowids(v, tf.cast(rows, tf.int64), nrows=n_texts, validate=False)  # noqa: E731
        return make(p_id), make(tf.minimum(first, last)), make(tf.maximum(first, last) + 1)
