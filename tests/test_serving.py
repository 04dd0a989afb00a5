"""The SavedModel's raw-text signatures answer like the Keras model with our Python
preprocessing and decoding, in a fresh process that imports only tensorflow."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import electra_tf as et
from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor
from electra_tf.finetuning.qa.decoding import QADecoder
from electra_tf.finetuning.qa.preprocessor import QAPreprocessor
from electra_tf.finetuning.qa.reader import split_doc_tokens
from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor
from electra_tf.finetuning.tagging.scorer import TaggingScorer
from electra_tf.finetuning.task import Example
from electra_tf.export.saved_model import export_saved_model
from electra_tf.text.tokenizer import FullTokenizer

WORDS = ("the movie was great not boring a wonderful ending dull plot very good bad film actors played well "
         "paris is capital of france london england who what where when question answer river city").split()
CHARS = "北京是中国的首都上海城市很好不错电影，。！？"
SENTENCES = [
    "The movie was GREAT, not boring!",
    "Très bien: dull plot",
    "北京是中国的首都，上海是城市。",
    "a wonderful ending\u200b with zero\u00a0width",
    "",
]
PAIRS = [("The movie was great", "a wonderful ending"), ("dull " * 30, "plot " * 5), ("很好", "不错电影！")]
TAG_SENTENCES = [
    "Paris is the capital of France",
    "北京 是 中国 的 首都",
    " ".join(WORDS * 2),  # longer than the window: several windows
    "unaffable\u200b \u200b pâris",  # a word of only deleted characters becomes [UNK]
    "",
]
QA = [
    ("What is the capital of France?", "Paris is the capital of France. London is the capital of England."),
    ("Who played well?", " ".join(["the actors played well in the film"] * 12) + " The river city."),
    ("where", "Paris"),  # shorter than 20 tokens
    ("北京是什么？", "北京是中国的首都，上海是城市。"),
]
N_BEST = {"qa_electra": 5, "qa_hf": 20}  # untrained hf logits are unmasked: more candidates find spans
TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "!", "?", ":", "tres", "bien", "##s", "##e", "##r",
              "##i", "par", "##is", "un", "##aff", "##able"]
    tokens += WORDS + list(CHARS) + [f"##{w[-2:]}" for w in WORDS]
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(dict.fromkeys(tokens)) + "\n", encoding="utf-8")
    return str(path)


def _model(cls, vocab_file, **changes):
    with open(vocab_file, encoding="utf-8") as f:
        size = sum(1 for _ in f)
    config = et.ElectraConfig(vocab_size=size, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, **changes)
    return cls(config).build_with_dummy_inputs()


def _metadata(family, model_type, max_seq_length, labels=None, **settings):
    return {"format_version": 1, "task_name": "t", "family": family, "model_type": model_type,
            "max_seq_length": max_seq_length, "labels": labels, "tokenizer": {"file": "vocab.txt", "do_lower_case": True},
            family: settings}


CALLS = {
    "classifier": [("serve_text", {"text": [s for s in SENTENCES]}),
                   ("serve_text_pair", {"text": [a for a, _ in PAIRS], "text_b": [b for _, b in PAIRS]})],
    "tagger": [("serve_words", {"text": TAG_SENTENCES})],
    "tagger_crf": [("serve_words", {"text": TAG_SENTENCES})],
    "qa_electra": [("serve_qa", {"question": [q for q, _ in QA], "context": [c for _, c in QA]}),
                   ("serving_default", "short")],
    "qa_hf": [("serve_qa", {"question": [q for q, _ in QA], "context": [c for _, c in QA]})],
}

RUNNER = r"""
import json, sys
import tensorflow as tf
import numpy as np
calls = json.loads(sys.argv[1])
out = {}
for name, path in json.loads(sys.argv[2]).items():
    loaded = tf.saved_model.load(path)
    for signature, inputs in calls[name]:
        if inputs == "short":
            inputs = {"input_ids": [[2, 7, 3, 8, 9, 3]], "attention_mask": [[1] * 6], "token_type_ids": [[0, 0, 0, 1, 1, 1]]}
            result = loaded.signatures[signature](**{k: tf.constant(v, tf.int32) for k, v in inputs.items()})
        else:
            result = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        out[name + "/" + signature] = {k: (np.char.decode(v.numpy().astype(bytes), "utf-8").tolist()
                                           if v.dtype == tf.string else v.numpy().tolist()) for k, v in result.items()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, vocab_file):
    """Every model exported, and the signatures' outputs from one fresh `import tensorflow` process."""
    tmp = tmp_path_factory.mktemp("served")
    models = {
        "classifier": (_model(et.TFElectraForSequenceClassification, vocab_file, num_labels=3, head="electra"),
                       _metadata("classification", "sequence-classification", 24, ["neg", "neu", "pos"],
                                 problem="single_label")),
        "tagger": (_model(et.TFElectraForTokenClassification, vocab_file, num_labels=len(TAGS), head="electra"),
                   _metadata("tagging", "token-classification", 16, TAGS, segment_id=1, truncation="window")),
        "tagger_crf": (_model(et.TFElectraForTokenClassification, vocab_file, num_labels=len(TAGS), head="electra",
                              head_options={"crf": True}),
                       _metadata("tagging", "token-classification", 16, TAGS, segment_id=1, use_crf=True)),
        "qa_electra": (_model(et.TFElectraForQuestionAnswering, vocab_file, head="electra"),
                       _metadata("qa", "question-answering", 32, max_query_length=8, doc_stride=6, n_best_size=5,
                                 max_answer_length=6, v2=True, qa_na_threshold=0.0)),
        "qa_hf": (_model(et.TFElectraForQuestionAnswering, vocab_file, head="hf"),
                  _metadata("qa", "question-answering", 32, max_query_length=8, doc_stride=6, n_best_size=N_BEST["qa_hf"],
                            max_answer_length=6)),
    }
    crf = models["tagger_crf"][0].crf
    rng = np.random.default_rng(0)
    for variable in (crf.transitions, crf.start, crf.end):  # scores that change the Viterbi path
        variable.assign(rng.normal(0, 3, variable.shape).astype("float32"))
    paths = {}
    for name, (model, meta) in models.items():
        paths[name] = export_saved_model(model, str(tmp / name), vocab_file, metadata=meta)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(CALLS), json.dumps(paths)], capture_output=True,
                          text=True, env=env, cwd=str(tmp), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: model for name, (model, _) in models.items()}, json.loads(done.stdout.strip().splitlines()[-1])


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_every_signature_answers_in_a_plain_tensorflow_process(served):
    _, outputs = served  # the fixture's subprocess imported tensorflow only (RUNNER)
    assert set(outputs) == {f"{n}/{s}" for n, calls in CALLS.items() for s, _ in calls}


