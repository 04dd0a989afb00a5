"""Fast tokenizers that produce exactly the original FullTokenizer's output.

``FullTokenizer`` runs the original algorithm in Rust through the ``tokenizers`` library:
BERT text cleaning and CJK padding, then (when lowercasing) lowercase -> NFD -> drop
non-spacing marks (Mn only), in the original's order, BERT whitespace/punctuation splitting and greedy
WordPiece with the 200-character limit. One case differs in Rust: Python's ``str.lower`` turns
a word-final capital sigma into "ς", Rust lowercases character by character. Texts containing
"Σ" therefore go through the reference implementation, and so do the rare texts with characters
newer than the Rust Unicode tables (see ``_category_changed``): the output is always
the original's. Texts are cut into the chunks the original tokenizes independently (words,
CJK characters) with NumPy over their code points, and each distinct chunk is tokenized once
(``encode_batch_flat``, ``ChunkStore``): a repeated word costs a dictionary look-up, a CJK
character or punctuation mark an array look-up. New printable-ASCII words skip normalization,
which cannot change them (``_encode_uncached``).

``SentencePieceTokenizer`` serves models whose vocabulary is a ``*.model`` file, with the
options peer tools offer (forced lowercasing, a custom space token).
"""

from __future__ import annotations

import functools
import os
import sys
import unicodedata
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from electra_tf.errors import ConfigError
from electra_tf.utils.files import invalid_utf8_message
from electra_tf.utils.ragged import flatten_ids, segment_positions, split_flat
from electra_tf.text.chunk_store import ChunkStore
from electra_tf.text import reference_tokenizer as ref

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_SEEN, _DELETED, _SPACE, _CJK, _ASCII_PUNCTUATION = 1, 2, 4, 8, 16  # character classes (FullTokenizer._char_class)
CHUNK_CACHE_SIZE = 500_000  # distinct chunks remembered per tokenizer (tens of MB)
TEXTS_PER_BLOCK = 2000  # texts encoded together by FullTokenizer.encode_batch_flat


@functools.lru_cache(maxsize=1)
def _nonspacing_mark_regex() -> str:
    """An Oniguruma class of exactly the Mn code points of Python's unicodedata.

    The original strips only category Mn after NFD; tokenizers' StripAccents strips every mark
    (Mn, Mc, Me), which would delete Indic and Myanmar vowel signs.
    """
    ranges = []
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)) == "Mn":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    return "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" if a != b else f"\\x{{{a:x}}}" for a, b in ranges) + "]"


def _deleted_up_front(ch: str) -> bool:
    """Unassigned (Cn) code points and lone surrogates (Cs) in Python's Unicode tables.

    The original deletes them as control characters in its first step, so deleting them
    beforehand is exactly its behaviour (surrogates cannot even be passed to Rust).
    """
    return unicodedata.category(ch) in ("Cn", "Cs")


def _category_changed(ch: str) -> bool:
    """Characters whose category changed since Unicode 3.2 (mostly ones assigned later: recent
    emoji, CJK extensions, combining marks). The Rust tables of ``tokenizers`` are older than
    Python's, so texts with them go through the reference implementation."""
    return unicodedata.ucd_3_2_0.category(ch) != unicodedata.category(ch)


def _runs(mask: np.ndarray):
    """(starts, ends) of the runs of True in ``mask``."""
    boundary = np.diff(np.concatenate([[False], mask, [False]]).view(np.int8))
    return np.flatnonzero(boundary == 1), np.flatnonzero(boundary == -1)


def _interleave(n_chars: int, unit_at: np.ndarray, unit_ids: np.ndarray, chunk_starts: np.ndarray,
                chunk_ids: np.ndarray, chunk_lengths: np.ndarray, text_starts: np.ndarray, text_lengths: np.ndarray):
    """Put single-token characters (at ``unit_at``) and chunks' ids (starting at ``chunk_starts``)
    in character order -> (ids end to end, tokens per text)."""
    ends = np.zeros(n_chars, np.int32)  # tokens at each character position, then the running total
    ends[unit_at] = 1
    ends[chunk_starts] = chunk_lengths
    np.cumsum(ends, out=ends)
    ids = np.empty(int(ends[-1]) if n_chars else 0, np.int32)
    ids[ends[unit_at] - 1] = unit_ids
    if len(chunk_starts):
        ids[segment_positions(ends[chunk_starts] - chunk_lengths, chunk_lengths)] = chunk_ids

    def tokens_before(position):
        return np.where(position > 0, ends[np.maximum(position - 1, 0)] if n_chars else 0, 0)

    return ids, (tokens_before(text_starts + text_lengths) - tokens_before(text_starts)).astype(np.int64)


