"""Extractive QA: featurization, decoding, metrics, the evaluator, end to end, learning."""

import json
import os
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import make_random_tf1_model, ROOT, copy_tiny_model

import run_finetuning
from electra_tf.finetuning.qa import metrics as qa_metrics

MODEL = "electra-tiny"
ZH = "北京是中国的首都我爱天安门他出生于市一名作家上海广场年在哪里谁什么时候"


def _vocab(path, extra=()):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(ZH)) + list(extra)
    path.write_text("\n".join(dict.fromkeys(words)) + "\n", encoding="utf-8")
    return str(path)


def _squad(paragraphs, version="1.1"):
    return {"version": version, "data": [{"title": "t", "paragraphs": paragraphs}]}


def _task(tmp_path, name, data, **hparams):
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.builtin_tasks import get_task
    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.text.tokenizer import FullTokenizer

    folder = tmp_path / "finetuning_data" / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, content in data.items():
        (folder / f"{split}.json").write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    vocab = _vocab(tmp_path / "vocab.txt", extra=["what", "is", "the", "answer", "paris", "rome", "a", "cat", "##s"])
    config = FinetuningConfig("m", str(tmp_path), task_names=[name], vocab_file=vocab,
                              **{"max_seq_length": 32, "max_query_length": 8, "doc_stride": 8, **hparams})
    return get_task(TaskOptions.from_config(config, name), name, FullTokenizer(vocab))


# ---------------------------------------------------------------------------- featurization
def _original_improve_answer_span(pieces, tok_start, tok_end, answer_pieces):
    """The original's quadratic search, literally: the oracle for the linear one."""
    target = " ".join(answer_pieces)
    for new_start in range(tok_start, tok_end + 1):
        for new_end in range(tok_end, new_start - 1, -1):
            if " ".join(pieces[new_start:new_end + 1]) == target:
                return new_start, new_end
    return tok_start, tok_end


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_answer_span_search_equals_the_originals_quadratic_search(data):
    from electra_tf.finetuning.qa.preprocessor import first_matching_span

    alphabet = st.sampled_from(["北", "京", "##京", "a", "##s", "[UNK]", "。"])
    pieces = data.draw(st.lists(alphabet, min_size=0, max_size=14))
    answer = data.draw(st.lists(alphabet, min_size=0, max_size=4))
    tok_start = data.draw(st.integers(0, len(pieces)))
    tok_end = data.draw(st.integers(tok_start - 1, max(tok_start - 1, len(pieces) - 1)))
    assert first_matching_span(pieces, tok_start, tok_end, answer) == \
        _original_improve_answer_span(pieces, tok_start, tok_end, answer)


def test_repeated_chinese_answer_is_placed_by_answer_start(tmp_path):
    context = "北京是首都。我爱北京天安门。"
    qa = {"id": "q1", "question": "在哪里", "answers": [{"text": "北京", "answer_start": 8}]}
    data = {"train": _squad([{"context": context, "qas": [qa]}])}
    task = _task(tmp_path, "cmrc2018", data)
    features = task.featurize(task.get_examples("train"), is_training=True)
    (feature,) = features
    (query, pieces, _, spans, _), = task.preprocessor._subtokens(task.get_examples("train"))
    start = feature["cmrc2018_start_positions"] - (len(query) + 2)
    assert spans[start][0] == 8 and features.counters["answer_position_differences"] == 1
    original = _task(tmp_path, "cmrc2018", data, task_config={"cmrc2018": {"answer_mode": "original"}})
    (feature,) = original.featurize(original.get_examples("train"), is_training=True)
    assert spans[feature["cmrc2018_start_positions"] - (len(query) + 2)][0] == 0  # the first occurrence


def _decode_span(task, split, answer):
    """Text recovered for the feature tokens covering ``answer`` in the example's context."""
    examples = task.get_examples(split)
    features = task.featurize(examples, is_training=False, for_eval=True)
    ex = examples[0]
    start_char = ex.fields["context"].index(answer)
    end_char = start_char + len(answer)
    f = features[0]
    positions = [p for p, (s, e) in f["char_spans"].items() if s < end_char and e > start_char]
    return task.decoder().span_text(f, ex, positions[0], positions[-1])


