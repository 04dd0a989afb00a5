"""Token classification: schemes and metrics, CRF, readers, windows, end to end, learning."""

import itertools
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_random_tf1_model, copy_tiny_model

import run_finetuning
from electra_tf.errors import DataError
from electra_tf.finetuning.tagging import schemes
from electra_tf.modeling.crf import CRF, viterbi

TYPES = ["PER", "LOC"]


# ---------------------------------------------------------------------------- metrics
def _tag_strategy(prefixes):
    return st.lists(st.sampled_from(["O"] + [f"{p}-{t}" for p in prefixes for t in TYPES]), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(gold=st.lists(_tag_strategy("BI"), min_size=1, max_size=4), pred=st.lists(_tag_strategy("BI"), min_size=1, max_size=4))
def test_entity_f1_equals_seqeval_on_any_iob_sequences(gold, pred):
    from seqeval.metrics import f1_score, precision_score, recall_score

    n = min(len(gold), len(pred))
    gold, pred = gold[:n], pred[:n]
    pred = [p[: len(g)] + ["O"] * (len(g) - len(p)) for g, p in zip(gold, pred)]
    ours = schemes.prf([set(schemes.spans(g)) for g in gold], [set(schemes.spans(p)) for p in pred])
    assert ours["f1"] == pytest.approx(100 * f1_score(gold, pred, zero_division=0), abs=1e-9)
    assert ours["precision"] == pytest.approx(100 * precision_score(gold, pred, zero_division=0), abs=1e-9)
    assert ours["recall"] == pytest.approx(100 * recall_score(gold, pred, zero_division=0), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(gold=_tag_strategy("BIES"), pred=_tag_strategy("BIES"))
def test_spans_equal_seqeval_on_bioes(gold, pred):
    from seqeval.metrics.sequence_labeling import get_entities

    assert sorted(schemes.spans(gold)) == sorted((s, e, t) for t, s, e in [(t, s, e) for t, s, e in get_entities(gold)])


def test_strict_mode_matches_seqeval_strict():
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["I-PER", "I-PER", "O", "O"]]
    pred = [["B-PER", "I-PER", "O", "I-LOC"], ["I-PER", "I-PER", "O", "B-LOC"]]
    ours = schemes.prf([set(schemes.strict_spans(g, "iob2")) for g in gold], [set(schemes.strict_spans(p, "iob2")) for p in pred])
    assert ours["f1"] == pytest.approx(100 * f1_score(gold, pred, mode="strict", scheme=IOB2))


@settings(max_examples=200, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 9), st.integers(1, 3), st.sampled_from(TYPES)), max_size=4))
def test_original_span_f1_equals_ours_on_well_formed_bioes(spans):
    # Build a well-formed BIOES sequence from non-overlapping spans.
    length, used, chosen = 14, set(), []
    for start, width, t in spans:
        cells = set(range(start, start + width))
        if start + width <= length and not cells & used:
            used |= cells
            chosen.append((start, start + width - 1, t))
    tags = schemes.tags_from_spans(chosen, length, "BIOES")
    assert sorted(schemes.original_spans(tags)) == sorted(schemes.spans(tags)) == sorted(chosen)


def test_original_spans_differ_on_ill_formed_type_change():
    # The original continues a span through I-LOC after I-PER; conlleval starts a new one.
    tags = ["B-PER", "I-PER", "I-LOC"]
    assert schemes.original_spans(tags) == [(0, 2, "LOC")]
    assert schemes.spans(tags) == [(0, 1, "PER"), (2, 2, "LOC")]


def test_suffix_tags_and_conversion():
    assert schemes.to_prefix("PER-B") == "B-PER" and schemes.to_prefix("B-PER") == "B-PER"
    assert schemes.convert(["PER-B", "PER-I", "O", "LOC-B"], "BIOES") == ["B-PER", "E-PER", "O", "S-LOC"]
    assert schemes.convert(["I-PER", "I-PER", "B-PER", "O"], "BIO") == ["B-PER", "I-PER", "B-PER", "O"]  # IOB1 input


# ---------------------------------------------------------------------------- CRF
def _brute(emissions, trans, start, end):
    n, c = emissions.shape
    scores = {}
    for path in itertools.product(range(c), repeat=n):
        s = start[path[0]] + end[path[-1]] + sum(emissions[i, p] for i, p in enumerate(path))
        s += sum(trans[a, b] for a, b in zip(path, path[1:]))
        scores[path] = s
    return scores


