"""The original ``ExampleBuilder``'s packing of sentences into pre-training examples.

google-research/electra ``build_pretraining_dataset.py:34-114``, the version fixed upstream in
commit ``1ed0852`` (2020-03-16). Before that fix the segment rule read "A is *non*-empty" and
"B is *non*-empty", so once A held anything every later sentence joined A and two-segment
examples almost never appeared (Chinese-ELECTRA still has that version, its issue #90). The
fixed rule, used here: a buffered sentence goes to segment A if A is empty, or if it fits
(``|A| + |s| < first_target``), or, while B is still empty and A is below target, on a coin
flip; otherwise to B.

Everything the rule decides depends on sentence *lengths* only, so this class sees lengths
and positions: the token ids stay in one NumPy array owned by the caller. Each example's
sentences are recorded with their segment, and ``take_examples`` turns a whole block of
examples into "pieces" (copy ``length`` ids from ``src`` to ``dst`` of the output matrix,
truncation applied) with NumPy.

Per example the random draws are, in the original's order: u1 (single segment when < 0.1),
zero or more coins (only when the first two tests fail and the third one's other conditions
hold), u2 (a random target length when < 0.05), then ``randint(5, max_length)`` for that
target. Any ``random.Random`` gives the original's sequence for its seed.

Empty sentences. The original buffers a sentence for every line it is given, also the lines
that tokenize to nothing and the blank lines that arrive while the buffer holds no tokens. Such
an empty sentence never draws a coin (that needs ``|A| >= first_target`` and ``|A| <
first_target`` at once), never changes |A| or |B| and never triggers an example (the buffer
length is always below the target between examples), so leaving it out gives the same
examples and the same random sequence.
"""

from __future__ import annotations

import random
from typing import List, Tuple

import numpy as np

from electra_tf.errors import ConfigError

SINGLE_SEGMENT_PROBABILITY = 0.1  # "small chance to only have one segment as in classification tasks"
SHORT_TARGET_PROBABILITY = 0.05  # "small chance for random-length instead of max_length-length example"
MIN_TARGET_LENGTH = 5  # randint(5, max_length)
NO_SECOND_SEGMENT = 100000  # the original's first_segment_target_length in the single-segment case


class ExampleBuilder:
    """Packs sentences (as lengths) into examples of at most ``max_length`` tokens with the
    original's rule and random draws (``rng``: a ``random.Random``).

    Lines arrive in blocks (``add_block``); examples come out as pieces (``take_examples``);
    sentences still buffered at the end of a block are re-addressed by ``carry_over``.
    """

    def __init__(self, max_length: int, rng: random.Random):
        if max_length < MIN_TARGET_LENGTH:
            raise ConfigError(f"--max-seq-length must be at least {MIN_TARGET_LENGTH} (the original draws target lengths "
                             f"from randint({MIN_TARGET_LENGTH}, max_length)); got {max_length}")
        self.max_length = max_length
        self.target_length = max_length
        self._rng = rng
        self._buffer: List[Tuple[int, int]] = []  # (start in the caller's token array, length), non-empty only
        self._current_length = 0
        self._reset_output()

    def _reset_output(self) -> None:
        self._src: List[int] = []  # every sentence of the examples so far: start, length, example, segment
        self._len: List[int] = []
        self._row: List[int] = []
        self._seg: List[int] = []
        self._len_a: List[int] = []  # per example, after truncation
        self._len_b: List[int] = []

    def add_block(self, starts: List[int], lengths: List[int], blank: List[bool]) -> None:
        """Add lines: line i is blank (ends a document) or has ``lengths[i]`` tokens at
        ``starts[i]`` of the caller's token array. The original's ``add_line``."""
        target = self.target_length
        buffer = self._buffer
        for start, n, is_blank in zip(starts, lengths, blank):
            if is_blank:
                if self._current_length:
                    self._emit()
                    buffer, target = self._buffer, self.target_length
            elif n:
                buffer.append((start, n))
                self._current_length += n
                if self._current_length >= target:
                    self._emit()
                    buffer, target = self._buffer, self.target_length

    def end_document(self) -> None:
        """End of a file: the original's final ``add_line("")`` flushes a partial example."""
        if self._current_length:
            self._emit()

    def _emit(self) -> None:
        """The original ``_create_example``: assign buffered sentences to A/B, truncate, draw the
        next target length. The sentences are recorded with their segment; ``take_examples``
        turns them into pieces."""
        rng = self._rng
        max_length = self.max_length
        if rng.random() < SINGLE_SEGMENT_PROBABILITY:
            first_target = NO_SECOND_SEGMENT
        else:
            first_target = (self.target_length - 3) // 2  # -3: [CLS] A [SEP] B [SEP]; the current target, not L
        segments = self._seg
        len_a = len_b = 0
        for _, n in self._buffer:
            if (len_a == 0 or len_a + n < first_target
                    or (len_b == 0 and len_a < first_target and rng.random() < 0.5)):
                len_a += n
                segments.append(0)
            else:
                len_b += n
                segments.append(1)
        # Truncation as the original: A to L - 2 tokens, B to what is left after [CLS] A [SEP] ... [SEP];
        # the cut tokens are dropped, not carried over.
        keep_a = min(len_a, max_length - 2)
        starts, lengths = zip(*self._buffer)
        self._row.extend([len(self._len_a)] * len(starts))
        self._src.extend(starts)
        self._len.extend(lengths)
        self._len_a.append(keep_a)
        self._len_b.append(min(len_b, max(0, max_length - keep_a - 3)))
        self._buffer = []
        self._current_length = 0
        if rng.random() < SHORT_TARGET_PROBABILITY:
            self.target_length = rng.randint(MIN_TARGET_LENGTH, max_length)
        else:
            self.target_length = max_length

    def take_examples(self):
        """The examples built since the last call: (src, dst, length) of every piece (copy
        ``length`` ids from ``src`` of the token array to ``dst`` of the flat (examples,
        max_length) output), as int64 arrays, and per example the lengths of A and B after
        truncation."""
        src, length, row, segment, len_a, len_b = (np.asarray(v, np.int64) for v in (
            self._src, self._len, self._row, self._seg, self._len_a, self._len_b))
        self._reset_output()
        # Sentences grouped by (example, segment), text order kept inside a group.
        order = np.argsort(row * 2 + segment, kind="stable")
        src, length, row, segment = src[order], length[order], row[order], segment[order]
        ends = np.cumsum(length)
        group = row * 2 + segment
        new_group = np.ones(len(group), bool)
        new_group[1:] = group[1:] != group[:-1]
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(group)), 0))
        before = ends - length - (ends - length)[group_start]  # tokens of the segment ahead of the sentence
        is_a = segment == 0
        keep = np.where(is_a, len_a[row], len_b[row])
        take = np.clip(keep - before, 0, length)
        dst = row * self.max_length + np.where(is_a, 1, len_a[row] + 2) + before
        used = take > 0
        return src[used], dst[used], take[used], len_a, len_b

    def carry_over(self, tokens: np.ndarray) -> np.ndarray:
        """The ids of the sentences still buffered, end to end; the buffer then points into that
        array (the caller puts the next block's ids after it). Call after ``take_examples``."""
        assert not self._len_a, "take_examples before carry_over: its sentences point into the old token array"
        if not self._buffer:
            return tokens[:0]
        carried = np.concatenate([tokens[start:start + n] for start, n in self._buffer])
        position = 0
        for i, (_, n) in enumerate(self._buffer):
            self._buffer[i] = (position, n)
            position += n
        return carried