def test_classifier_text_signatures(served, vocab_file):
    models, outputs = served
    model = models["classifier"]
    pre = SentencePreprocessor(FullTokenizer(vocab_file), 24, "t", ["neg", "neu", "pos"])
    for signature, pairs in (("serve_text", [(s, None) for s in SENTENCES]), ("serve_text_pair", PAIRS)):
        examples = [Example(i, "t", {"text_a": a, "text_b": b, "label": "neg"}) for i, (a, b) in enumerate(pairs)]
        features = pre.featurize(examples, is_training=False)
        arrays = [np.array([f[k] for f in features], "int32") for k in ("input_ids", "input_mask", "segment_ids")]
        logits = np.asarray(model(arrays[0], attention_mask=arrays[1], token_type_ids=arrays[2])["logits"])
        got = outputs[f"classifier/{signature}"]
        np.testing.assert_allclose(got["logits"], logits, atol=1e-5)
        np.testing.assert_allclose(got["probabilities"], _softmax(logits.astype(np.float64)), atol=1e-5)
        assert got["label"] == [["neg", "neu", "pos"][i] for i in logits.argmax(-1)]


def _python_tags(model, vocab_file, crf=None):
    tok = FullTokenizer(vocab_file).for_words(True)
    pre = TaggingPreprocessor(tok, 16, "t", TAGS, segment_id=1)
    sentences = [s.split() for s in TAG_SENTENCES]
    examples = [Example(i, "t", {"words": w, "labels": [0] * len(w)}) for i, w in enumerate(sentences) if w]
    features = pre.featurize(examples, is_training=False)
    assert len(features) > len(examples)  # the long sentence has several windows
    scorer = TaggingScorer("t", TAGS, crf=crf)
    probabilities = {}
    for f in features:
        logits = np.asarray(model(np.array([f["input_ids"]], "int32"), attention_mask=np.array([f["input_mask"]], "int32"),
                                  token_type_ids=np.array([f["segment_ids"]], "int32"),
                                  labeled_positions=np.array([f["t_labeled_positions"]], "int32"))["logits"])[0]
        scorer.update(logits, f, 0.0)
        probs = _softmax(logits.astype(np.float64)).max(-1)
        for j, keep in enumerate(f["t_score_mask"]):
            if keep:
                probabilities[(int(f["t_eid"]), int(f["t_word_offset"]) + j)] = probs[j]
    eids, _, preds = scorer.sentences()
    return dict(zip(eids, preds)), probabilities


@pytest.mark.parametrize("name", ["tagger", "tagger_crf"])
def test_tagger_words_signature(served, vocab_file, name):
    models, outputs = served
    model = models[name]
    crf = model.crf_params() if name == "tagger_crf" else None
    tags, probabilities = _python_tags(model, vocab_file, crf)
    got = outputs[f"{name}/serve_words"]
    for i, sentence in enumerate(TAG_SENTENCES):
        words = sentence.split()
        assert got["n_words"][i] == len(words)
        assert got["words"][i][:len(words)] == words
        assert got["tags"][i][:len(words)] == tags.get(i, [])  # no scheme in the metadata: written as predicted
        assert got["model_tags"][i][:len(words)] == tags.get(i, [])
        np.testing.assert_allclose(got["probability"][i][:len(words)],
                                   [probabilities[(i, j)] for j in range(len(words))], atol=1e-5)
    if name == "tagger_crf":  # the CRF changes the decoding here (so Viterbi is what is tested)
        argmax, _ = _python_tags(model, vocab_file, None)
        assert argmax != tags