@pytest.mark.parametrize("odd", ["\u3000", "\u00a0", "\u200b"], ids=["U+3000", "U+00A0", "U+200B"])
def test_odd_spaces_do_not_turn_predictions_into_the_paragraph(tmp_path, odd):
    context = f"他出生于北京{odd}市，是一名作家。"
    answer = f"北京{odd}市"
    qa = {"id": "q1", "question": "在哪里", "answers": [{"text": answer, "answer_start": 4}]}
    task = _task(tmp_path, "cmrc2018", {"dev": _squad([{"context": context, "qas": [qa]}])})
    assert _decode_span(task, "dev", answer) == answer
    original = _task(tmp_path, "cmrc2018", {"dev": _squad([{"context": context, "qas": [qa]}])},
                     task_config={"cmrc2018": {"answer_mode": "original"}})
    # The original's character alignment fails (the tokenizer drops or turns these into spaces)
    # and it falls back to the whole whitespace token: here the whole paragraph.
    assert _decode_span(original, "dev", answer) == context


def test_long_document_windows_and_max_context(tmp_path):
    context = "我爱北京天安门" * 12  # 84 characters, much more than 32 positions
    qa = {"id": "q1", "question": "在哪里", "answers": [{"text": "天安门", "answer_start": 72}]}
    task = _task(tmp_path, "cmrc2018", {"train": _squad([{"context": context, "qas": [qa]}]),
                                       "dev": _squad([{"context": context, "qas": [qa]}])})
    train = task.featurize(task.get_examples("train"), is_training=True)
    assert len(train) > 5
    labelled = [f for f in train if f["cmrc2018_start_positions"] > 0]
    assert labelled and all(f["cmrc2018_end_positions"] - f["cmrc2018_start_positions"] == 2 for f in labelled)
    assert sum(1 for f in train if f["cmrc2018_start_positions"] == 0) > 0  # windows without the answer -> [CLS]
    dev = task.featurize(task.get_examples("dev"), is_training=False, for_eval=True)
    owners = {}
    for f in dev:
        for position, is_max in f["token_is_max_context"].items():
            if is_max:
                orig = f["char_spans"][position]
                assert orig not in owners
                owners[orig] = f["cmrc2018_eid"]
    assert len(owners) == len(context)  # every character scored by exactly one window
    assert sorted({f["cmrc2018_eid"] for f in dev}) == list(range(len(dev)))  # eid = 1000 * 0 + window


def test_unanswerable_questions_target_cls(tmp_path):
    paragraph = {"context": "北京是首都。", "qas": [
        {"id": "q1", "question": "谁", "answers": [], "is_impossible": True},
        {"id": "q2", "question": "在哪里", "answers": [{"text": "北京", "answer_start": 0}], "is_impossible": False}]}
    task = _task(tmp_path, "squad", {"train": _squad([paragraph], "v2.0")})
    features = task.featurize(task.get_examples("train"), is_training=True)
    f1, f2 = features
    assert (f1["squad_start_positions"], f1["squad_end_positions"], f1["squad_is_impossible"]) == (0, 0, 1)
    assert f2["squad_start_positions"] > 0 and f2["squad_is_impossible"] == 0


# ---------------------------------------------------------------------------- metrics
def _ds(*qas):
    return [{"paragraphs": [{"qas": list(qas)}]}]


def _q(qid, *answers):
    return {"id": qid, "answers": [{"text": a} for a in answers]}


def test_squad_v1_metric():
    ds = _ds(_q("a", "the Eiffel Tower"), _q("b", "Denver Broncos", "Broncos"), _q("c", "x"))
    result = qa_metrics.squad_v1(ds, {"a": "Eiffel tower!", "b": "Denver"})
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx((100 + 200 / 3) / 3)  # 2*(1*0.5)/1.5 = 2/3 for "Denver"; "c" missing


