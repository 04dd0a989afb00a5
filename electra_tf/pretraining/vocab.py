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

Where they write (electra_tf/utils/output_targets.py): never inside the corpus folder (a corpus file
would be overwritten, and a new file there would be read as corpus text by the dataset builder);
a symlink's target is written. A WordPiece vocabulary may go to ``-`` (stdout), ``/dev/null`` or
a FIFO; a SentencePiece model (two files) needs a file path.

Size. The original ELECTRA has no vocabulary builder (it ships Google's BERT vocabulary), so the
size rules are those of HuggingFace ``tokenizers``' WordPiece trainer: every character of the
corpus is kept (the alphabet), even when that exceeds ``vocab_size``; a small corpus gives fewer
tokens. ``size_note`` says which happened and what to change.

CJK continuation pieces (``cjk_continuations``, on by default; ``--no-cjk-continuations`` turns it
off). The trainer sees text with CJK characters split apart (BertPreTokenizer), so it never makes a
``##X`` piece for a CJK character X. The original's tagging code tokenizes each word WITHOUT CJK
splitting, and finds 单 ##程 for the word 单程 only because Google's/HFL's Chinese vocabulary holds
``##X`` for its CJK characters. So for every CJK character X of the vocabulary (the ranges of
``reference_tokenizer.CJK_RANGES``, those the tokenizer pads) ``##X`` is added, after the trained
pieces. They are reserved from the budget: the last-learned multi-character pieces make room for
them, so a corpus large enough still gives exactly ``vocab_size`` tokens; only when the alphabet
alone fills the budget do they come on top of it, like the alphabet (``size_note`` counts them). A
corpus without CJK characters gets the trainer's vocabulary unchanged.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Iterator, List, Optional

from electra_tf.errors import ConfigError
from electra_tf.pretraining.corpus import iter_corpus_lines, list_corpus_files
from electra_tf.pretraining.tokenization import original_normalizer
from electra_tf.text.reference_tokenizer import is_cjk

logger = logging.getLogger("electra_tf")

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")  # ids 0-4 in a new vocabulary


def _loadable(token: str) -> bool:
    """True when the token survives the vocab.txt round trip (one per line, lines stripped)."""
    return bool(token) and token == token.strip() and "\n" not in token and "\r" not in token


def vocab_target(corpus_dir: str, path: str, flag: str = "--vocab-file", stdout_ok: bool = True):
    """The checked output target of a vocabulary built from ``corpus_dir``: never a corpus
    file, nor any path inside the corpus folder (rules: electra_tf/utils/output_targets.py)."""
    from electra_tf.utils.output_targets import folder_inputs, is_within, output_file

    inputs = [("the --corpus-dir folder", corpus_dir)] + folder_inputs(corpus_dir, "a file of the --corpus-dir")
    target = output_file(path, inputs, flag=flag, stdout_ok=stdout_ok, what="a SentencePiece model (two files)")
    if target.is_file and os.path.isdir(corpus_dir) and is_within(target.path, corpus_dir):
        raise ConfigError(f"{flag} {path} lies inside the --corpus-dir folder {corpus_dir}: the dataset builder would "
                          f"read it as corpus text. Write it outside the corpus folder.")
    return target


def size_note(tokens: List[str], vocab_size: int, min_frequency: int) -> Optional[str]:
    """Why a WordPiece vocabulary holds more or fewer tokens than ``vocab_size`` (None when it
    holds exactly that many): the trainer keeps the whole alphabet (and the ``##`` forms of its CJK
    characters are added, ``with_cjk_continuations``); a small corpus has no more pieces seen
    ``min_frequency`` times."""
    if len(tokens) == vocab_size:
        return None
    pieces = tokens[len(SPECIAL_TOKENS):]
    characters = sum(1 for t in pieces if len(t) == 1)
    continued = sum(1 for t in pieces if len(t) == 3 and t.startswith("##"))
    cjk_forms = sum(1 for t in pieces if len(t) == 3 and t.startswith("##") and is_cjk(ord(t[2])))
    cjk = (f"; {cjk_forms:,} of the ##-forms are those of CJK characters, added for word-level tagging, "
           f"--no-cjk-continuations leaves them out") if cjk_forms else ""
    if len(tokens) > vocab_size:
        return (f"{len(tokens):,} tokens, not the {vocab_size:,} asked: the WordPiece trainer keeps every character of "
                f"the corpus ({characters:,} characters and {continued:,} ##-forms, besides the "
                f"{len(SPECIAL_TOKENS)} special tokens{cjk}), so the vocabulary cannot be smaller. Pass --limit-alphabet N "
                f"to keep only the N most frequent characters (the others become [UNK]).")
    return (f"{len(tokens):,} tokens, fewer than the {vocab_size:,} asked: the corpus has no more pieces seen at "
            f"least --min-frequency {min_frequency} times (lower it, or add text).")