def test_crf_nll_and_viterbi_equal_brute_force():
    rng = np.random.default_rng(0)
    C, T = 3, 5
    crf = CRF(C)
    crf.build()
    for v in (crf.transitions, crf.start, crf.end):
        v.assign(rng.normal(0, 1, v.shape).astype("float32"))
    emissions = rng.normal(0, 1, (2, T, C)).astype("float32")
    tags = rng.integers(0, C, (2, T))
    lengths = [5, 3]
    mask = np.array([[1.0] * n + [0.0] * (T - n) for n in lengths], np.float32)
    nll = np.asarray(crf.negative_log_likelihood(emissions, tags, mask))
    trans, start, end = (np.asarray(x, np.float64) for x in (crf.transitions, crf.start, crf.end))
    for b, n in enumerate(lengths):
        scores = _brute(emissions[b, :n].astype(np.float64), trans, start, end)
        log_z = np.log(np.sum(np.exp(list(scores.values()))))
        assert nll[b] == pytest.approx(log_z - scores[tuple(tags[b, :n])], rel=1e-5)
        best = max(scores, key=scores.get)
        assert tuple(viterbi(emissions[b, :n], trans, start, end)) == best
    # an empty (padding) row costs nothing
    assert float(np.asarray(crf.negative_log_likelihood(emissions[:1], tags[:1], np.zeros((1, T), np.float32)))[0]) == 0.0


def test_constrained_decoding_never_emits_forbidden_transitions():
    labels = ["B-PER", "E-PER", "I-PER", "O", "S-PER"]
    constraints = schemes.allowed_transitions(labels, "BIOES")
    crf = CRF(len(labels), constraints=constraints)
    crf.build()
    rng = np.random.default_rng(1)
    for _ in range(200):
        for v in (crf.transitions, crf.start, crf.end):
            v.assign(rng.normal(0, 3, v.shape).astype("float32"))
        emissions = rng.normal(0, 5, (rng.integers(1, 8), len(labels)))
        trans, start, end = (np.asarray(x) for x in crf.masked_params())
        path = [labels[i] for i in viterbi(emissions, trans, start, end)]
        assert path[0][0] in "BOS" and path[-1][0] in "EOS"
        for a, b in zip(path, path[1:]):
            if a[0] in "BI":
                assert b[0] in "IE", path
            else:
                assert b[0] in "BOS", path
    iob = schemes.allowed_transitions(["B-PER", "I-PER", "O"], "BIO")
    assert iob[2][2][1] is False and iob[0][1] is False  # I-PER after O, and starting with I-PER


# ---------------------------------------------------------------------------- readers and windows
MODEL = "electra-tiny"


@pytest.fixture()
def data_dir(tmp_path):
    copy_tiny_model(tmp_path)
    return tmp_path


def _task(data_dir, name, **hparams):
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.builtin_tasks import get_task
    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.text.tokenizer import FullTokenizer

    config = FinetuningConfig(MODEL, str(data_dir), task_names=[name], **hparams)
    return get_task(TaskOptions.from_config(config, name), name, FullTokenizer(config.vocab_file))


@pytest.mark.parametrize(
    "content,message",
    [
        ("good B-NP\nmovie\n", r"train.txt, line 2: expected a word and a tag column"),
        ("good B-NP\nmovie \t\n", r"train.txt, line 2: expected a word and a tag column"),
    ],
)
def test_conll_reader_malformed_lines(data_dir, content, message):
    folder = data_dir / "finetuning_data" / "chunk"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text(content)
    with pytest.raises(DataError, match=message):
        _task(data_dir, "chunk").get_examples("train")


def test_empty_tag_and_unknown_tag_in_dev(data_dir):
    folder = data_dir / "finetuning_data" / "mytags"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text("good\tB-PER\nmovie\tO\n")
    (folder / "dev.tsv").write_text("good\tB-PER\nfilm\tB-ORG\n")
    options = {"type": "tagging", "files": {"train": "train.tsv", "dev": "dev.tsv"}, "separator": "\t",
               "labels": ["O", "B-PER", "I-PER"]}
    task = _task(data_dir, "mytags", task_config={"mytags": options})
    assert len(task.get_examples("train")) == 1
    with pytest.raises(DataError, match=r"dev.tsv:1: tag 'B-ORG' is not in the label list"):
        task.get_examples("dev")
    (folder / "train.tsv").write_text("good\tB-PER\nmovie\t\n")
    with pytest.raises(DataError, match=r"train.tsv, line 2: empty tag"):
        task.get_examples("train")