def test_squad_v2_metric_with_thresholds():
    ds = _ds(_q("q1", "Paris"), _q("q2"), _q("q3", "Rome"))
    preds = {"q1": "Paris", "q2": "London", "q3": "Milan"}
    na = {"q1": 0.1, "q2": 0.9, "q3": 0.5}
    result = qa_metrics.squad_v2(ds, preds, na, na_prob_thresh=1.0)
    assert result["exact"] == pytest.approx(100 / 3) and result["total"] == 3
    assert result["HasAns_exact"] == pytest.approx(50.0) and result["HasAns_total"] == 2
    assert result["NoAns_exact"] == 0.0 and result["NoAns_total"] == 1
    assert result["best_exact"] == pytest.approx(200 / 3) and result["best_exact_thresh"] == pytest.approx(0.1)
    assert set(result) == {"exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact",
                           "NoAns_f1", "NoAns_total", "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"}
    thresholded = qa_metrics.squad_v2(ds, preds, na, na_prob_thresh=0.6)  # q2 is predicted unanswerable
    assert thresholded["exact"] == pytest.approx(200 / 3)


def test_cmrc2018_metric_on_chinese_mixed_and_missing():
    ds = _ds(_q("1", "北京天安门", "天安门"), _q("2", "1998年"), _q("3", "ELECTRA模型"), _q("4", "上海"))
    preds = {"1": "天安门广场", "2": "1998 年", "3": "electra模型"}
    result = qa_metrics.cmrc2018(ds, preds)
    # q1: LCS 3 of 5 vs "北京天安门" (F1 0.6) and 3 of 3 vs "天安门" (F1 0.75) -> 0.75; EM 0
    # q2: segments ["1998", "年"] on both sides -> F1 1; EM 0 ("1998年" != "1998 年")
    # q3: lowercased -> EM 1, F1 1; q4: missing -> skipped, scores 0
    assert result["F1"] == pytest.approx(100 * (0.75 + 1 + 1) / 4)
    assert result["EM"] == pytest.approx(100 * 1 / 4)
    assert result["TOTAL"] == 4 and result["SKIP"] == 1
    assert result["AVERAGE"] == pytest.approx((result["F1"] + result["EM"]) / 2)


def test_mixed_segmentation_and_treebank_rules():
    assert qa_metrics.mixed_segmentation("在2018年，ELECTRA's F1 was 86.7%") == \
        ["在", "2018", "年", "，", "electra", "'s", "f1", "was", "86.7", "%"]
    assert qa_metrics.treebank_word_tokenize("1,000 people (roughly) don't.") == ["1,000", "people", "(", "roughly", ")", "do", "n't", "."]


def test_korquad_and_mrqa_metrics():
    ds = _ds(_q("a", "《해리 포터》"), _q("b", "세종대왕"))
    result = qa_metrics.korquad_v1(ds, {"a": "해리 포터", "b": "세종"})
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert qa_metrics.mrqa({"q1": ["a cat"], "q2": ["dog"]}, {"q1": "cat"}) == {"exact_match": 100.0, "f1": 100.0}