def _body(token: str) -> str:
    return token[2:] if token.startswith("##") else token


def with_cjk_continuations(tokens: List[str], vocab_size: int) -> List[str]:
    """``tokens`` (special tokens first, then the trainer's pieces in the order learned) with ``##X``
    added for every single CJK character X that lacks it, after the trained pieces. Room is made by
    dropping the last-learned multi-character pieces, down to ``vocab_size`` tokens at most; when
    only characters are left to drop, the rest come on top (as the alphabet does). Tokens without
    CJK characters come back unchanged (the same list)."""
    present = set(tokens)
    missing = [f"##{t}" for t in tokens if len(t) == 1 and is_cjk(ord(t)) and f"##{t}" not in present]
    if not missing:
        return tokens
    kept = list(tokens)
    excess = len(kept) + len(missing) - vocab_size
    while excess > 0 and len(kept) > len(SPECIAL_TOKENS) and len(_body(kept[-1])) > 1:
        kept.pop()  # a merged piece: the trainer's order puts the last learned last
        excess -= 1
    return kept + missing


def _dropped(plain: List[str], tokens: List[str]) -> int:
    """How many of the trainer's tokens ``with_cjk_continuations`` left out (it only drops from the end)."""
    kept = 0
    while kept < min(len(plain), len(tokens)) and plain[kept] == tokens[kept]:
        kept += 1
    return len(plain) - kept


def train_wordpiece(corpus_dir: str, vocab_file: str, vocab_size: int = 30522, do_lower_case: bool = True,
                    strip_accents: bool = True, min_frequency: int = 2,
                    limit_alphabet: Optional[int] = None, cjk_continuations: bool = True) -> List[str]:
    """Train a WordPiece vocabulary on the files of ``corpus_dir`` and write ``vocab_file``.

    ``vocab_size`` counts the special tokens; a small corpus can give fewer tokens, a corpus
    with more characters than that more (``size_note``). ``vocab_file``: a path, or ``-``.
    ``limit_alphabet`` keeps only that many of the most frequent characters (None: all, so
    that no character of the corpus becomes ``[UNK]``). ``cjk_continuations``: also hold ``##X``
    for every CJK character X, within ``vocab_size`` (``with_cjk_continuations``; a change from the
    plain trainer output only for a corpus with CJK characters; False: the plain trainer output).
    Returns the tokens in id order.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ConfigError(f"--vocab-size {vocab_size} leaves no room for pieces after the {len(SPECIAL_TOKENS)} special tokens.")
    list_corpus_files(corpus_dir)  # a missing or empty folder fails here, with its message
    target = vocab_target(corpus_dir, vocab_file)
    tokens = _trained_tokens(corpus_dir, vocab_file, vocab_size, do_lower_case, strip_accents, min_frequency,
                             limit_alphabet)
    if cjk_continuations:
        plain = tokens
        tokens = with_cjk_continuations(plain, vocab_size)
        dropped = _dropped(plain, tokens)
        if dropped:
            learned = sum(1 for t in tokens[len(SPECIAL_TOKENS):] if len(_body(t)) > 1)
            logger.warning("%d ##-forms of CJK characters (for word-level tagging) took the place of the %d "
                           "last-learned pieces (%d learned pieces kept): a larger --vocab-size keeps them, "
                           "--no-cjk-continuations writes the plain trainer output.",
                           len(tokens) - len(plain) + dropped, dropped, learned)
    target.write_text("\n".join(tokens) + "\n")
    return tokens


def _trained_tokens(corpus_dir: str, vocab_file: str, vocab_size: int, do_lower_case: bool, strip_accents: bool,
                    min_frequency: int, limit_alphabet: Optional[int]) -> List[str]:
    """The plain WordPiece trainer output in id order (special tokens first), without the tokens
    the vocab.txt format cannot hold."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

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

    if model_file == "-":
        raise ConfigError("--vocab-file - (standard output) cannot hold a SentencePiece model (two files, .model and "
                          ".vocab); give a *.model path.")
    if not model_file.endswith(".model"):
        raise ConfigError(f"A SentencePiece model file name ends with .model: {model_file}")
    list_corpus_files(corpus_dir)
    model_target = vocab_target(corpus_dir, model_file, stdout_ok=False)
    pieces_target = vocab_target(corpus_dir, model_file[:-len(".model")] + ".vocab", flag="--vocab-file (its .vocab)",
                                 stdout_ok=False)
    folder = model_target.scratch_folder()
    if folder:
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
        model_target.install(prefix + ".model")
        pieces_target.install(prefix + ".vocab")
    return model_file
