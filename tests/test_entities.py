"""Entity spans (issue #28): character offsets into the input line for every tagging scheme, the
same repairs as the written tags, and the in-graph twin (serve_words) equal to the Python
definition. predict.py == serve_words on a trained tagger is in tests/test_tag_decoding.py (it
shares that module's trained tagger)."""

import random
import zlib

import pytest
import tensorflow as tf

from electra_tf.export.serving_decode import entity_spans
from electra_tf.export.serving_inputs import split_words
from electra_tf.finetuning.tagging import schemes
from electra_tf.finetuning.tagging.entities import entities, entity_tables, joined_text, word_offsets
from electra_tf.text.graph_tokenizer import GraphTokenizer
from tests.test_tag_decoding import TYPES, _labels

# Real-looking words: Latin, Korean, Chinese, full-width Latin and digits, accents, punctuation glued on,
# and characters outside the BMP (one code point each, as Python counts, two UTF-16 units).
WORDS = ["Samsung", "Electronics", "삼성전자는", "서울에서", "北京大学", "的", "ＡＣＭＥ", "Ｃｏｒｐ．", "１２３", "Zürich",
         "São", "Paulo,", "Łódź", "(IBM)", "İstanbul", "ΣΟΦΙΑ", "東京都", "갔다.", "x",
         "Cafe\u0301", "zero\u200bwidth", "\U0001d400\U0001d401", "😀ok", "\x00ctl"]  # combining, astral, control
# Python whitespace of several kinds: multiple spaces, tabs, the ideographic and no-break spaces, \x1c, \u2028
SPACES = [" ", "  ", "\t", " \t ", "\u3000", "\u00a0", "\x1c", "\u2028", "   "]


def _line(rng, n_words):
    words = [rng.choice(WORDS) for _ in range(n_words)]
    lead, trail = rng.choice(["", " ", "\u3000 "]), rng.choice(["", "  ", "\t"])
    return lead + "".join(w + (rng.choice(SPACES) if i < n_words - 1 else "") for i, w in enumerate(words)) + trail


def test_word_offsets_are_str_split_and_slice_the_line():
    rng = random.Random(5)
    lines = [_line(rng, rng.randint(0, 12)) for _ in range(300)] + ["", "   ", "\ufeffBOM kept  inside", "a\u200bb c"]
    for line in lines:
        words, starts = word_offsets(line)
        assert words == line.split()
        assert [line[s:s + len(w)] for w, s in zip(words, starts)] == words
    text, starts = joined_text(["삼성", "ＡＣＭＥ", "x"])
    assert (text, starts) == ("삼성 ＡＣＭＥ x", [0, 3, 8])


def test_entities_of_a_mixed_script_line():
    line = "삼성전자는  서울에서\tＡＣＭＥ\u3000Ｃｏｒｐ． 北京大学 São  Paulo,"
    words, starts = word_offsets(line)
    tags = ["S-ORG", "O", "B-ORG", "E-ORG", "I-LOC", "B-LOC", "E-LOC"]  # I- without B- starts a chunk
    assert entities(line, words, starts, tags) == [
        {"type": "ORG", "start": 0, "end": 5, "text": "삼성전자는"},
        {"type": "ORG", "start": 12, "end": 22, "text": "ＡＣＭＥ\u3000Ｃｏｒｐ．"},
        {"type": "LOC", "start": 23, "end": 27, "text": "北京大学"},
        {"type": "LOC", "start": 28, "end": 39, "text": "São  Paulo,"},
    ]
    # the suffix scheme and IOB1 read the same way (B- after I- of one type: a new entity)
    assert [e["text"] for e in entities(line, words, starts, ["ORG-B", "O", "ORG-B", "ORG-I", "LOC-I", "LOC-B", "LOC-I"])] \
        == ["삼성전자는", "ＡＣＭＥ\u3000Ｃｏｒｐ．", "北京大学", "São  Paulo,"]
    assert [e["text"] for e in entities(line, words, starts, ["I-ORG", "O", "I-ORG", "I-ORG", "I-LOC", "B-LOC", "I-LOC"])] \
        == ["삼성전자는", "ＡＣＭＥ\u3000Ｃｏｒｐ．", "北京大学", "São  Paulo,"]


