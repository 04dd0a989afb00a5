"""One tag decoder: predict.py and the SavedModel's serve_words write the same tags (the data's
scheme, invalid predicted sequences repaired the same way), issue #24 item 10."""

import json
import random

import numpy as np
import pytest
import tensorflow as tf

import predict
import run_finetuning
from electra_tf.errors import ConfigError
from electra_tf.finetuning.tagging import schemes
from electra_tf.export.serving_decode import scheme_tags
from tests.conftest import TINY_MODEL, copy_tiny_model

TYPES = ("ORG", "PER", "B-X")  # a type that itself looks like a tag


def _labels(encoding):
    return sorted(["O"] + [f"{p}-{t}" for t in TYPES for p in encoding if p != "O"])


def _graph_tags(sentences, labels, settings):
    tables = schemes.output_tables(labels, settings)
    flat = [i for s in sentences for i in s]
    rows = [k for k, s in enumerate(sentences) for _ in s]
    got = scheme_tags(tf.constant(flat, tf.int32), tf.constant(rows, tf.int32), tables.prefix, tables.type_id,
                      tables.written).numpy()
    return [t.decode() for t in got]


@pytest.mark.parametrize("encoding", ["BIOES", "BIO"])
@pytest.mark.parametrize("scheme", schemes.SCHEMES)
def test_in_graph_decoder_equals_python_on_random_sequences(encoding, scheme):
    """Random label sequences (most of them invalid: I- after O, E- of another type, ...) give
    the same tags in the graph as output_tags, word for word, for every data scheme."""
    rng = random.Random(hash((encoding, scheme)) % 1000)
    labels = _labels(encoding)
    settings = {"scheme": scheme, "encoding": encoding}
    sentences = [[rng.randrange(len(labels)) for _ in range(rng.randrange(0, 10))] for _ in range(500)]
    want = [t for s in sentences for t in schemes.output_tags([labels[i] for i in s], settings)]
    assert _graph_tags(sentences, labels, settings) == want
    raw = [labels[i] for s in sentences for i in s]
    assert sum(a != b for a, b in zip(raw, want)) > len(raw) // 4  # the repairs and re-encodings were exercised


def test_known_repairs_in_the_suffix_scheme():
    labels = _labels("BIOES")
    settings = {"scheme": "suffix", "encoding": "BIOES"}
    cases = {
        ("S-ORG", "O"): ["ORG-B", "O"],
        ("I-ORG", "E-ORG"): ["ORG-B", "ORG-I"],  # no B-: the chunk starts at the I-
        ("B-ORG", "E-PER"): ["ORG-B", "PER-B"],  # a type change ends a chunk
        ("E-PER", "I-PER", "S-PER"): ["PER-B", "PER-B", "PER-B"],  # after E- an I- starts a new chunk
        ("B-B-X", "I-B-X", "O"): ["B-X-B", "B-X-I", "O"],
    }
    for tags, expected in cases.items():
        assert schemes.output_tags(tags, settings) == expected
        assert _graph_tags([[labels.index(t) for t in tags]], labels, settings) == expected


def test_tags_are_written_as_predicted_for_keep_and_token_level():
    assert schemes.output_tables(["NN", "VB"], {"encoding": "keep"}) is None
    assert schemes.output_tables(["B-X", "O"], {"encoding": "BIO", "token_level": True}) is None
    assert schemes.output_tags(["I-X", "O"], {}) == ["I-X", "O"]  # no settings: encoding "keep"


def test_a_label_without_a_known_prefix_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"'U-PER'.*prefix 'U'"):
        schemes.output_tables(["O", "U-PER"], {"scheme": "iob2", "encoding": "BIOES"})


# ---------------------------------------------------------------------------- a trained tagger, both ways
WORDS = ["acme", "corp", "bob", "smith", "went", "to", "the", "good", "movie", "was", "great"]


def _sentence(rng):
    out = []
    for _ in range(rng.randint(3, 8)):
        r = rng.random()
        if r < 0.25:
            out += [("acme", "ORG-B"), ("corp", "ORG-I")][: rng.randint(1, 2)]
        elif r < 0.45:
            out += [("bob", "PER-B"), ("smith", "PER-I")][: rng.randint(1, 2)]
        else:
            out.append((rng.choice(WORDS[4:]), "O"))
    return out


