"""Fast tokenizers that produce exactly the original FullTokenizer's output.

``FullTokenizer`` runs the original algorithm in Rust through the ``tokenizers`` library:
BERT text cleaning and CJK padding, then (when lowercasing) lowercase -> NFD -> drop
non-spacing marks (Mn only), in the original's order, BERT whitespace/punctuation splitting and greedy
WordPiece with the 200-character limit. One case differs in Rust: Python's ``str.lower`` turns
a word-final capital sigma into "ς", Rust lowercases character by character. Texts containing
"Σ" therefore go through the reference implementation, and so do the rare texts with characters
newer than the Rust Unicode tables (see ``_category_changed``): the output is always
the original's. Chunks (words, CJK characters) are cached (``_encode_cached``), so repeated
ones cost a dictionary look-up.

``SentencePieceTokenizer`` serves models whose vocabulary is a ``*.model`` file, with the
options peer tools offer (forced lowercasing, a custom space token).
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import sys
import unicodedata
from typing import Dict, List, Optional, Sequence

from electra_tf.errors import ConfigError
from electra_tf.text import reference_tokenizer as ref

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# One CJK character, or a run of characters that are neither whitespace nor CJK.
_CJK_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ref.CJK_RANGES)
_CJK_CHUNK = re.compile(f"[{_CJK_CLASS}]|[^\\s{_CJK_CLASS}]+")
_WHOLE, _SINGLE_CHARS, _WHITESPACE_WORDS, _CJK_AND_WORDS = range(4)  # see FullTokenizer._route
CHUNK_CACHE_SIZE = 500_000  # distinct chunks remembered per tokenizer (~100 MB at most)


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


class FullTokenizer:
    """The original ``FullTokenizer`` (WordPiece vocab.txt), fast.

    ``tokenize_chinese_chars=False`` gives the variant the original tagging code uses.
    """

    def __init__(self, vocab_file: str, do_lower_case: bool = True, tokenize_chinese_chars: bool = True):
        from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

        if not os.path.isfile(vocab_file):
            raise ConfigError(f"Vocabulary file not found: {vocab_file}")
        try:
            self.vocab: Dict[str, int] = ref.load_vocab(vocab_file)
        except UnicodeDecodeError:
            raise ConfigError(f"{vocab_file}: not UTF-8 text; a WordPiece vocabulary has one token per line.") from None
        for token in ("[UNK]", "[CLS]", "[SEP]"):
            if token not in self.vocab:
                raise ConfigError(f"{vocab_file}: the vocabulary has no {token} token; is this a BERT/ELECTRA vocab.txt?")
        self.vocab_file = vocab_file
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.tokenize_chinese_chars = tokenize_chinese_chars
        steps = [normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=tokenize_chinese_chars,
                                            strip_accents=False, lowercase=False)]
        if do_lower_case:
            # The original's order: lower(), then NFD, then drop category Mn.
            steps += [normalizers.Lowercase(), normalizers.NFD(),
                      normalizers.Replace(Regex(_nonspacing_mark_regex()), "")]
        tokenizer = Tokenizer(models.WordPiece(vocab=self.vocab, unk_token="[UNK]",
                                               max_input_chars_per_word=ref.MAX_CHARS_PER_WORD))
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self._fast = tokenizer
        self._reference = None
        self._plain_chars = set()
        self._kept_chars, self._deleted_chars, self._word_chars, self._isolated_chars = set(), set(), set(), set()
        self._single_ids: Dict[str, int] = {}
        self._chunk_cache: Dict[str, List[int]] = {}

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
        return self._reference

    def _learn_char(self, ch: str) -> None:
        """Sort a character never seen before into the sets ``_route`` consults."""
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or ref.is_control(ch):
            self._deleted_chars.add(ch)
            return
        self._kept_chars.add(ch)
        if ch.isspace():
            self._word_chars.add(ch)
            self._isolated_chars.add(ch)
            return
        cjk = self.tokenize_chinese_chars and ref.is_cjk(cp)
        if not cjk:
            self._word_chars.add(ch)
        # A CJK character is padded with spaces by the original, and a punctuation character
        # that lowercasing and NFD leave alone is split off on its own: either is tokenized
        # the same wherever it stands.
        stable = not self.do_lower_case or (ch.lower() == ch and unicodedata.normalize("NFD", ch) == ch)
        if cjk or (ref.is_punctuation(ch) and stable):
            (ids,) = self._encode_uncached([ch])
            if len(ids) == 1:
                self._single_ids[ch] = ids[0]
                self._isolated_chars.add(ch)

    def _route(self, text: str) -> int:
        """How ``text`` can be cut into independently tokenized chunks (see ``_encode_cached``).

        When the original's first step (``clean_text``) deletes no character, it only turns
        whitespace into spaces, and the later steps (CJK padding, whitespace split, then
        lowercasing, punctuation and WordPiece inside each piece) make every CJK character and
        every run of other non-space characters its own chunk. A deleted character could join
        two chunks, so such texts are tokenized whole.
        """
        chars = set(text)
        if not chars <= self._kept_chars:
            for ch in chars - self._kept_chars - self._deleted_chars:
                self._learn_char(ch)
            if not chars.isdisjoint(self._deleted_chars):
                return _WHOLE
        if chars <= self._isolated_chars:
            return _SINGLE_CHARS
        return _WHITESPACE_WORDS if chars <= self._word_chars else _CJK_AND_WORDS

    def _encode_cached(self, texts: Sequence[str]) -> List[List[int]]:
        """Token ids per text, each distinct chunk (word, CJK character) tokenized once.

        Natural text repeats its words and characters, so a corpus costs about one dictionary
        look-up per chunk after its first occurrence (Rust tokenizers spend ~30 us on every
        sentence here). Texts of single-token characters only (typical Chinese sentences) map
        character by character.
        """
        cache, single = self._chunk_cache, self._single_ids
        if len(cache) > CHUNK_CACHE_SIZE:
            cache.clear()
        routes = [self._route(t) for t in texts]
        chunked = [t.split() if r == _WHITESPACE_WORDS else _CJK_CHUNK.findall(t) if r == _CJK_AND_WORDS
                   else [t] if r == _WHOLE else () for t, r in zip(texts, routes)]
        missing = [c for c in dict.fromkeys(itertools.chain.from_iterable(chunked)) if c not in cache]
        cache.update(zip(missing, self._encode_uncached(missing)))
        get = cache.__getitem__
        return [list(map(single.__getitem__, "".join(t.split()))) if r == _SINGLE_CHARS
                else list(itertools.chain.from_iterable(map(get, chunks))) for t, r, chunks in zip(texts, routes, chunked)]

    def tokenize(self, text: str) -> List[str]:
        return self.tokenize_batch([text])[0]

    def tokenize_batch(self, texts: Sequence[str]) -> List[List[str]]:
        """Tokenize many texts at once: cached chunks, new ones in parallel in Rust."""
        inv = self.inv_vocab.__getitem__
        return [list(map(inv, ids)) for ids in self._encode_cached(texts)]

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        """Token ids of many texts (``convert_tokens_to_ids(tokenize(text))``, without the detour)."""
        return self._encode_cached(texts)

    def _encode_uncached(self, texts: Sequence[str]) -> List[List[int]]:
        plain = [self._is_plain(t) for t in texts]
        texts = [t if p else "".join(c for c in t if not _deleted_up_front(c)) for t, p in zip(texts, plain)]
        encodings = self._fast.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids if p or not self._needs_reference(t) else self.convert_tokens_to_ids(self._slow().tokenize(t))
                for t, p, e in zip(texts, plain, encodings)]

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
                out.append(ref.tokenize_with_offsets(text, self.vocab, self.do_lower_case, self.tokenize_chinese_chars))
        return out

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> List[int]:
        return list(map(self.vocab.__getitem__, tokens))

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> List[str]:
        return [self.inv_vocab[int(i)] for i in ids]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def special_id(self, token: str) -> int:
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

    def _prepare(self, text: str) -> str:
        if self.do_lower_case:
            text = text.lower()
        if self.space_token:
            text = text.replace(" ", self.space_token)
        return text

    def tokenize(self, text: str) -> List[str]:
        return self.sp.EncodeAsPieces(self._prepare(text))

    def tokenize_batch(self, texts: Sequence[str]) -> List[List[str]]:
        return [self.tokenize(t) for t in texts]

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        return [self.convert_tokens_to_ids(t) for t in self.tokenize_batch(texts)]

    def tokenize_with_offsets_batch(self, texts: Sequence[str]) -> List[List[tuple]]:
        """(piece, start, end) per text; spans are approximate when lowercasing changes lengths."""
        out = []
        for text in texts:
            proto = self.sp.EncodeAsImmutableProto(self._prepare(text))
            out.append([(p.piece, p.begin, p.end) for p in proto.pieces])
        return out

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> List[int]:
        return [self.special_id(t) if t in self._specials else self.sp.PieceToId(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> List[str]:
        return [self.inv_vocab[int(i)] for i in ids]

    @property
    def vocab_size(self) -> int:
        return self.sp.GetPieceSize()

    def special_id(self, token: str) -> int:
        return self._specials[token]


def build_tokenizer(vocab_path: str, do_lower_case: bool = True, tokenize_chinese_chars: bool = True,
                    space_token: Optional[str] = None):
    """WordPiece for ``vocab.txt`` files, SentencePiece for ``*.model`` files."""
    if vocab_path.endswith(".model"):
        return SentencePieceTokenizer(vocab_path, do_lower_case=do_lower_case, space_token=space_token)
    return FullTokenizer(vocab_path, do_lower_case=do_lower_case, tokenize_chinese_chars=tokenize_chinese_chars)
