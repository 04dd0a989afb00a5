"""The original BERT/ELECTRA FullTokenizer algorithm in plain Python.

This is the specification our fast tokenizer is tested against (and the baseline of the
feature-preparation benchmark). It follows ``model/tokenization.py`` of google-research/electra
step by step: clean the text, pad CJK characters with spaces, split on whitespace, lowercase
and strip accents (when ``do_lower_case``), split off punctuation, then greedy longest-match
WordPiece with ``[UNK]`` for words over 200 characters or with no match.
"""

from __future__ import annotations

import unicodedata
from typing import Dict, List, Optional

# CJK Unified Ideographs blocks the original pads with spaces (Hangul and kana are not among them).
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
MAX_CHARS_PER_WORD = 200


def load_vocab(path: str) -> Dict[str, int]:
    """One token per line, stripped; the id is the line number (a repeated token keeps the last)."""
    vocab: Dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for index, line in enumerate(f):
            vocab[line.strip()] = index
    return vocab


def is_whitespace(ch: str) -> bool:
    """The original's whitespace test: space, tab, newline, carriage return or category Zs."""
    return ch in (" ", "\t", "\n", "\r") or unicodedata.category(ch) == "Zs"


def is_control(ch: str) -> bool:
    """The original's control-character test: category C*, except tab, newline and carriage return."""
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch: str) -> bool:
    """The original's punctuation test: all non-alphanumeric printable ASCII, or category P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp: int) -> bool:
    """Whether code point ``cp`` is in the CJK ranges the original pads with spaces."""
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def clean_text(text: str) -> str:
    """The original's text cleaning: drop NUL, U+FFFD and control characters; whitespace becomes a space."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def pad_cjk(text: str) -> str:
    """Surround every CJK character by spaces, so each becomes its own word (as the original)."""
    return "".join(f" {ch} " if is_cjk(ord(ch)) else ch for ch in text)


def remove_accents(text: str) -> str:
    """NFD, then drop the non-spacing marks (category Mn), as the original's lowercasing path."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def split_punctuation(token: str) -> List[str]:
    """Split a word so each punctuation character is its own piece (the original's _run_split_on_punc)."""
    pieces: List[List[str]] = []
    start_new = True
    for ch in token:
        if is_punctuation(ch):
            pieces.append([ch])
            start_new = True
        else:
            if start_new:
                pieces.append([])
            start_new = False
            pieces[-1].append(ch)
    return ["".join(p) for p in pieces]


def _strips(do_lower_case: bool, strip_accents: Optional[bool]) -> bool:
    """Whether accents are stripped: the original ties it to lowercasing (``None``); HF's
    ``strip_accents`` setting may decide it either way."""
    return do_lower_case if strip_accents is None else bool(strip_accents)


def basic_tokenize(text: str, do_lower_case: bool = True, tokenize_chinese_chars: bool = True,
                   strip_accents: Optional[bool] = None) -> List[str]:
    """BasicTokenizer.tokenize: words and punctuation marks (accents stripped as ``_strips`` says)."""
    text = clean_text(text)
    if tokenize_chinese_chars:
        text = pad_cjk(text)
    strip = _strips(do_lower_case, strip_accents)
    words: List[str] = []
    for token in text.split():
        if do_lower_case:
            token = token.lower()
        if strip:
            token = remove_accents(token)
        words.extend(split_punctuation(token))
    return " ".join(words).split()


def wordpiece(word: str, vocab: Dict[str, int], unk_token: str = "[UNK]") -> List[str]:
    """Greedy longest-match-first WordPiece of one word."""
    if len(word) > MAX_CHARS_PER_WORD:
        return [unk_token]
    pieces: List[str] = []
    start = 0
    while start < len(word):
        end = len(word)
        match: Optional[str] = None
        while start < end:
            piece = word[start:end]
            if start > 0:
                piece = "##" + piece
            if piece in vocab:
                match = piece
                break
            end -= 1
        if match is None:
            return [unk_token]
        pieces.append(match)
        start = end
    return pieces


class ReferenceTokenizer:
    """FullTokenizer of the original code (pure Python, slow)."""

    def __init__(self, vocab_file: str, do_lower_case: bool = True, tokenize_chinese_chars: bool = True,
                 strip_accents: Optional[bool] = None):
        self.vocab = load_vocab(vocab_file)
        self.do_lower_case = do_lower_case
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents  # None: the original's rule (strip when lowercasing)

    def tokenize(self, text: str) -> List[str]:
        """WordPiece tokens of ``text``, computed as the original did."""
        out: List[str] = []
        for word in basic_tokenize(text, self.do_lower_case, self.tokenize_chinese_chars, self.strip_accents):
            out.extend(wordpiece(word, self.vocab))
        return out

    def convert_tokens_to_ids(self, tokens: List[str]) -> List[int]:
        """The vocabulary ids of ``tokens`` (a KeyError for an unknown token)."""
        return [self.vocab[t] for t in tokens]


def _normalize_with_origins(chars, do_lower_case, strip: bool):
    """Lowercase (``do_lower_case``), then NFD + drop Mn (``strip``) on (char, origin) pairs, each
    output char keeping its origin."""
    if do_lower_case:
        word = "".join(c for c, _ in chars)
        lowered = word.lower()
        if len(lowered) == len(word):  # the usual case; keeps str.lower's final-sigma rule
            pairs = list(zip(lowered, (o for _, o in chars)))
        else:
            pairs = [(lc, o) for c, o in chars for lc in c.lower()]
    else:
        pairs = list(chars)
    if not strip:
        return pairs
    out = []
    for c, o in pairs:
        for d in unicodedata.normalize("NFD", c):
            if unicodedata.category(d) != "Mn":
                out.append((d, o))
    return out


def tokenize_with_offsets(text: str, vocab: Dict[str, int], do_lower_case: bool = True,
                          tokenize_chinese_chars: bool = True, unk_token: str = "[UNK]",
                          strip_accents: Optional[bool] = None):
    """FullTokenizer tokens with (start, end) character spans in ``text``.

    The same tokens as ``ReferenceTokenizer.tokenize``; a word piece covers the characters it
    came from ("##" excluded); an [UNK] word covers the whole word.
    """
    chars = []
    for i, ch in enumerate(text):
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        if is_whitespace(ch):
            chars.append((" ", i))
        elif tokenize_chinese_chars and is_cjk(cp):
            chars.extend([(" ", None), (ch, i), (" ", None)])
        else:
            chars.append((ch, i))
    words, current = [], []
    for c, o in chars + [(" ", None)]:
        if c.isspace():
            if current:
                words.append(current)
                current = []
        else:
            current.append((c, o))
    strip = _strips(do_lower_case, strip_accents)
    out = []
    for word in words:
        normalized = _normalize_with_origins(word, do_lower_case, strip)
        pieces, piece = [], []
        for c, o in normalized:
            if is_punctuation(c):
                if piece:
                    pieces.append(piece)
                    piece = []
                pieces.append([(c, o)])
            else:
                piece.append((c, o))
        if piece:
            pieces.append(piece)
        for piece in pieces:
            string_ = "".join(c for c, _ in piece)
            origins = [o for _, o in piece]
            tokens = wordpiece(string_, vocab, unk_token)
            if tokens == [unk_token]:
                out.append((unk_token, min(origins), max(origins) + 1))
                continue
            pos = 0
            for token in tokens:
                length = len(token) - (2 if token.startswith("##") and pos > 0 else 0)
                span = origins[pos:pos + length]
                out.append((token, min(span), max(span) + 1))
                pos += length
    return out
