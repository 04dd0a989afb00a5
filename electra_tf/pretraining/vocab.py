"""Train a vocabulary for pre-training from a corpus folder (the builder's input format).

WordPiece (``train_wordpiece``): ``tokenizers``' WordPiece trainer on the text the dataset builder
will tokenize: the same normalization (``original_normalizer``: cleaning, CJK padding,
lower-casing and Mn-only accent stripping by the same flags) and BERT pre-tokenization
(whitespace, then punctuation). The result is written in the original ``vocab.txt`` layout:
one token per line, id = line number, word-internal pieces prefixed with ``##``.

Layout of the special tokens. Google's English BERT/ELECTRA vocabulary has ``[PAD]`` = 0,
``[unused0..98]`` = 1-99, ``[UNK]`` = 100, ``[CLS]`` = 101, ``[SEP]`` = 102, ``[MASK]`` = 103, then
more ``[unused]`` slots and the pieces. Nothing in the original code or in ours depends on those
numbers: every special token is looked up by name, except padding, which is the literal id 0.
So a new vocabulary uses the compact layout ``[PAD]`` = 0, ``[UNK]`` = 1, ``[CLS]`` = 2,
``[SEP]`` = 3, ``[MASK]`` = 4 (``SPECIAL_TOKENS``), pieces from 5 on; ``[PAD]`` first keeps
id 0 the padding token, as the builder and the model assume.

SentencePiece (``train_sentencepiece``): a unigram model whose special pieces sit at the same
ids (``[PAD]`` 0, ``[UNK]`` 1 as the model's unknown piece, ``[CLS]``/``[SEP]``/``[MASK]`` 2-4 as
user-defined symbols), no BOS/EOS. ``do_lower_case`` lower-cases the training text, as
``SentencePieceTokenizer(do_lower_case=True)`` lower-cases at encoding time.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Iterator, List, Optional

from electra_tf.errors import ConfigError
from electra_tf.io_utils import atomic_write_text
from electra_tf.pretraining.corpus import iter_corpus_lines, list_corpus_files
from electra_tf.pretraining.tokenization import original_normalizer

logger = logging.getLogger("electra_tf")

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4 in a new vocabulary


def _loadable(token: str) -> bool:
    """True when the token survives the vocab.txt round trip (one per line, lines stripped)."""
    return bool(token) and token == token.strip() and "\n" not in token and "\r" not in token


def train_wordpiece(corpus_dir: str, vocab_file: str, vocab_size: int = 30522, do_lower_case: bool = True,
                    strip_accents: bool = True, min_frequency: int = 2,
                    limit_alphabet: Optional[int] = None) -> List[str]:
    """Train a WordPiece vocabulary on the files of ``corpus_dir`` and write ``vocab_file``.

    ``vocab_size`` counts the special tokens; a small corpus can give fewer tokens.
    ``limit_alphabet`` keeps only that many of the most frequent characters (None: all, so
    that no character of the corpus becomes ``[UNK]``). Returns the tokens in id order.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    if vocab_size <= len(SPECIAL_TOKENS):
        raise ConfigError(f"--vocab-size {vocab_size} leaves no room for pieces after the {len(SPECIAL_TOKENS)} special tokens.")
    list_corpus_files(corpus_dir)  # a missing or empty folder fails here, with its message
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = original_normalizer(do_lower_case, strip_accents)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    options = {} if limit_alphabet is None else {"limit_alphabet": limit_alphabet}
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                        special_tokens=list(SPECIAL_TOKENS), continuing_subword_prefix="##", **options)
    errors = []
    tokenizer.train_from_iterator(_recording_errors(iter_corpus_lines(corpus_dir), errors), trainer)
    if errors:
        raise errors[0]
    by_id = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    tokens = [t for t, _ in by_id if _loadable(t)]
    if len(tokens) < len(by_id):
        logger.warning("%d tokens with surrounding or line-breaking whitespace left out of %s (the vocab.txt format "
                       "strips lines).", len(by_id) - len(tokens), vocab_file)
    assert tuple(tokens[:len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS, tokens[:len(SPECIAL_TOKENS)]
    atomic_write_text(vocab_file, "\n".join(tokens) + "\n")
    return tokens


def _recording_errors(blocks: Iterator[List[str]], errors: list) -> Iterator[List[str]]:
    """Pass blocks through, keeping the first error for the caller: an exception raised inside a
    trainer's iterator comes back wrapped by the trainer."""
    try:
        yield from blocks
    except Exception as e:  # noqa: BLE001 - re-raised by the caller
        errors.append(e)


def _training_sentences(corpus_dir: str, do_lower_case: bool, errors: list) -> Iterator[str]:
    for block in _recording_errors(iter_corpus_lines(corpus_dir), errors):
        for line in block:
            line = line.strip()
            if line:
                yield line.lower() if do_lower_case else line


def train_sentencepiece(corpus_dir: str, model_file: str, vocab_size: int = 32000, do_lower_case: bool = True,
                        model_type: str = "unigram", character_coverage: float = 0.9995,
                        max_sentences: int = 10_000_000, seed: int = 12345) -> str:
    """Train a SentencePiece model on the files of ``corpus_dir``; writes ``model_file``
    (``*.model``) and the ``*.vocab`` beside it. ``max_sentences``: at most this many lines are
    sampled (SentencePiece holds its training sentences in memory). Returns ``model_file``."""
    import sentencepiece as spm

    if not model_file.endswith(".model"):
        raise ConfigError(f"A SentencePiece model file name ends with .model: {model_file}")
    list_corpus_files(corpus_dir)
    folder = os.path.dirname(os.path.abspath(model_file))
    os.makedirs(folder, exist_ok=True)
    errors: list = []
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        prefix = os.path.join(tmp, "spm")
        spm.set_random_generator_seed(seed)  # the sentence sampling, for repeatable models
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=_training_sentences(corpus_dir, do_lower_case, errors), model_prefix=prefix,
                vocab_size=vocab_size, model_type=model_type, character_coverage=character_coverage,
                pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece=SPECIAL_TOKENS[0], unk_piece=SPECIAL_TOKENS[1],
                user_defined_symbols=list(SPECIAL_TOKENS[2:]), input_sentence_size=max_sentences,
                shuffle_input_sentence=True, minloglevel=2)
        except RuntimeError as e:
            if errors:
                raise errors[0] from None
            raise ConfigError(f"SentencePiece training failed: {str(e).strip().splitlines()[-1]}") from None
        if errors:
            raise errors[0]
        os.replace(prefix + ".model", model_file)
        os.replace(prefix + ".vocab", model_file[:-len(".model")] + ".vocab")
    return model_file
