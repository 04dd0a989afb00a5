"""build_vocab.py holds the ##-form of every CJK character, so the original's word-level tagging
(each word tokenized without CJK splitting) finds Chinese characters instead of [UNK]."""

import logging
import os

import pytest

from electra_tf.cli import build_vocab
from electra_tf.finetuning.tagging.preprocessor import word_tokenizer
from electra_tf.pretraining import vocab as vocab_lib
from electra_tf.text.reference_tokenizer import is_cjk
from electra_tf.text.tokenizer import FullTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAKESPEARE = os.path.join(ROOT, "examples", "pretraining_corpus", "shakespeare.txt")

WORDS = ["单程", "机票", "价格", "便宜", "服务", "很好", "酒店", "房间", "干净", "早餐", "hello", "world", "price", "room"]


def _corpus(folder, lines):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "a.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def chinese_corpus(tmp_path_factory):
    lines = []
    for i in range(120):  # each word many times, so English merges are learned too
        lines.append(" ".join(WORDS[(i + k) % len(WORDS)] for k in range(7)) + "。")
        if i % 20 == 19:
            lines.append("")  # a document break
    return _corpus(str(tmp_path_factory.mktemp("zh") / "corpus"), lines)


@pytest.fixture(scope="module")
def english_corpus(tmp_path_factory):
    with open(SHAKESPEARE, encoding="utf-8") as f:
        lines = f.read().splitlines()[:400]
    return _corpus(str(tmp_path_factory.mktemp("en") / "corpus"), lines)


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _cjk_characters(tokens):
    return [t for t in tokens if len(t) == 1 and is_cjk(ord(t))]


def _tag_words(vocab_file, words):
    return word_tokenizer(FullTokenizer(vocab_file, do_lower_case=True), True).tokenize_batch(words)


def test_a_chinese_vocabulary_holds_the_hash_form_of_each_cjk_character_and_tagging_finds_them(chinese_corpus, tmp_path):
    path = str(tmp_path / "vocab.txt")
    tokens = vocab_lib.train_wordpiece(chinese_corpus, path, vocab_size=200)
    with open(path, encoding="utf-8") as f:
        assert f.read().splitlines() == tokens
    characters = _cjk_characters(tokens)
    assert sorted(characters) == sorted({ch for w in WORDS for ch in w if is_cjk(ord(ch))})
    assert all(f"##{ch}" in tokens for ch in characters)
    assert len(set(tokens)) == len(tokens)
    tagged = _tag_words(path, ["单程", "机票价格", "便宜", "hello"])
    assert tagged[0] == ["单", "##程"]
    assert tagged[1] == ["机", "##票", "##价", "##格"]
    assert not any("[UNK]" in t for t in tagged), tagged


def test_the_flag_turns_it_off_and_then_tagging_loses_the_words(chinese_corpus, tmp_path, capsys):
    path = str(tmp_path / "vocab.txt")
    assert build_vocab.main(["--corpus-dir", chinese_corpus, "--vocab-file", path, "--vocab-size", "200",
                             "--no-cjk-continuations"]) == 0
    with open(path, encoding="utf-8") as f:
        tokens = f.read().splitlines()
    assert _cjk_characters(tokens)
    assert not [t for t in tokens if t.startswith("##") and is_cjk(ord(t[2]))]
    assert _tag_words(path, ["单程", "便宜"]) == [["[UNK]"], ["[UNK]"]]  # the failure the default avoids


def test_an_english_corpus_gives_the_plain_trainer_output_byte_for_byte(english_corpus, tmp_path, monkeypatch):
    # The trainer is not bit-for-bit repeatable, so one real trainer output is fed to both settings.
    plain = vocab_lib._trained_tokens(english_corpus, "-", 600, True, True, 2, None)
    assert len(plain) == 600 and not _cjk_characters(plain)
    assert vocab_lib.with_cjk_continuations(plain, 600) is plain
    monkeypatch.setattr(vocab_lib, "_trained_tokens", lambda *args: list(plain))
    written = {}
    for flag in (True, False):
        path = tmp_path / f"vocab-{flag}.txt"
        vocab_lib.train_wordpiece(english_corpus, str(path), vocab_size=600, cjk_continuations=flag)
        written[flag] = path.read_bytes()
    assert written[True] == written[False] == ("\n".join(plain) + "\n").encode("utf-8")


def test_the_hash_forms_take_the_place_of_the_last_learned_pieces_within_the_budget():
    special = list(vocab_lib.SPECIAL_TOKENS)
    trained = special + ["a", "b", "单", "程", "##b", "ab", "##ba", "abb", "abba"]  # the last two learned last
    out = vocab_lib.with_cjk_continuations(trained, vocab_size=len(trained))
    assert out == special + ["a", "b", "单", "程", "##b", "ab", "##ba", "##单", "##程"]
    # A budget the characters alone fill: every merge goes, no character does, the rest come on top.
    out = vocab_lib.with_cjk_continuations(trained, vocab_size=8)
    assert out == special + ["a", "b", "单", "程", "##b", "##单", "##程"]
    # Room to spare: nothing is dropped; a ##-form already there is not repeated.
    out = vocab_lib.with_cjk_continuations(trained + ["##程"], vocab_size=100)
    assert out == trained + ["##程", "##单"]


def test_the_size_note_counts_the_cjk_hash_forms_and_a_warning_the_pieces_they_displaced(chinese_corpus, tmp_path):
    # 60: room for some learned pieces, fewer than the CJK characters (20)
    plain = vocab_lib.train_wordpiece(chinese_corpus, str(tmp_path / "plain.txt"), vocab_size=60,
                                      cjk_continuations=False)
    learned = sum(1 for t in plain[len(vocab_lib.SPECIAL_TOKENS):] if len(t.lstrip("#")) > 1)
    assert len(plain) == 60 and 0 < learned < len(_cjk_characters(plain))
    messages = _Messages()
    logging.getLogger("electra_tf").addHandler(messages)  # whatever propagation a CLI test left set
    try:
        tokens = vocab_lib.train_wordpiece(chinese_corpus, str(tmp_path / "vocab.txt"), vocab_size=60)
    finally:
        logging.getLogger("electra_tf").removeHandler(messages)
    assert len(tokens) == len(plain) - learned + len(_cjk_characters(plain)) > 60
    assert not [t for t in tokens[len(vocab_lib.SPECIAL_TOKENS):] if len(t.lstrip("#")) > 1]
    assert f"took the place of the {learned} last-learned pieces (0 learned pieces kept)" in "\n".join(messages.lines)
    note = vocab_lib.size_note(tokens, 60, 2)
    assert f"{len(_cjk_characters(tokens))} of the ##-forms are those of CJK characters" in note
    assert "--no-cjk-continuations" in note