def test_naver_reader_mismatch(data_dir):
    folder = data_dir / "finetuning_data" / "naver-ner"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text("비토리오 양일 만에\tPER-B DAT-B\n")
    with pytest.raises(DataError, match=r"train.tsv, line 1: 3 words but 2 tags"):
        _task(data_dir, "naver-ner").get_examples("train")


def test_long_sentences_are_windowed_so_every_word_is_predicted(data_dir):
    folder = data_dir / "finetuning_data" / "chunk"
    folder.mkdir(parents=True)
    words = ["good", "movie", "the", "acting", "was", "great"] * 12  # 72 words, more than 32 positions
    (folder / "train.txt").write_text("".join(f"{w} {'B-NP' if i % 3 == 0 else 'I-NP'}\n" for i, w in enumerate(words)))
    task = _task(data_dir, "chunk", max_seq_length=32)
    examples = task.get_examples("train")
    features = task.featurize(examples, is_training=False)
    assert len(features) > 2
    scored = sum(int(sum(f["chunk_score_mask"])) for f in features)
    assert scored == len(words)  # each word scored exactly once
    assert all(f["chunk_n_words"] == len(words) for f in features)
    original = _task(data_dir, "chunk", max_seq_length=32, task_config={"chunk": {"truncation": "original"}})
    (feature,) = original.featurize(original.get_examples("train"), is_training=False)
    # 74 entries (words + [CLS]/[SEP]) alone exceed 32: the original keeps no word at all
    assert feature["chunk_n_words"] == 0


def test_original_lowercasing_is_a_compatibility_flag(data_dir):
    folder = data_dir / "finetuning_data" / "chunk"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("Good B-NP\n")
    cased = _task(data_dir, "chunk", do_lower_case=False)
    assert cased.word_tokenizer.tokenize("Good") == ["[UNK]"]  # the vocab is lowercase
    compat = _task(data_dir, "chunk", do_lower_case=False, task_config={"chunk": {"lowercase": "original"}})
    assert compat.word_tokenizer.tokenize("Good") == ["good"]


# ---------------------------------------------------------------------------- end to end
def _run(data_dir, hparams, model=MODEL):
    base = {"train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 24, "num_train_epochs": 1, "seed": 4,
            "learning_rate": 1e-3, "log_every_steps": 1000}
    base.update(hparams)
    return run_finetuning.main(["--data-dir", str(data_dir), "--model-name", model, "--hparams", json.dumps(base)])


def _conll(rng, n, columns, tagger):
    lines = ["-DOCSTART- -X- -X- O", ""] if columns == 4 else []
    for _ in range(n):
        for i in range(rng.randint(3, 9)):
            word = rng.choice(["good", "movie", "the", "acting", "was", "great", "bad", "film"])
            tag = tagger(rng, i)
            lines.append(" ".join([word, "NN", "B-NP", tag] if columns == 4 else [word, "NN", tag]))
        lines.append("")
    return "\n".join(lines) + "\n"


def _bio(rng, i):
    return rng.choice(["B-NP", "I-NP", "O", "B-VP"]) if i else "B-NP"


def test_chunk_end_to_end(data_dir):
    rng = random.Random(0)
    folder = data_dir / "finetuning_data" / "chunk"
    folder.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (folder / f"{split}.txt").write_text(_conll(rng, 12, 3, _bio))
    assert _run(data_dir, {"task_names": ["chunk"], "write_test_outputs": True}) == 0
    results = json.loads((data_dir / "models" / MODEL / "results" / "chunk_results.json").read_text())
    metrics = results["trials"][0]["results"]["chunk"]
    assert {"precision", "recall", "f1", "accuracy", "loss"} <= set(metrics)
    preds = data_dir / "models" / MODEL / "results" / "chunk_tagging"
    dev = (preds / "chunk_dev_predictions.txt").read_text().split("\n\n")
    assert len([s for s in dev if s.strip()]) == 12
    first = dev[0].splitlines()[0].split()
    assert len(first) == 3 and first[1] == "B-NP"  # word, gold (as in the file), prediction (IOB2)
    assert (preds / "chunk_test_predictions.txt").exists() and (preds / "chunk_dev_predictions_report.txt").exists()
    config = json.loads((data_dir / "models" / MODEL / "results" / "chunk_config.json").read_text())
    assert config["max_seq_length"] == 24