@pytest.fixture(scope="module")
def trained_tagger(tmp_path_factory):
    """A tiny tagger fine-tuned briefly on suffix-scheme data (trained on BIOES, as Naver NER):
    its model directory and SavedModel."""
    tmp = tmp_path_factory.mktemp("tagger")
    copy_tiny_model(tmp)
    rng = random.Random(3)
    folder = tmp / "finetuning_data" / "ner"
    folder.mkdir(parents=True)
    for split, n in (("train", 48), ("dev", 8)):
        (folder / f"{split}.txt").write_text("".join("".join(f"{w} {t}\n" for w, t in _sentence(rng)) + "\n"
                                                     for _ in range(n)))
    hparams = {"task_names": ["ner"], "task_config": {"ner": {"type": "tagging", "scheme": "suffix"}},
               "train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 12, "num_train_epochs": 1, "seed": 1,
               "learning_rate": 1e-3, "export_saved_model": True, "log_every_steps": 1000}
    assert run_finetuning.main(["--data-dir", str(tmp), "--model-name", TINY_MODEL, "--hparams", json.dumps(hparams)]) == 0
    trial = tmp / "models" / TINY_MODEL / "finetuning_models" / "ner_model_1"
    return tmp, trial / "model", trial / "saved_model"


def test_predict_and_serve_words_write_the_same_tags(trained_tagger):
    tmp, model_dir, saved_model = trained_tagger
    rng = random.Random(11)
    # long sentences (several windows at max_seq_length 12) and short ones, in- and out-of-vocabulary words
    sentences = [[rng.choice(WORDS + ["zebra"]) for _ in range(rng.randint(1, 25))] for _ in range(40)]
    (tmp / "in.txt").write_text("".join("".join(f"{w}\n" for w in s) + "\n" for s in sentences), encoding="utf-8")
    assert predict.main(["--model", str(model_dir), "--input", str(tmp / "in.txt"), "--output", str(tmp / "out.txt")]) == 0
    blocks = [b for b in (tmp / "out.txt").read_text(encoding="utf-8").split("\n\n") if b.strip()]
    predicted = [[line.split("\t") for line in b.splitlines()] for b in blocks]
    assert [[w for w, _, _ in s] for s in predicted] == sentences

    served = tf.saved_model.load(str(saved_model)).signatures["serve_words"](text=tf.constant([" ".join(s) for s in sentences]))
    tags = np.char.decode(served["tags"].numpy().astype(bytes), "utf-8").tolist()
    model_tags = np.char.decode(served["model_tags"].numpy().astype(bytes), "utf-8").tolist()
    probability = served["probability"].numpy()
    n_words = 0
    for i, sentence in enumerate(predicted):
        assert tags[i][:len(sentence)] == [t for _, t, _ in sentence]  # word for word
        np.testing.assert_allclose(probability[i][:len(sentence)], [float(p) for _, _, p in sentence], atol=1e-4)
        n_words += len(sentence)
    flat_tags = [t for i, s in enumerate(predicted) for t in tags[i][:len(s)]]
    flat_model = [t for i, s in enumerate(predicted) for t in model_tags[i][:len(s)]]
    assert set(flat_tags) <= {"O", "ORG-B", "ORG-I", "PER-B", "PER-I"}  # the data's scheme
    assert set(flat_model) - {"O"} <= {f"{p}-{t}" for p in "BIES" for t in ("ORG", "PER")}  # the training encoding
    assert set(flat_model) - {"O"}, "the tagger predicts no entity: nothing was converted"
    # what the issue measured: as strings, the training encoding matches the written tags far less often
    assert sum(a == b for a, b in zip(flat_tags, flat_model)) < n_words
    invalid = [i for i, s in enumerate(predicted)
               if set(schemes.strict_spans(model_tags[i][:len(s)], "bioes")) != set(schemes.spans(model_tags[i][:len(s)]))]
    assert invalid, "no invalid predicted sequence: the repairs were not exercised"