class FullTokenizer:
    """The original ``FullTokenizer`` (WordPiece vocab.txt), fast.

    ``tokenize_chinese_chars=False`` gives the variant the original tagging code uses.
    ``strip_accents``: None (the original) strips accents exactly when lowercasing; True or False
    decides on its own, as HF's BertTokenizer (a checkpoint's ``tokenizer_config.json`` may say so).
    """

    def __init__(self, vocab_file: str, do_lower_case: bool = True, tokenize_chinese_chars: bool = True,
                 strip_accents: Optional[bool] = None):
        from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

        if not os.path.isfile(vocab_file):
            raise ConfigError(f"Vocabulary file not found: {vocab_file}")
        try:
            self.vocab: Dict[str, int] = ref.load_vocab(vocab_file)
        except UnicodeDecodeError as e:
            raise ConfigError(invalid_utf8_message(vocab_file, e)) from None
        for token in ("[UNK]", "[CLS]", "[SEP]"):
            if token not in self.vocab:
                raise ConfigError(f"{vocab_file}: the vocabulary has no {token} token; is this a BERT/ELECTRA vocab.txt?")
        self.vocab_file = vocab_file
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self._strip = do_lower_case if strip_accents is None else bool(strip_accents)
        steps = [normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=tokenize_chinese_chars,
                                            strip_accents=False, lowercase=False)]
        # The original's order: lower(), then NFD, then drop category Mn.
        if do_lower_case:
            steps.append(normalizers.Lowercase())
        if self._strip:
            steps += [normalizers.NFD(), normalizers.Replace(Regex(_nonspacing_mark_regex()), "")]
        tokenizer = Tokenizer(models.WordPiece(vocab=self.vocab, unk_token="[UNK]",
                                               max_input_chars_per_word=ref.MAX_CHARS_PER_WORD))
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self._fast = tokenizer
        self._reference = None
        self._plain_chars = set()
        self._char_class = np.zeros(sys.maxunicode + 1, np.uint8)  # _SEEN | _DELETED | _SPACE | _CJK
        self._char_id = np.full(sys.maxunicode + 1, -1, np.int32)  # the one token of a lone character
        self._chunks = ChunkStore()
        self._bare_tokenizer = None

    def for_words(self, lowercase: bool) -> "FullTokenizer":
        """The tokenizer the original's tagging code runs on each word: this vocabulary with
        ``lowercase`` and no CJK splitting (``tokenize_and_align``)."""
        return FullTokenizer(self.vocab_file, do_lower_case=lowercase, tokenize_chinese_chars=False,
                             strip_accents=self.strip_accents)

    def _needs_reference(self, text: str) -> bool:
        return (self.do_lower_case and "Σ" in text) or any(map(_category_changed, set(text)))

    def _is_plain(self, text: str) -> bool:
        """True when no character of ``text`` is deleted up front or needs the reference path.

        The characters already seen to be plain are remembered, so a text costs one set
        comparison.
        """
        chars = set(text)
        if chars <= self._plain_chars:
            return True
        for ch in chars - self._plain_chars:
            if _deleted_up_front(ch) or self._needs_reference(ch):
                return False
            self._plain_chars.add(ch)
        return True

    def _slow(self):
        if self._reference is None:
            self._reference = ref.ReferenceTokenizer.__new__(ref.ReferenceTokenizer)
            self._reference.vocab = self.vocab
            self._reference.do_lower_case = self.do_lower_case
            self._reference.tokenize_chinese_chars = self.tokenize_chinese_chars
            self._reference.strip_accents = self.strip_accents
        return self._reference

    def _learn_chars(self, code_points: np.ndarray) -> None:
        """Classify characters never seen before (``_char_class``) and note the token id of
        those that tokenize, standing alone, to exactly one token (``_char_id``)."""
        chars = [chr(cp) for cp in code_points.tolist()]
        classes = []
        for ch in chars:
            if ord(ch) in (0, 0xFFFD) or ref.is_control(ch):
                classes.append(_SEEN | _DELETED)  # the original's clean_text deletes it
            elif ch.isspace():
                classes.append(_SEEN | _SPACE)
            elif self.tokenize_chinese_chars and ref.is_cjk(ord(ch)):
                classes.append(_SEEN | _CJK)
            elif ch.isascii() and ref.is_punctuation(ch):
                classes.append(_SEEN | _ASCII_PUNCTUATION)
            else:
                classes.append(_SEEN)
        self._char_class[code_points] = classes
        standalone = [ch for ch, c in zip(chars, classes) if not c & (_DELETED | _SPACE)]
        encoded = self._encode_uncached(standalone)
        self._chunks.add(standalone, encoded)
        for ch, ids in zip(standalone, encoded):
            if len(ids) == 1:
                self._char_id[ord(ch)] = ids[0]

    def encode_batch_flat(self, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        """Token ids of many texts end to end (int32), and each text's number of tokens.

        The original cleans the text, pads CJK characters with spaces, splits on whitespace
        and tokenizes each piece on its own. So when cleaning deletes nothing (it then only
        turns whitespace into spaces), every CJK character and every run of other non-space
        characters is a chunk tokenized independently of the rest; a deleted character could
        join two chunks, so texts with one are tokenized whole. Chunks are found with NumPy
        over the code points of all texts at once; a chunk that is one character with a
        one-token encoding is looked up in an array, the others are tokenized once each and
        cached (natural text repeats its words: after their first occurrence a corpus costs
        about one dictionary look-up per word).
        """
        if len(texts) > TEXTS_PER_BLOCK:  # bounded temporaries (a few MB), reused block after block
            blocks = [self.encode_batch_flat(texts[i:i + TEXTS_PER_BLOCK]) for i in range(0, len(texts), TEXTS_PER_BLOCK)]
            return np.concatenate([ids for ids, _ in blocks]), np.concatenate([lengths for _, lengths in blocks])
        store = self._chunks
        if len(store) > CHUNK_CACHE_SIZE:
            store.clear()
        n = len(texts)
        joined = "\n".join(texts)  # the separator is whitespace, so no chunk spans two texts
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32)
        text_lengths = np.fromiter(map(len, texts), np.int64, n)
        text_starts = np.cumsum(text_lengths + 1) - text_lengths - 1
        classes = self._char_class[cps]
        if not classes.all():
            new = np.zeros(sys.maxunicode + 1, bool)
            new[cps[classes == 0]] = True
            self._learn_chars(np.flatnonzero(new))
            classes = self._char_class[cps]
        deleted = np.flatnonzero(classes & _DELETED)
        whole_at = np.unique(np.searchsorted(text_starts, deleted, "right") - 1) if len(deleted) else deleted
        if len(whole_at):  # texts tokenized whole: their characters are out of the character pass
            classes = classes.copy()
            for i in whole_at.tolist():
                classes[text_starts[i]:text_starts[i] + text_lengths[i]] = _SPACE
        # Runs of word characters (neither space nor CJK); a CJK character is a chunk of its own.
        in_word = (classes & (_SPACE | _CJK)) == 0
        isolated = (classes & _CJK) != 0
        run_starts, run_ends = _runs(in_word)
        if (classes & _ASCII_PUNCTUATION).any():
            # In a run of ASCII only, the original splits off every punctuation character after a
            # lowercasing that cannot change it, so "word," is the chunks "word" and ",".
            non_ascii = np.concatenate([[0], np.cumsum(cps >= 0x80, dtype=np.int32)])
            ascii_run = non_ascii[run_ends] == non_ascii[run_starts]
            in_ascii_run = np.zeros(len(cps), bool)
            in_ascii_run[in_word] = np.repeat(ascii_run, run_ends - run_starts)
            split = in_ascii_run & ((classes & _ASCII_PUNCTUATION) != 0)
            if split.any():
                isolated |= split
                in_word &= ~split
                run_starts, run_ends = _runs(in_word)
        lone = run_starts[run_ends - run_starts == 1]
        lone_ids = self._char_id[cps[lone]]
        alone = np.flatnonzero(isolated)
        alone_ids = self._char_id[cps[alone]]
        # Characters that are a chunk on their own and encode to one token: looked up by code point.
        unit_at = np.concatenate([lone[lone_ids >= 0], alone[alone_ids >= 0]])
        unit_ids = np.concatenate([lone_ids[lone_ids >= 0], alone_ids[alone_ids >= 0]])
        # The other chunks are looked up as strings: blank out the rest and split.
        rest = cps.copy()
        rest[unit_at] = 32
        rest[alone] = 32
        if len(whole_at):
            rest[classes == _SPACE] = 32  # the characters of texts tokenized whole (marked above)
        chunks = rest.tobytes().decode("utf-32-le", "surrogatepass").split()
        chunk_starts = np.setdiff1d(run_starts, unit_at, assume_unique=True)
        assert len(chunks) == len(chunk_starts), "chunk positions out of step with the chunks"
        odd = alone[alone_ids < 0]  # rare: characters standing alone that give several or no tokens
        chunks += [chr(cp) for cp in cps[odd].tolist()] + [texts[i] for i in whole_at.tolist()]
        chunk_starts = np.concatenate([chunk_starts, odd, text_starts[whole_at]]).astype(np.int64)
        rows = store.find(chunks)
        missing_at = np.flatnonzero(rows < 0).tolist()
        if missing_at:
            missing = [chunks[i] for i in missing_at]
            new = list(dict.fromkeys(missing))
            store.add(new, self._encode_uncached(new))
            rows[missing_at] = store.find(missing)
        chunk_ids, chunk_lengths = store.ids(rows)
        return _interleave(len(cps), unit_at, unit_ids, chunk_starts, chunk_ids, chunk_lengths, text_starts, text_lengths)

    def tokenize(self, text: str) -> List[str]:
        """WordPiece tokens of one text, exactly as the original FullTokenizer."""
        return self.tokenize_batch([text])[0]

    def tokenize_batch(self, texts: Sequence[str]) -> List[List[str]]:
        """Tokenize many texts at once: cached chunks, new ones in parallel in Rust."""
        inv = self.inv_vocab.__getitem__
        return [list(map(inv, ids)) for ids in self.encode_batch(texts)]

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        """Token ids of many texts (``convert_tokens_to_ids(tokenize(text))``, without the detour)."""
        return split_flat(*self.encode_batch_flat(texts))

    def _bare(self):
        """WordPiece after BERT pre-tokenization, without normalization: for printable ASCII
        chunks, where the original's cleaning, NFD and accent stripping change nothing and
        lowercasing is ``str.lower``."""
        if self._bare_tokenizer is None:
            from tokenizers import Tokenizer, models, pre_tokenizers

            self._bare_tokenizer = Tokenizer(models.WordPiece(vocab=self.vocab, unk_token="[UNK]",
                                                              max_input_chars_per_word=ref.MAX_CHARS_PER_WORD))
            self._bare_tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        return self._bare_tokenizer

    def _encode_uncached(self, texts: Sequence[str]) -> List[List[int]]:
        vocab = self.vocab
        # Printable ASCII: the original's cleaning, NFD and accent stripping change nothing and its
        # lowercasing is str.lower, so the text can skip normalization.
        ascii_ = [a and p for a, p in zip(map(str.isascii, texts), map(str.isprintable, texts))]
        keys = list(map(str.lower, texts)) if self.do_lower_case else list(texts)
        out: List[Optional[List[int]]] = [None] * len(texts)
        bare_at = []
        for i, (key, is_ascii) in enumerate(zip(keys, ascii_)):
            if not is_ascii:
                continue
            if key.isalnum() and len(key) <= ref.MAX_CHARS_PER_WORD and key in vocab:
                # One piece for the pre-tokenizer, and WordPiece's longest-match-first takes the
                # whole word when the vocabulary has it.
                out[i] = [vocab[key]]
            else:
                bare_at.append(i)
        if bare_at:
            encodings = self._bare().encode_batch_fast([keys[i] for i in bare_at], add_special_tokens=False)
            for i, encoding in zip(bare_at, encodings):
                out[i] = encoding.ids
        other_at = [i for i, a in enumerate(ascii_) if not a]
        if other_at:
            others = [texts[i] for i in other_at]
            plain = [self._is_plain(t) for t in others]
            cleaned = [t if p else "".join(c for c in t if not _deleted_up_front(c)) for t, p in zip(others, plain)]
            encodings = self._fast.encode_batch_fast(cleaned, add_special_tokens=False)
            for i, t, p, e in zip(other_at, cleaned, plain, encodings):
                out[i] = e.ids if p or not self._needs_reference(t) else self.convert_tokens_to_ids(self._slow().tokenize(t))
        return out

    def tokenize_with_offsets_batch(self, texts: Sequence[str]) -> List[List[tuple]]:
        """Per text, (token, start, end) with character spans in the text (for QA)."""
        out = []
        fast = [i for i, t in enumerate(texts) if self._is_plain(t)]
        encodings = dict(zip(fast, self._fast.encode_batch([texts[i] for i in fast], add_special_tokens=False)))
        for i, text in enumerate(texts):
            if i in encodings:
                e = encodings[i]
                out.append([(tok, s, t) for tok, (s, t) in zip(e.tokens, e.offsets)])
            else:  # rare texts (see _category_changed, _deleted_up_front): the reference implementation
                out.append(ref.tokenize_with_offsets(text, self.vocab, self.do_lower_case, self.tokenize_chinese_chars,
                                                    strip_accents=self.strip_accents))
        return out

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> List[int]:
        """The vocabulary ids of ``tokens``."""
        return list(map(self.vocab.__getitem__, tokens))

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> List[str]:
        """The tokens of vocabulary ``ids``."""
        return [self.inv_vocab[int(i)] for i in ids]

    @property
    def vocab_size(self) -> int:
        """The number of tokens in the vocabulary."""
        return len(self.vocab)

    def special_id(self, token: str) -> int:
        """The id of a special token ("[CLS]", "[SEP]", "[PAD]", ...)."""
        return self.vocab[token]


