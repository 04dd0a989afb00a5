"""The in-graph serving tokenizer (core TensorFlow ops only) gives exactly the training
tokenizer's ids, and the reference tokenizer's character spans."""

import json
import os
import random

import pytest

from electra_tf.text.reference_tokenizer import basic_tokenize, load_vocab, tokenize_with_offsets
from electra_tf.text.tokenizer import FullTokenizer

tf = pytest.importorskip("tensorflow")
from electra_tf.text.graph_tokenizer import GraphTokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_VOCAB = os.path.join(ROOT, "examples", "data", "models", "electra-tiny", "vocab.txt")

SCRIPTS = {
    "chinese": "中文测试：北京是中国的首都。ELECTRA在CMRC 2018上的EM为63.4！“引号”、（括号）《书名》……——",
    "fullwidth": "ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３，（全角）！？；：",
    "japanese": "日本語のテキストです。カタカナとひらがな、漢字。ﾊﾝｶｸｶﾀｶﾅ",
    "korean": "한국어 문장입니다. 네이버 영화 리뷰 NSMC 데이터셋",
    "thai": "ภาษาไทยเป็นภาษาที่มีวรรณยุกต์ สวัสดีครับ",
    "vietnamese": "Tiếng Việt có dấu: Hà Nội, Đà Nẵng, thành phố Hồ Chí Minh",
    "arabic": "اللغة العربية جميلة، وهي لغة القرآن. مرحبا بالعالم!",
    "cyrillic": "Русский язык: Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "latin": "Café déjà vu: naïve façade, Ångström, İstanbul, Straße, ŒUVRE, ǅemal, ﬁne",
    "greek": "ΟΔΟΣ ΣΟΦΟΣ Σ σ ς AΣ.Σ Σ' ΑΣ̈ Ά ΐ",
    "emoji": "emoji 😀👍🏽👨‍👩‍👧 and math ∑∫ √2 ≈ 1.41 ♥️",
    "control": "tab\tnew\nline\r\x00null\ufffdrepl\u200bzwsp\u200dzwj\u00a0nbsp\u3000ideo\u202fnarrow\x85nel\u2028ls\x1fus",
    "indic": "हिन्दी भाषा \u1031 \ua82c x\U0001f203y ಕನ್ನಡ",
    "marks": "a\u0301\u0323b \U0001D16D\u0301\U0001D165 \u1D165x \u0345Σ q\u0308\u0331",
    "ascii": "Hello, World! Don't stop-believing... (a+b)*c=d; [x] {y} <z> @home #tag $5 %20 ^_^ `q` ~|",
}


def _texts(n=5000, seed=0):
    """``n`` texts mixing the scripts above, CMRC paragraphs, long words and odd characters."""
    with open(os.path.join(ROOT, "tests", "data", "cmrc2018_trial_sample.json"), encoding="utf-8") as f:
        data = json.load(f)
    cmrc = [p["context"] for a in data["data"] for p in a["paragraphs"]]
    cmrc += [q["question"] for a in data["data"] for p in a["paragraphs"] for q in p["qas"]]
    rng = random.Random(seed)
    pool = [w for s in SCRIPTS.values() for w in s.split(" ")] + [w for t in cmrc for w in t.split("，")]
    odd = ["\u200b", "\u200c", "\ufeff", "\x00", "\x07", "\ufffd", "\u00ad", "\u0301", "\u3000", "\u2029", "\U000E0001",
           "\U0010FFFD", "\uE000", "\u0378", "Σ", "İ", "ẞ", "ǈ", "\u1E9E", "\U0001F600"]
    texts = list(SCRIPTS.values()) + cmrc
    while len(texts) < n:
        k = rng.randint(1, 8)
        words = rng.sample(pool, k)
        if rng.random() < 0.3:
            words = [w.upper() if rng.random() < 0.5 else w for w in words]
        if rng.random() < 0.3:
            i = rng.randrange(len(words))
            pos = rng.randint(0, len(words[i]))
            words[i] = words[i][:pos] + rng.choice(odd) + words[i][pos:]
        if rng.random() < 0.05:
            words.append(rng.choice(["a", "é", "中文", "ab"]) * rng.randint(95, 110))  # near the 200-char limit
        if rng.random() < 0.1:
            chars = (rng.randint(0x20, 0x2FFFF) for _ in range(rng.randint(1, 6)))
            words.append("".join(chr(c) for c in chars if not 0xD800 <= c < 0xE000))  # no lone surrogates in UTF-8
        texts.append(rng.choice([" ", "", "  ", "\t", "，"]).join(words))
    return texts


def _vocab_file(texts, path, lower, seed=1):
    """A vocabulary from the texts' words: about half the words whole, the rest as pieces, so
    WordPiece splits, prefers longest matches and sometimes finds no match ([UNK])."""
    rng = random.Random(seed)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(tokens)

    def add(t):
        if t and t not in seen:
            seen.add(t)
            tokens.append(t)

    for text in texts:
        for word in basic_tokenize(text, do_lower_case=lower):
            r = rng.random()
            if r < 0.5:
                add(word)
            elif r < 0.9:
                add(word[:2])
                for i in range(2, len(word), 3):
                    add("##" + word[i:i + 3])
                    add("##" + word[i:i + 1])
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def texts():
    return _texts()


def _graph_ids(tokenizer, texts):
    ids, starts, ends = tf.function(tokenizer.tokenize, autograph=False)(tf.constant(texts))
    return ids.to_list(), starts.to_list(), ends.to_list()


@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_ids_equal_training_tokenizer(texts, tmp_path, lower):
    vocab_file = _vocab_file(texts, tmp_path / "vocab.txt", lower)
    expected = FullTokenizer(vocab_file, do_lower_case=lower).encode_batch(texts)
    got, starts, ends = _graph_ids(GraphTokenizer(load_vocab(vocab_file), lower), texts)
    wrong = [(t, g, e) for t, g, e in zip(texts, got, expected) if g != e]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts differ; first: {wrong[0]!r}"
    assert sum(map(len, got)) > 50_000
    unk = load_vocab(vocab_file)["[UNK]"]
    assert sum(ids.count(unk) for ids in got) > 100  # the vocabulary leaves words unmatched
    # Character spans: as the reference tokenizer's (a sample; it is slow).
    vocab = load_vocab(vocab_file)
    for text, s, e in list(zip(texts, starts, ends))[::25]:
        assert list(zip(s, e)) == [(a, b) for _, a, b in tokenize_with_offsets(text, vocab, lower)], repr(text)


@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_real_vocabulary_and_words_without_cjk_splitting(texts, lower):
    sample = texts[::10]
    expected = FullTokenizer(TINY_VOCAB, do_lower_case=lower).encode_batch(sample)
    got, _, _ = _graph_ids(GraphTokenizer(load_vocab(TINY_VOCAB), lower), sample)
    assert got == expected
    words = [w for t in sample[:200] for w in t.split()]  # the tagging tokenizer: one word at a time, no CJK split
    expected = FullTokenizer(TINY_VOCAB, lower).for_words(lower).encode_batch(words)
    got, _, _ = _graph_ids(GraphTokenizer(load_vocab(TINY_VOCAB), lower, tokenize_chinese_chars=False), words)
    assert got == expected


def test_full_width_punctuation_is_kept():
    """The reported bug: full-width '，' must not become ','."""
    vocab = load_vocab(TINY_VOCAB)
    got, _, _ = _graph_ids(GraphTokenizer(vocab, True), ["很好，不错"])
    assert got[0] == FullTokenizer(TINY_VOCAB).encode_batch(["很好，不错"])[0]
    assert vocab.get(",") not in got[0]