def test_predict_and_serve_words_give_the_same_entities(trained_tagger):
    """Entity spans (issue #28): predict.py's JSON records and serve_words' entity outputs are
    equal, their offsets slice the input line (mixed scripts, full-width characters, several
    spaces and tabs; a byte-order mark dropped as predict.py drops it) to the entity's text."""
    tmp, model_dir, saved_model = trained_tagger
    rng = random.Random(12)
    odd = ["ＡＣＭＥ", "삼성", "北京", "Zürich", "smith,"]
    spaces = [" ", "  ", "\t", "\u3000", " \t "]
    lines = []
    for _ in range(30):
        words = [w for _ in range(rng.randint(1, 10))
                 for w in rng.choice([["acme", "corp"], ["bob", "smith"], [rng.choice(WORDS + odd)]] + [[w] for w in odd])]
        lines.append(rng.choice(["", "  "]) + "".join(w + rng.choice(spaces) for w in words[:-1]) + words[-1])
    (tmp / "lines.txt").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    assert predict.main(["--model", str(model_dir), "--input", str(tmp / "lines.txt"), "--input-format", "lines",
                         "--output", str(tmp / "lines.jsonl")]) == 0
    records = [json.loads(r) for r in (tmp / "lines.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == lines and [r["words"] for r in records] == [l.split() for l in lines]
    served = tf.saved_model.load(str(saved_model)).signatures["serve_words"](text=tf.constant(lines))
    decode = lambda key: np.char.decode(served[key].numpy().astype(bytes), "utf-8").tolist()  # noqa: E731
    types, texts = decode("entity_types"), decode("entity_texts")
    starts, ends, counts = served["entity_starts"].numpy(), served["entity_ends"].numpy(), served["n_entities"].numpy()
    n = 0
    for i, (line, record) in enumerate(zip(lines, records)):
        got = [{"type": types[i][k], "start": int(starts[i][k]), "end": int(ends[i][k]), "text": texts[i][k]}
               for k in range(counts[i])]
        assert got == record["entities"]
        assert all(line[e["start"]:e["end"]] == e["text"] for e in got)
        assert all(e["type"] in ("ORG", "PER") for e in got)
        n += len(got)
    assert n >= 10, "the tagger predicts too few entities to compare"
    before = [r["text"][:e["start"]] for r in records for e in r["entities"]]  # the line before each entity
    assert any(any(ord(c) > 127 for c in b) and ("  " in b or "\t" in b) for b in before), \
        "no entity after non-ASCII characters and runs of spaces: the code-point offsets were not exercised"
    # CoNLL-style input: offsets into the words joined by single spaces, which the record's text holds
    (tmp / "conll.txt").write_text("".join("".join(f"{w} X\n" for w in l.split()) + "\n" for l in lines[:5]))
    assert predict.main(["--model", str(model_dir), "--input", str(tmp / "conll.txt"), "--output",
                         str(tmp / "conll.json")]) == 0
    conll = json.loads((tmp / "conll.json").read_text(encoding="utf-8"))
    for record, line_record in zip(conll, records):
        assert record["text"] == " ".join(record["words"])
        assert [e["type"] for e in record["entities"]] == [e["type"] for e in line_record["entities"]]
        assert all(record["text"][e["start"]:e["end"]] == e["text"] for e in record["entities"])
    # empty and whitespace-only sentences have no entities; invalid UTF-8 does not break the offsets
    # (each invalid sequence is one U+FFFD, as Python's errors="replace" decodes it)
    odd_batch = [b"", " \t\u3000".encode(), b"\xff bob smith \xe4\xb8 acme corp " * 3]
    served = tf.saved_model.load(str(saved_model)).signatures["serve_words"](text=tf.constant(odd_batch))
    assert served["n_entities"].numpy().tolist()[:2] == [0, 0] and served["n_words"].numpy().tolist()[:2] == [0, 0]
    decoded = odd_batch[2].decode("utf-8", errors="replace")
    assert served["n_words"].numpy()[2] == len(decoded.split()) and served["n_entities"].numpy()[2] > 0
    for k in range(served["n_entities"].numpy()[2]):
        start, end = int(served["entity_starts"].numpy()[2][k]), int(served["entity_ends"].numpy()[2][k])
        assert decoded[start:end] == served["entity_texts"].numpy()[2][k].decode("utf-8", errors="replace")
        assert decoded[start:end] and decoded[start:end].strip() == decoded[start:end]