def test_conll2003_naver_and_pos_end_to_end(data_dir):
    rng = random.Random(1)
    ner = lambda r, i: r.choice(["B-PER", "I-PER", "O", "O", "B-LOC"])
    folder = data_dir / "finetuning_data" / "conll2003"
    folder.mkdir(parents=True)
    for name in ("eng.train", "eng.testa"):
        (folder / name).write_text(_conll(rng, 10, 4, ner))
    assert _run(data_dir, {"task_names": ["conll2003"], "task_config": {"conll2003": {"use_crf": True, "constrained_decoding": True, "crf_learning_rate": 1e-2}}}) == 0
    metrics = json.loads((data_dir / "models" / MODEL / "results" / "conll2003_results.json").read_text())["trials"][0]["results"]["conll2003"]
    assert "f1" in metrics

    folder = data_dir / "finetuning_data" / "naver-ner"
    folder.mkdir(parents=True)
    for name in ("train.tsv", "test.tsv"):
        (folder / name).write_text("".join("비토리오 양일 만에 영사관 감호\tPER-B DAT-B DAT-I ORG-B CVL-B\n" for _ in range(9)))
    assert _run(data_dir, {"task_names": ["naver-ner"], "do_lower_case": False}) == 0
    assert (data_dir / "models" / MODEL / "results" / "naver-ner_tagging" / "naver-ner_dev_predictions.txt").read_text().startswith("비토리오 PER-B ")

    folder = data_dir / "finetuning_data" / "pos"
    folder.mkdir(parents=True)
    for name in ("train.txt", "dev.txt"):
        (folder / name).write_text("".join(f"{w}\t{t}\n" for w, t in [("the", "DT"), ("movie", "NN"), ("was", "VBD"), ("good", "JJ")]) + "\n")
    options = {"type": "tagging", "separator": "\t", "token_level": True, "label_all_tokens": True}
    assert _run(data_dir, {"task_names": ["pos"], "task_config": {"pos": options}}) == 0
    metrics = json.loads((data_dir / "models" / MODEL / "results" / "pos_results.json").read_text())["trials"][0]["results"]["pos"]
    assert "accuracy" in metrics and "f1" not in metrics


# ---------------------------------------------------------------------------- learning
def _ner_sentence(rng):
    names, places = ["alice", "bob", "carol", "dave"], ["paris", "tokyo", "lima", "oslo"]
    out = []
    for template in rng.choice([["P", "went", "to", "L"], ["P", "met", "P", "in", "L"], ["the", "trip", "to", "L", "was", "fun"]]):
        if template == "P":
            out.append((rng.choice(names), "B-PER"))
        elif template == "L":
            out.append((rng.choice(places), "B-LOC"))
        else:
            out.append((template, "O"))
    return out


def test_tiny_model_learns_a_tagging_set(tmp_path):
    """A random tiny ELECTRA learns a small NER set to entity F1 >= 90 (dev)."""
    rng = random.Random(7)
    words = sorted({"alice", "bob", "carol", "dave", "paris", "tokyo", "lima", "oslo", "went", "to", "met", "in", "the", "trip", "was", "fun"})
    model_dir = tmp_path / "models" / "ner-tiny"
    make_random_tf1_model(model_dir, words)
    folder = tmp_path / "finetuning_data" / "ner"
    folder.mkdir(parents=True)
    for split, n in (("train", 300), ("dev", 60)):
        (folder / f"{split}.txt").write_text("".join("".join(f"{w} {t}\n" for w, t in _ner_sentence(rng)) + "\n" for _ in range(n)))
    hparams = {"task_names": ["ner"], "task_config": {"ner": {"type": "tagging"}}, "num_train_epochs": 6,
               "learning_rate": 2e-3, "train_batch_size": 16, "max_seq_length": 16}
    assert _run(tmp_path, hparams, model="ner-tiny") == 0
    f1 = json.loads((model_dir / "results" / "ner_results.json").read_text())["trials"][0]["results"]["ner"]["f1"]
    assert f1 >= 90.0, f"entity F1 {f1:.1f}"