def test_evaluator_cli(tmp_path):
    data = {"version": "1.0", "data": _ds({"id": "1", "question": "?", "answers": [{"text": "天安门"}]})}
    (tmp_path / "dev.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "preds.json").write_text(json.dumps({"1": "天安门"}, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "electra_tf.cli.evaluate", "cmrc2018", str(tmp_path / "dev.json"),
                          str(tmp_path / "preds.json")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["EM"] == "100.000" and result["F1"] == "100.000" and result["TOTAL"] == 1 and result["SKIP"] == 0
    bad = subprocess.run([sys.executable, "-m", "electra_tf.cli.evaluate", "squad", str(tmp_path / "missing.json"),
                          str(tmp_path / "preds.json")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: Data file not found")


def test_evaluator_names_a_folder_or_a_malformed_data_file(tmp_path):
    from electra_tf.cli.evaluate import evaluate
    from electra_tf.errors import DataError

    (tmp_path / "preds.json").write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match="is a folder"):  # was a bare IsADirectoryError
        evaluate("squad", str(tmp_path), str(tmp_path / "preds.json"))
    with pytest.raises(DataError, match="is a folder"):
        evaluate("squad", str(tmp_path / "preds.json"), str(tmp_path))
    with pytest.raises(DataError, match="is a folder"):  # the MRQA reader too
        evaluate("mrqa", str(tmp_path), str(tmp_path / "preds.json"))
    (tmp_path / "dev.json").write_text('{"data": {"title": "x"}}', encoding="utf-8")
    with pytest.raises(DataError, match="top-level 'data' list"):  # was a TypeError inside the scorer
        evaluate("squad", str(tmp_path / "dev.json"), str(tmp_path / "preds.json"))


# ---------------------------------------------------------------------------- end to end
@pytest.fixture()
def data_dir(tmp_path):
    copy_tiny_model(tmp_path)
    return tmp_path


def _run(data_dir, hparams, model=MODEL):
    base = {"train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 48, "max_query_length": 12, "doc_stride": 16,
            "num_train_epochs": 1, "seed": 3, "beam_size": 5, "n_best_size": 5, "log_every_steps": 1000}
    base.update(hparams)
    return run_finetuning.main(["--data-dir", str(data_dir), "--model-name", model, "--hparams", json.dumps(base)])


def _english_paragraphs(rng, n, v2=False):
    words = "the movie was good and the acting great but the story bad".split()
    out = []
    for i in range(n):
        ctx_words = [rng.choice(words) for _ in range(rng.randint(20, 40))]
        context = " ".join(ctx_words)
        start = context.index(ctx_words[5])
        qas = [{"id": f"q{i}", "question": "what was good", "answers": [{"text": ctx_words[5], "answer_start": start}]}]
        if v2:
            qas[0]["is_impossible"] = False
            qas.append({"id": f"n{i}", "question": "what was bad", "answers": [], "is_impossible": True})
        out.append({"context": context, "qas": qas})
    return out


@pytest.mark.parametrize("task,v2,files", [("squad", True, ("train.json", "dev.json")),
                                          ("squadv1", False, ("train-v1.1.json", "dev-v1.1.json")),
                                          ("korquad", False, ("KorQuAD_v1.0_train.json", "KorQuAD_v1.0_dev.json"))])
def test_squad_format_tasks_end_to_end(data_dir, task, v2, files):
    rng = random.Random(0)
    folder = data_dir / "finetuning_data" / task
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text(json.dumps(_squad(_english_paragraphs(rng, 6, v2), "v2.0" if v2 else "1.1")))
    assert _run(data_dir, {"task_names": [task]}) == 0
    results = json.loads((data_dir / "models" / MODEL / "results" / f"{task}_results.json").read_text())
    metrics = results["trials"][0]["results"][task]
    qa_dir = data_dir / "models" / MODEL / "results" / f"{task}_qa"
    preds = json.loads((qa_dir / f"{task}_dev_preds.json").read_text())
    assert len(preds) == (12 if v2 else 6)
    assert (qa_dir / f"{task}_dev_nbest.json").exists()
    if v2:
        assert {"exact", "f1", "best_f1", "HasAns_total", "NoAns_total"} <= set(metrics)
        assert len(json.loads((qa_dir / "squad_dev_null_odds.json").read_text())) == 12
    else:
        assert {"exact_match", "f1"} <= set(metrics)


@pytest.mark.parametrize("task", ["newsqa", "naturalqs", "triviaqa", "searchqa"])
def test_mrqa_jsonl_end_to_end(data_dir, task):
    rng = random.Random(1)
    folder = data_dir / "finetuning_data" / task
    folder.mkdir(parents=True)
    for split in ("train", "dev"):
        lines = [json.dumps({"header": {"dataset": "NewsQA", "split": split}})]
        for p in _english_paragraphs(rng, 6):
            qa = p["qas"][0]
            answer = qa["answers"][0]
            lines.append(json.dumps({"context": p["context"], "qas": [{
                "qid": qa["id"], "question": qa["question"], "answers": [answer["text"]],
                "detected_answers": [{"text": answer["text"], "char_spans": [[answer["answer_start"], answer["answer_start"] + len(answer["text"]) - 1]]}]}]}))
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    assert _run(data_dir, {"task_names": [task], "max_seq_length": 48}) == 0
    metrics = json.loads((data_dir / "models" / MODEL / "results" / f"{task}_results.json").read_text())["trials"][0]["results"][task]
    assert {"exact_match", "f1"} <= set(metrics)
    preds = json.loads((data_dir / "models" / MODEL / "results" / f"{task}_qa" / f"{task}_dev_preds.json").read_text())
    assert len(preds) == 6  # the header line is not a question


@pytest.mark.parametrize("task,files", [("cmrc2018", ("cmrc2018_train.json", "cmrc2018_dev.json")),
                                        ("drcd", ("DRCD_training.json", "DRCD_dev.json"))])
def test_chinese_tasks_end_to_end(data_dir, task, files):
    with open(os.path.join(ROOT, "tests", "data", "cmrc2018_trial_sample.json"), encoding="utf-8") as f:
        sample = json.load(f)
    folder = data_dir / "finetuning_data" / task
    folder.mkdir(parents=True)
    (folder / files[0]).write_text(json.dumps(dict(sample, data=sample["data"][:16]), ensure_ascii=False), encoding="utf-8")
    (folder / files[1]).write_text(json.dumps(dict(sample, data=sample["data"][16:]), ensure_ascii=False), encoding="utf-8")
    assert _run(data_dir, {"task_names": [task], "max_seq_length": 64, "max_query_length": 16, "doc_stride": 24}) == 0
    metrics = json.loads((data_dir / "models" / MODEL / "results" / f"{task}_results.json").read_text())["trials"][0]["results"][task]
    n_dev = sum(len(p["qas"]) for a in sample["data"][16:] for p in a["paragraphs"])
    assert metrics["TOTAL"] == n_dev and metrics["SKIP"] == 0 and {"AVERAGE", "F1", "EM"} <= set(metrics)
    meta = json.loads((data_dir / "models" / MODEL / "finetuning_tfrecords" / f"{task}_tfrecords" / f"{task}_train.tfrecord.metadata").read_text())
    assert "answer_position_differences" in meta["counts"][task]
    preds = json.loads((data_dir / "models" / MODEL / "results" / f"{task}_qa" / f"{task}_dev_preds.json").read_text())
    contexts = {qa["id"]: p["context"] for a in sample["data"][16:] for p in a["paragraphs"] for qa in p["qas"]}
    assert set(preds) == set(contexts)
    assert all(text in contexts[qid] or text == "empty" for qid, text in preds.items())  # substrings of the context


# ---------------------------------------------------------------------------- learning
def test_tiny_model_learns_synthetic_qa(tmp_path):
    """A random tiny ELECTRA learns where 'the answer is X' puts X: EM >= 80 on dev (SQuAD v1.1 metric)."""
    rng = random.Random(3)
    fillers = ["red", "blue", "green", "big", "small", "old", "new", "cold", "hot", "dark", "fast", "slow"]
    answers = ["paris", "rome", "oslo", "lima", "cairo", "delhi", "tokyo", "seoul"]
    words = sorted(set(fillers + answers + ["the", "answer", "is", "what"]))
    model_dir = tmp_path / "models" / "qa-tiny"
    make_random_tf1_model(model_dir, words)

    def paragraphs(n, prefix):
        out = []
        for i in range(n):
            left = [rng.choice(fillers + answers) for _ in range(rng.randint(0, 8))]
            right = [rng.choice(fillers + answers) for _ in range(rng.randint(0, 8))]
            answer = rng.choice(answers)
            context = " ".join(left + ["the", "answer", "is", answer] + right)
            start = len(" ".join(left + ["the", "answer", "is"])) + 1
            out.append({"context": context, "qas": [{"id": f"{prefix}{i}", "question": "what is the answer",
                                                     "answers": [{"text": answer, "answer_start": start}]}]})
        return out

    folder = tmp_path / "finetuning_data" / "squadv1"
    folder.mkdir(parents=True)
    (folder / "train.json").write_text(json.dumps(_squad(paragraphs(400, "t"))))
    (folder / "dev.json").write_text(json.dumps(_squad(paragraphs(60, "d"))))
    hparams = {"task_names": ["squadv1"], "num_train_epochs": 10, "learning_rate": 3e-3, "train_batch_size": 16,
               "max_seq_length": 32, "max_query_length": 8, "beam_size": 5, "n_best_size": 5, "seed": 1,
               "log_every_steps": 1000}
    assert run_finetuning.main(["--data-dir", str(tmp_path), "--model-name", "qa-tiny", "--hparams", json.dumps(hparams)]) == 0
    metrics = json.loads((model_dir / "results" / "squadv1_results.json").read_text())["trials"][0]["results"]["squadv1"]
    assert metrics["exact_match"] >= 80.0, metrics
