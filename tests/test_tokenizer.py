"""The fast tokenizer produces exactly the original FullTokenizer's output."""

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from electra_tf.errors import ConfigError
from electra_tf.text.reference_tokenizer import ReferenceTokenizer, basic_tokenize
from electra_tf.text.tokenizer import FullTokenizer

SAMPLES = [
    "Hello, World! Don't stop-believing...",
    "Café déjà vu: naïve façade, Ångström, İstanbul",
    "中文测试：北京是中国的首都。ELECTRA在CMRC 2018上的EM为63.4！",
    "한국어 문장입니다. 네이버 영화 리뷰 NSMC",
    "ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３，（全角）",
    "tab\tnew\nline\r\x00null\ufffdrepl\u200bzwsp\u00a0nbsp\u3000ideo\u202fnarrow",
    "ΟΔΟΣ ΣΟΦΟΣ Σ σ ς",
    "emoji 😀👍🏽 and math ∑∫ √2 ≈ 1.41",
    "a" * 205 + " short",
    "unaffable runners jumped quickly ##hash [UNK] [CLS]",
    "ไทย ภาษา tiếng Việt có dấu",
    # Found by the property test: Mc vowel signs (kept by the original), a Unicode 13 mark,
    # an unassigned code point.
    "हिन्दी भाषा \u1031 \ua82c x\U0001f203y",
]