@pytest.mark.parametrize("encoding", ["BIOES", "BIO"])
@pytest.mark.parametrize("scheme", schemes.SCHEMES)
def test_entities_are_the_chunks_the_written_tags_spell(encoding, scheme):
    """For every scheme, on random (mostly invalid) predicted sequences: each entity's offsets
    slice the line to its text, and the entities are the chunks of the tags written in the data's
    scheme (output_tags); in the io scheme adjacent entities of one type, which IO tags cannot
    separate, are the written chunk split."""
    rng = random.Random(zlib.crc32(f"{encoding}{scheme}".encode()))
    labels = [l for l in _labels(encoding) if "B-X" not in l[1:]]  # types that do not look like tags
    settings = {"scheme": scheme, "encoding": encoding}
    n_entities = 0
    for _ in range(300):
        line = _line(rng, rng.randint(1, 10))
        words, starts = word_offsets(line)
        predicted = [rng.choice(labels) for _ in words]
        found = entities(line, words, starts, predicted)
        written = entities(line, words, starts, schemes.output_tags(predicted, settings))
        for e in found:
            assert line[e["start"]:e["end"]] == e["text"] and e["text"] and e["text"] == e["text"].strip()
        if scheme == "io":
            merged = []
            for e in found:  # adjacent words (no other word between) of one type merge
                if merged and merged[-1]["type"] == e["type"] and not line[merged[-1]["end"]:e["start"]].strip():
                    merged[-1] = {**merged[-1], "end": e["end"], "text": line[merged[-1]["start"]:e["end"]]}
                else:
                    merged.append(dict(e))
            assert written == merged
        else:
            assert written == found
        n_entities += len(found)
    assert n_entities > 300


def test_entity_tables_of_taggers_without_entities():
    assert entity_tables(["NN", "VB"], {"token_level": True, "encoding": "keep"}) is None  # POS tagging
    assert entity_tables(["O", "U-PER", "L-PER"], {"encoding": "keep"}) is None  # not a conlleval prefix
    t = entity_tables(["B-PER", "I-PER", "O", "PER-B"], {"encoding": "keep", "scheme": "suffix"})
    assert (t.prefix, t.type_id, t.types) == ([1, 2, 0, 1], [0, 0, 1, 0], ["PER", ""])


@pytest.fixture(scope="module")
def word_splitter():
    return GraphTokenizer({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3})


@pytest.mark.parametrize("encoding", ["BIOES", "BIO", "keep"])
def test_in_graph_entities_equal_python_word_for_word(word_splitter, encoding):
    """split_words' offsets + entity_spans == word_offsets + entities on random lines and random
    (mostly invalid) label sequences, every scheme's labels, offsets as Python str indices."""
    rng = random.Random(zlib.crc32(encoding.encode()))
    if encoding == "keep":  # the data's own tags kept: IOB1/IOB2 prefixes, suffix tags, bare IO types
        labels = ["O", "B-ORG", "I-ORG", "ORG-B", "ORG-I", "PER", "B-B-X", "I-B-X"]
    else:
        labels = _labels(encoding)
    table = entity_tables(labels, {"encoding": encoding, "scheme": "iob2"})
    lines = [_line(rng, rng.randint(0, 9)) for _ in range(400)]
    words, rows, per_sentence, starts, ends = split_words(word_splitter, tf.constant(lines))
    tag_ids = [rng.randrange(len(labels)) for _ in range(int(tf.size(rows)))]
    sentence, first, last, type_id = (t.numpy().tolist() for t in entity_spans(tf.constant(tag_ids, tf.int32), rows,
                                                                               table.prefix, table.type_id))
    starts, ends = starts.numpy().tolist(), ends.numpy().tolist()
    got = [[] for _ in lines]
    for s, f, l, t in zip(sentence, first, last, type_id):
        got[s].append({"type": table.types[t], "start": starts[f], "end": ends[l], "text": lines[s][starts[f]:ends[l]]})
    want, at = [], 0
    for line, n in zip(lines, per_sentence.numpy().tolist()):
        line_words, line_starts = word_offsets(line)
        assert len(line_words) == n
        want.append(entities(line, line_words, line_starts, [labels[i] for i in tag_ids[at:at + n]]))
        at += n
    assert got == want
    assert sum(map(len, want)) > 400
    assert [w.decode() for w in words.numpy()] == [w for line in lines for w in line.split()]


def test_no_words_no_entities(word_splitter):
    table = entity_tables(["O", "B-X"], {"encoding": "BIO"})
    _, rows, per_sentence, starts, _ = split_words(word_splitter, tf.constant(["", " \t"]))
    sentence, first, _, _ = entity_spans(tf.zeros([0], tf.int32), rows, table.prefix, table.type_id)
    assert per_sentence.numpy().tolist() == [0, 0] and sentence.shape == (0,) and first.shape == (0,)
