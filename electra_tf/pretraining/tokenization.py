"""The dataset builder's tokenizer: the original ``FullTokenizer(vocab, do_lower_case, strip_accents)``.

The original builder passes ``strip_accents`` (PR #88) to its tokenizer: when lower-casing, accents
are stripped (NFD, then category Mn dropped) unless ``--no-strip-accents``; without lower-casing
they never are, whatever the flag says. ``electra_tf.text.tokenizer.FullTokenizer`` is the
fast, tested equal, original tokenizer with accent stripping tied to lower-casing; the one
missing combination, lower-casing *without* stripping, is ``LowercasingFullTokenizer`` here.

A SentencePiece model (``*.model``) goes to ``SentencePieceTokenizer``, which maps the BERT
special tokens onto the model's pieces (``[UNK]`` onto the model's unknown piece). The original
only read WordPiece files: given a SentencePiece ``.vocab`` it failed with ``KeyError: '[UNK]'``
(google-research/electra#8); here such a file is refused with a message naming the ``.model``.
"""

from __future__ import annotations

import os
from typing import List

from electra_tf.errors import ConfigError
from electra_tf.text import reference_tokenizer as ref
from electra_tf.text.tokenizer import FullTokenizer, SentencePieceTokenizer
from electra_tf.text.tokenizer import _nonspacing_mark_regex as nonspacing_mark_regex  # the Mn class, shared

REQUIRED_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[MASK]")  # [MASK]: pre-training masks with it


def original_normalizer(do_lower_case: bool, strip_accents: bool = True):
    """A ``tokenizers`` normalizer doing the original BasicTokenizer's character work.

    Clean the text (drop NUL, U+FFFD and control characters, whitespace -> space), put spaces
    around CJK ideographs, then when ``do_lower_case``: lower-case and, if ``strip_accents``,
    NFD and drop category Mn only (``tokenizers``' own StripAccents drops every mark, Mc and Me
    too, which would delete Indic vowel signs). Used to train vocabularies with the same text
    the builder will see.
    """
    from tokenizers import Regex, normalizers

    steps = [normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                        lowercase=False)]
    if do_lower_case:
        steps.append(normalizers.Lowercase())
        if strip_accents:
            steps += [normalizers.NFD(), normalizers.Replace(Regex(nonspacing_mark_regex()), "")]
    return normalizers.Sequence(steps)


class ReferenceLowercasingTokenizer:
    """The original FullTokenizer with ``do_lower_case=True, strip_accents=False``, in plain Python:
    clean, pad CJK, split on whitespace, ``str.lower`` each word (no NFD, no accent stripping),
    split off punctuation, WordPiece. The specification ``LowercasingFullTokenizer`` follows."""

    def __init__(self, vocab):
        self.vocab = vocab

    def tokenize(self, text: str) -> List[str]:
        words = []
        for word in ref.pad_cjk(ref.clean_text(text)).split():
            words.extend(ref.split_punctuation(word.lower()))
        out: List[str] = []
        for word in " ".join(words).split():
            out.extend(ref.wordpiece(word, self.vocab))
        return out

    def convert_tokens_to_ids(self, tokens: List[str]) -> List[int]:
        return [self.vocab[t] for t in tokens]


class LowercasingFullTokenizer(FullTokenizer):
    """``FullTokenizer`` that lower-cases without stripping accents (``--no-strip-accents``).

    The fast paths of ``FullTokenizer`` stay: printable-ASCII words only need ``str.lower``;
    other text goes through the Rust pipeline with a normalizer that lower-cases and stops
    there; texts the Rust tables get wrong (final sigma, characters newer than its Unicode
    tables) go through ``ReferenceLowercasingTokenizer``. Encoding only: character offsets
    (``tokenize_with_offsets_batch``) are not provided.
    """

    def __init__(self, vocab_file: str, tokenize_chinese_chars: bool = True):
        if not tokenize_chinese_chars:
            raise ConfigError("LowercasingFullTokenizer always pads CJK characters, as the dataset builder does.")
        super().__init__(vocab_file, do_lower_case=True)
        self._fast.normalizer = original_normalizer(do_lower_case=True, strip_accents=False)

    def _slow(self):
        if self._reference is None:
            self._reference = ReferenceLowercasingTokenizer(self.vocab)
        return self._reference

    def tokenize_with_offsets_batch(self, texts):
        raise NotImplementedError("LowercasingFullTokenizer encodes only; offsets need accent stripping off and on alike.")


def _refuse_sentencepiece_vocab(vocab_file: str) -> None:
    """A SentencePiece ``.vocab`` (piece, tab, score) is not a WordPiece vocabulary (#8)."""
    try:
        with open(vocab_file, "rb") as f:
            first = f.readline()
    except OSError:
        return  # FullTokenizer reports a missing file
    if b"\t" in first:
        model = os.path.splitext(vocab_file)[0] + ".model"
        hint = f" Pass {model} instead." if os.path.isfile(model) else " Pass the SentencePiece .model file instead."
        raise ConfigError(f"{vocab_file} looks like a SentencePiece .vocab file (piece<TAB>score), not a WordPiece "
                          f"vocab.txt (the original failed on these with KeyError: '[UNK]', issue #8).{hint}")


def pretraining_tokenizer(vocab_file: str, do_lower_case: bool = True, strip_accents: bool = True):
    """The builder's tokenizer for a WordPiece ``vocab.txt`` or a SentencePiece ``*.model``.

    Checks up front that the tokens pre-training needs exist (the original raised ``KeyError``
    mid-run). SentencePiece: ``do_lower_case`` lower-cases the input as fine-tuning's
    ``build_tokenizer`` does; accent stripping belongs to the model's own normalization rules and
    ``strip_accents`` is ignored.
    """
    if not os.path.isfile(vocab_file):
        raise ConfigError(f"Vocabulary file not found: {vocab_file}")
    if vocab_file.endswith(".model"):
        tokenizer = SentencePieceTokenizer(vocab_file, do_lower_case=do_lower_case)
        if "[MASK]" not in tokenizer.vocab:
            raise ConfigError(f"{vocab_file}: the SentencePiece model has no [MASK] piece, which pre-training needs "
                              "(train it with build_vocab.py --type sentencepiece, or with user_defined_symbols "
                              "[CLS],[SEP],[MASK]).")
        return tokenizer
    _refuse_sentencepiece_vocab(vocab_file)
    if do_lower_case and not strip_accents:
        tokenizer = LowercasingFullTokenizer(vocab_file)
    else:
        tokenizer = FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    missing = [t for t in REQUIRED_TOKENS if t not in tokenizer.vocab]
    if missing:
        raise ConfigError(f"{vocab_file}: the vocabulary has no {', '.join(missing)} token; pre-training needs "
                          f"{', '.join(REQUIRED_TOKENS)} (and pads with id 0, by convention [PAD] on the first line).")
    return tokenizer