def _vocab_for(texts, path, extra=()):
    """A vocab with the specials, whole words and word pieces of the sample texts."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(tokens)
    for lower in (True, False):
        for text in texts:
            for word in basic_tokenize(text, do_lower_case=lower):
                cands = [word[:3], word, word[:1]] + [f"##{word[i:i + 2]}" for i in range(1, len(word), 2)]
                cands += [f"##{ch}" for ch in word[1:]]
                for c in cands:
                    if c not in seen:
                        seen.add(c)
                        tokens.append(c)
    for t in extra:
        if t not in seen:
            seen.add(t)
            tokens.append(t)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    return _vocab_for(SAMPLES, tmp_path_factory.mktemp("vocab") / "vocab.txt",
                      extra=["qu", "##ux", "##xq", "##x", "jump", "##ed"])


@pytest.mark.parametrize("do_lower_case", [True, False])
@pytest.mark.parametrize("chinese", [True, False])
def test_fast_equals_reference_on_mixed_scripts(vocab_file, do_lower_case, chinese):
    fast = FullTokenizer(vocab_file, do_lower_case, tokenize_chinese_chars=chinese)
    slow = ReferenceTokenizer(vocab_file, do_lower_case, tokenize_chinese_chars=chinese)
    for text in SAMPLES:
        assert fast.tokenize(text) == slow.tokenize(text), text
    assert fast.tokenize_batch(SAMPLES) == [slow.tokenize(t) for t in SAMPLES]


def test_known_words_are_not_unk_and_wordpiece_is_greedy(vocab_file):
    tok = FullTokenizer(vocab_file)
    assert tok.tokenize("quuxx") == ["qu", "##ux", "##x"]  # longest match first, not "##xq"
    assert tok.tokenize("a" * 201) == ["[UNK]"]  # over 200 characters -> one [UNK]
    assert tok.tokenize("中文") == ["中", "文"]
    ids = tok.convert_tokens_to_ids(tok.tokenize("jumped"))
    assert tok.vocab["[UNK]"] not in ids


def test_accents_kept_when_cased(vocab_file):
    assert FullTokenizer(vocab_file, do_lower_case=False).tokenize("Café")[0].startswith("Caf")
    assert basic_tokenize("Café", do_lower_case=True) == ["cafe"]


TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(string.printable)),
        st.sampled_from(list("中文测试北京。，！？、한국어ΣΟΔσςéèçñåİ０１ＡＢｆ－（）　\u00a0\u200b\u202f\u2028\ufffd\x00\x85")),
        st.characters(min_codepoint=0x20, max_codepoint=0x2FFFF),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, lower=st.booleans())
def test_fast_equals_reference_on_random_text(vocab_file, text, lower):
    fast = FullTokenizer(vocab_file, do_lower_case=lower) if lower else _CASED.setdefault(vocab_file, FullTokenizer(vocab_file, False))
    slow = ReferenceTokenizer(vocab_file, do_lower_case=lower)
    assert fast.tokenize(text) == slow.tokenize(text)


_CASED = {}


def test_vocab_without_unk_is_a_clear_error(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[CLS]\n[SEP]\nhello\n")
    with pytest.raises(ConfigError, match=r"vocab.txt: the vocabulary has no \[UNK\]"):
        FullTokenizer(str(path))
    with pytest.raises(ConfigError, match="not found"):
        FullTokenizer(str(tmp_path / "missing.txt"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, lower=st.booleans())
def test_offsets_fast_and_reference_agree_and_point_into_the_text(vocab_file, text, lower):
    from electra_tf.text.reference_tokenizer import tokenize_with_offsets

    fast = FullTokenizer(vocab_file, do_lower_case=lower)
    (got,) = fast.tokenize_with_offsets_batch([text])
    assert [t for t, _, _ in got] == fast.tokenize(text)
    want = tokenize_with_offsets(text, fast.vocab, lower)
    assert [t for t, _, _ in want] == [t for t, _, _ in got]
    for token, start, end in got:
        assert 0 <= start < end <= len(text)
    assert [(s, e) for _, s, e in want] == [(s, e) for _, s, e in got]


def test_offsets_of_chinese_and_wordpieces(vocab_file):
    tok = FullTokenizer(vocab_file)
    text = "中文　测试 quuxx!"
    (got,) = tok.tokenize_with_offsets_batch([text])
    assert [(t, text[s:e]) for t, s, e in got] == [("中", "中"), ("文", "文"), ("测", "测"), ("试", "试"),
                                                    ("qu", "qu"), ("##ux", "ux"), ("##x", "x"), ("!", "!")]


_SHARED = {}
WORDS = st.sampled_from(["Hello,", "ΟΔΟΣ", "σοφος", "中文测试", "quuxx!", "jumped", "Café", "a" * 201, "x\x00y", "p\x85q",
                         "\u2028", "\u3000", "\t", " ", "İstanbul", "😀", "##ux", "[UNK]", "北京，首都。", "!\u0301",
                         "\uf900豈", "（全角）", "¿«»", "Σ。", "中\x00文", "\u1031"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.lists(st.one_of(WORDS, TEXT), max_size=8).map(" ".join), min_size=1, max_size=6),
       lower=st.booleans())
def test_word_cache_keeps_batches_equal_to_reference(vocab_file, texts, lower):
    # One tokenizer per casing across all examples, so cached chunks from earlier batches are reused.
    fast = _SHARED.setdefault((vocab_file, lower), FullTokenizer(vocab_file, do_lower_case=lower))
    slow = ReferenceTokenizer(vocab_file, do_lower_case=lower)
    want = [slow.tokenize(t) for t in texts]
    assert fast.tokenize_batch(texts) == want
    assert fast.encode_batch(texts) == [slow.convert_tokens_to_ids(t) for t in want]


def test_each_kind_of_chunk_equals_reference(vocab_file):
    # One batch with every kind of piece encode_batch_flat distinguishes: CJK characters, lone
    # punctuation and punctuation in ASCII words looked up by code point, words from the chunk cache, a lone character of no
    # token (a combining accent), texts tokenized whole (a deleted character), empty and blank
    # texts, and words at the end of one text and the start of the next.
    fast = FullTokenizer(vocab_file)
    slow = ReferenceTokenizer(vocab_file)
    texts = ["北京是中国的首都。“北京”！", "quuxx! jumped, Café", "中文ELECTRA在CMRC 2018上", "x\x85y 中\x00文", "",
             "   ", "a \u0301 b", "jumped", "jumped", "Σ。 ΟΔΟΣ", "\ud800中",
             # punctuation split off only in runs of ASCII: a final sigma depends on what follows it
             "ΑΣ.Α ΑΣ, café, (naïve). e.g. x,y"]
    want = [slow.convert_tokens_to_ids(slow.tokenize(t)) for t in texts]
    for _ in range(2):  # cold, then cached
        ids, lengths = fast.encode_batch_flat(texts)
        assert ids.dtype == np.int32 and lengths.tolist() == [len(w) for w in want]
        assert ids.tolist() == [i for w in want for i in w]
    # A CJK character whose lone encoding is not one token is tokenized as a chunk of its own.
    fast._char_id[ord("中")] = -1
    assert fast.encode_batch(texts) == want


def test_encode_batch_flat_of_no_texts(vocab_file):
    ids, lengths = FullTokenizer(vocab_file).encode_batch_flat([])
    assert ids.shape == (0,) and lengths.shape == (0,)


ASCII_TEXT = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + "  \t", max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.one_of(ASCII_TEXT, st.sampled_from(["Jumped,", "(quuxx)", "don't", "QU-ux", "jump...ed"])),
                      min_size=1, max_size=6), lower=st.booleans())
def test_ascii_shortcuts_equal_reference(vocab_file, texts, lower):
    # Printable ASCII: punctuation is split off in runs of ASCII only, whole vocabulary words are
    # looked up, the rest go to WordPiece without normalizers.
    fast = _SHARED.setdefault(("ascii", vocab_file, lower), FullTokenizer(vocab_file, do_lower_case=lower))
    slow = ReferenceTokenizer(vocab_file, do_lower_case=lower)
    assert fast.encode_batch(texts) == [slow.convert_tokens_to_ids(slow.tokenize(t)) for t in texts]


def test_a_word_seen_as_a_piece_and_as_a_chunk_in_one_batch(vocab_file):
    # "00000" both after punctuation is split off and as a word of its own, in one batch and the
    # next (an earlier version stored it twice and its rows went out of step; the property test
    # above found it).
    fast, slow = FullTokenizer(vocab_file), ReferenceTokenizer(vocab_file)
    for texts in (["00000, 00000", "00000", "x 00000,"], ["jumped 00000 quuxx"], ["00000, 00000"]):
        assert fast.encode_batch(texts) == [slow.convert_tokens_to_ids(slow.tokenize(t)) for t in texts]


def test_chunk_store():
    from electra_tf.text.chunk_store import ChunkStore

    store = ChunkStore()
    store.add(["ab", "c"], [[5, 6], [7]])
    store.add(["", "ab"], [[], [5, 6]])  # an empty encoding, and a chunk stored again
    assert len(store) == 4
    assert store.find(["c", "zz", "ab", ""]).tolist() == [1, -1, 3, 2]
    ids, lengths = store.ids(store.find(["ab", "", "c", "ab"]))
    assert ids.tolist() == [5, 6, 7, 5, 6] and lengths.tolist() == [2, 0, 1, 2]
    assert store.lists(["c", "ab"]) == [[7], [5, 6]]
    store.add(["d"], [[9, 9, 9]])  # rows stay in step with the arrays after a chunk stored twice
    assert store.lists(["d", "ab", "c"]) == [[9, 9, 9], [5, 6], [7]]
    store.clear()
    assert len(store) == 0 and store.find(["ab"]).tolist() == [-1]


def test_chunk_store_grows_past_its_first_buffers():
    from electra_tf.text.chunk_store import ChunkStore

    store = ChunkStore()
    words = [f"w{i}" for i in range(3000)]
    for start in range(0, 3000, 700):  # several adds, each past the current capacity at some point
        store.add(words[start:start + 700], [[i, i + 1, i + 2] for i in range(start, min(start + 700, 3000))])
    assert len(store) == 3000
    assert store.lists(["w0", "w1500", "w2999"]) == [[0, 1, 2], [1500, 1501, 1502], [2999, 3000, 3001]]


def test_punctuation_is_split_off_only_in_ascii_runs(tmp_path):
    # Python lowercases "Σ" to "σ" when a cased letter follows, even across "." ("ΑΣ.Α" -> "ασ.α"),
    # and to a final "ς" otherwise: a run with non-ASCII characters must be tokenized whole.
    texts = ["ΑΣ.Α ΑΣ,Β", "x.y (Jumped), ok"]
    vocab = _vocab_for(texts, tmp_path / "vocab.txt")
    fast, slow = FullTokenizer(vocab), ReferenceTokenizer(vocab)
    want = [slow.tokenize(t) for t in texts]
    assert "ασ" in want[0]
    assert fast.tokenize_batch(texts) == want