@pytest.mark.parametrize("name", ["qa_electra", "qa_hf"])
def test_qa_signature(served, vocab_file, name):
    models, outputs = served
    model = models[name]
    tok = FullTokenizer(vocab_file)
    pre = QAPreprocessor(tok, 32, 8, 6, "t")
    examples = []
    for i, (question, context) in enumerate(QA):
        doc_tokens, starts, char_to_word = split_doc_tokens(context)
        examples.append(Example(i, "t", {"qid": str(i), "question": question, "context": context, "doc_tokens": doc_tokens,
                                         "doc_starts": starts, "char_to_word": char_to_word, "is_impossible": False}))
    features = pre.featurize(examples, is_training=False, for_eval=True)
    assert len(features) > len(examples) + 2  # long contexts have several windows
    results = {}
    for f in features:
        out = model(np.array([f["input_ids"]], "int32"), attention_mask=np.array([f["input_mask"]], "int32"),
                    token_type_ids=np.array([f["segment_ids"]], "int32"))
        results[f["t_eid"]] = {k: np.asarray(v)[0] for k, v in out.items()}
    v2 = name == "qa_electra"
    decoded = QADecoder.for_head("t", model.config.head, model.config.head_options, n_best_size=N_BEST[name],
                                 max_answer_length=6,
                                 v2=v2).decode(examples, features, results)
    got = outputs[f"{name}/serve_qa"]
    best = [decoded.nbest[str(i)][0] for i in range(len(QA))]
    assert got["best_text"] == [decoded.predictions[str(i)] for i in range(len(QA))]
    assert sum(text != "empty" for text in got["best_text"]) >= 2  # spans were found, not only the placeholder
    np.testing.assert_allclose(got["score"], [b["start_logit"] + b["end_logit"] for b in best], atol=1e-5)
    if v2:
        np.testing.assert_allclose(got["null_odds"], [decoded.null_odds[str(i)] for i in range(len(QA))], atol=1e-5)
        assert got["answer"] == ["" if decoded.null_odds[str(i)] > 0.0 else decoded.predictions[str(i)]
                                 for i in range(len(QA))]
        short = outputs[f"{name}/serving_default"]
        want = model(np.array([[2, 7, 3, 8, 9, 3]], "int32"), attention_mask=np.ones((1, 6), "int32"),
                     token_type_ids=np.array([[0, 0, 0, 1, 1, 1]], "int32"))
        np.testing.assert_allclose(short["start_logits"], np.asarray(want["start_logits"]), atol=1e-5)
        assert np.asarray(short["start_top_index"]).shape[1] == 20


@pytest.mark.parametrize("problem", ["regression", "multi_label"])
def test_classifier_outputs_for_regression_and_multi_label(problem):
    """What serve_text adds to the logits for the other classification problems (as predict.py)."""
    import tensorflow as tf

    from electra_tf.export.saved_model import _classifier_outputs, _settings

    labels = None if problem == "regression" else ["a", "b", "c"]
    meta = _metadata("classification", "sequence-classification", 16, labels, problem=problem, regression_scale=5.0)
    # 1e-9 and 0: within a rounding error of sigmoid = 0.5; the decision is the logit's sign, as in the run
    logits = np.array([[0.3, -2.0, 1.5], [-0.1, 1e-9, 0.0]], "float32")[:, :1 if problem == "regression" else 3]
    out = _classifier_outputs(tf.constant(logits), _settings(meta, None, None))
    if problem == "regression":
        np.testing.assert_allclose(out["value"].numpy(), logits[:, 0] * 5.0, rtol=1e-6)
    else:
        probabilities = 1 / (1 + np.exp(-logits.astype(np.float64)))
        np.testing.assert_allclose(out["probabilities"].numpy(), probabilities, atol=1e-7)
        assert out["predicted"].numpy().tolist() == [[1, 0, 1], [0, 1, 0]]


def test_a_tagger_trained_with_original_truncation_has_no_text_signature_and_no_tokenizer(tmp_path, vocab_file, caplog):
    # serve_words reproduces truncation "window" only: such a tagger is exported with its id signatures,
    # a warning that says why, and no in-graph tokenizer (nothing would call it)
    import tensorflow as tf

    model = _model(et.TFElectraForTokenClassification, vocab_file, num_labels=3, head="electra")
    metadata = _metadata("tagging", "token-classification", 16, ["O", "B-X", "I-X"], truncation="original")
    with caplog.at_level("WARNING"):
        export_saved_model(model, str(tmp_path / "sm"), vocab_file=vocab_file, metadata=metadata)
    assert any("No serve_words signature" in r.getMessage() for r in caplog.records)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert set(loaded.signatures) == {"serving_default", "serve_positions"}
    assert not hasattr(loaded, "texts")