class SentencePieceTokenizer:
    """A SentencePiece vocabulary (``*.model``) behind the same interface as FullTokenizer.

    ``space_token``: replace spaces in the input by this token before encoding (as
    thai2transformers' ``--space_token``); ``do_lower_case``: lowercase the input first.
    """

    def __init__(self, model_file: str, do_lower_case: bool = False, space_token: Optional[str] = None,
                 cls_token: str = "[CLS]", sep_token: str = "[SEP]", unk_token: str = "[UNK]", pad_token: str = "[PAD]"):
        import sentencepiece as spm

        if not os.path.isfile(model_file):
            raise ConfigError(f"SentencePiece model not found: {model_file}")
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.Load(model_file)
        except Exception as e:
            raise ConfigError(f"{model_file}: not a SentencePiece model ({e}).") from None
        self.do_lower_case = do_lower_case
        self.space_token = space_token
        self.vocab = {self.sp.IdToPiece(i): i for i in range(self.sp.GetPieceSize())}
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        aliases = {"[CLS]": cls_token, "[SEP]": sep_token, "[UNK]": unk_token, "[PAD]": pad_token}
        self._specials = {}
        for name, token in aliases.items():
            if token in self.vocab:
                self._specials[name] = self.vocab[token]
            elif name == "[UNK]":
                self._specials[name] = self.sp.unk_id()
            elif name == "[PAD]":
                self._specials[name] = max(self.sp.pad_id(), 0)
            else:
                raise ConfigError(f"{model_file}: no {token} piece; pass the model's own cls/sep tokens.")

    def for_words(self, lowercase: bool) -> "SentencePieceTokenizer":
        """The tokenizer for words of tagging data: this one (pieces have no CJK splitting to
        turn off, and its lowercasing is set where it is built)."""
        return self

    def _prepare(self, text: str) -> str:
        if self.do_lower_case:
            text = text.lower()
        if self.space_token:
            text = text.replace(" ", self.space_token)
        return text

    def tokenize(self, text: str) -> List[str]:
        """The pieces of one text (after the optional lowercasing and space token)."""
        return self.sp.EncodeAsPieces(self._prepare(text))

    def tokenize_batch(self, texts: Sequence[str]) -> List[List[str]]:
        """``tokenize`` of each text."""
        return [self.tokenize(t) for t in texts]

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        """The piece ids of each text."""
        return [self.convert_tokens_to_ids(t) for t in self.tokenize_batch(texts)]

    def encode_batch_flat(self, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        """(all texts' ids end to end, each text's id count), as FullTokenizer.encode_batch_flat."""
        return flatten_ids(self.encode_batch(texts))

    def tokenize_with_offsets_batch(self, texts: Sequence[str]) -> List[List[tuple]]:
        """(piece, start, end) per text; spans are approximate when lowercasing changes lengths."""
        out = []
        for text in texts:
            proto = self.sp.EncodeAsImmutableProto(self._prepare(text))
            out.append([(p.piece, p.begin, p.end) for p in proto.pieces])
        return out

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> List[int]:
        """The ids of ``pieces``; the special-token names map to the model's own special pieces."""
        return [self.special_id(t) if t in self._specials else self.sp.PieceToId(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> List[str]:
        """The pieces of ``ids``."""
        return [self.inv_vocab[int(i)] for i in ids]

    @property
    def vocab_size(self) -> int:
        """The number of pieces of the model."""
        return self.sp.GetPieceSize()

    def special_id(self, token: str) -> int:
        """The id of a special token ("[CLS]", "[SEP]", "[UNK]", "[PAD]") in this model."""
        return self._specials[token]


def build_tokenizer(vocab_path: str, do_lower_case: bool = True, tokenize_chinese_chars: bool = True,
                    space_token: Optional[str] = None, strip_accents: Optional[bool] = None):
    """WordPiece for ``vocab.txt`` files, SentencePiece for ``*.model`` files (which have no CJK
    splitting or accent stripping to set)."""
    if vocab_path.endswith(".model"):
        return SentencePieceTokenizer(vocab_path, do_lower_case=do_lower_case, space_token=space_token)
    return FullTokenizer(vocab_path, do_lower_case=do_lower_case, tokenize_chinese_chars=tokenize_chinese_chars,
                         strip_accents=strip_accents)
