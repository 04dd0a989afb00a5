"""predict.py --backend onnx|litert gives the predictions of --backend tf on dev-like files, for a
classifier, a CRF tagger and a QA model with the original head (the exported files found in the
model directory)."""

import json

import keras
import numpy as np
import pytest

import electra_tf as et
import predict
from electra_tf.checkpoints.hf import write_tokenizer_files
from electra_tf.export.litert import export_litert
from electra_tf.export.onnx import export_onnx
from tests.conftest import ROOT

VOCAB = f"{ROOT}/examples/data/models/electra-tiny/vocab.txt"
SST_DEV = f"{ROOT}/examples/data/finetuning_data/sst/dev.tsv"


def _config(**changes):
    return et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, **changes)


def _sentences(n):
    with open(SST_DEV, encoding="utf-8") as f:
        return [line.split("\t")[0] for line in f.read().splitlines()[1:n + 1]]


def _write_inputs(folder):
    """Dev-like inputs: SST sentences as a classifier's lines, CoNLL words, SQuAD contexts."""
    sentences = _sentences(24)
    (folder / "cls.txt").write_text("\n".join(sentences[:16] + [f"{a}\t{b}" for a, b in zip(sentences[16::2], sentences[17::2])]) + "\n")
    (folder / "tag.conll").write_text("".join("".join(f"{w} X\n" for w in s.split()) + "\n" for s in sentences[:12]))
    data = {"data": [{"paragraphs": [{"context": " ".join(sentences[i:i + 3]),
                                      "qas": [{"id": f"q{i}", "question": "what was the movie ?"}]} for i in range(0, 18, 3)]}]}
    (folder / "qa.json").write_text(json.dumps(data))


MODELS = {
    "cls": lambda: et.TFElectraForSequenceClassification(_config(num_labels=2, id2label={0: "neg", 1: "pos"}, head="electra")),
    "tag": lambda: et.TFElectraForTokenClassification(_config(num_labels=3, id2label={0: "O", 1: "B-X", 2: "I-X"},
                                                              head="electra", head_options={"crf": True})),
    "qa": lambda: et.TFElectraForQuestionAnswering(_config(head="electra", head_options={"beam_size": 5})),
}
INPUTS = {"cls": "cls.txt", "tag": "tag.conll", "qa": "qa.json"}
FLAGS = ["--max-seq-length", "32", "--max-query-length", "8", "--doc-stride", "16"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_backends")
    _write_inputs(root)
    dirs = {}
    for name, build in MODELS.items():
        keras.utils.set_random_seed(3)
        model = build().build_with_dummy_inputs()
        if name == "tag":  # a CRF whose transitions matter for the decoded path
            model.crf.transitions.assign(np.random.default_rng(0).normal(0, 2, (3, 3)).astype("float32"))
        folder = root / name
        model.save_pretrained(str(folder), format="keras")
        write_tokenizer_files(str(folder), VOCAB, do_lower_case=True)
        export_onnx(model, str(folder / "model.onnx"))
        export_litert(model, str(folder / "model.tflite"))
        dirs[name] = folder
    return root, dirs


def _predict(root, folder, name, backend):
    out = root / f"{name}_{backend}.out"
    assert predict.main(["--model", str(folder), "--input", str(root / INPUTS[name]), "--output", str(out),
                         "--backend", backend] + FLAGS) == 0
    return out


@pytest.mark.parametrize("backend", ["onnx", "litert"])
def test_classifier_predictions_equal_tf(model_dirs, backend):
    root, dirs = model_dirs
    ref = [json.loads(l) for l in _predict(root, dirs["cls"], "cls", "tf").read_text().splitlines()]
    got = [json.loads(l) for l in _predict(root, dirs["cls"], "cls", backend).read_text().splitlines()]
    assert [r["label"] for r in got] == [r["label"] for r in ref] and len(ref) == 20
    for a, b in zip(got, ref):
        assert abs(a["score"] - b["score"]) < 1e-4


@pytest.mark.parametrize("backend", ["onnx", "litert"])
def test_crf_tagger_predictions_equal_tf(model_dirs, backend):
    root, dirs = model_dirs
    ref = _predict(root, dirs["tag"], "tag", "tf").read_text().splitlines()
    got = _predict(root, dirs["tag"], "tag", backend).read_text().splitlines()
    assert len(ref) == len(got) and sum(1 for l in ref if l) > 60
    for a, b in zip(got, ref):
        assert a.split("\t")[:2] == b.split("\t")[:2]
        if a:
            assert abs(float(a.split("\t")[2]) - float(b.split("\t")[2])) <= 2e-4
    tags = {l.split("\t")[1] for l in ref if l}
    assert len(tags) > 1  # the CRF path is not trivially constant


@pytest.mark.parametrize("backend", ["onnx", "litert"])
def test_qa_predictions_equal_tf(model_dirs, backend):
    root, dirs = model_dirs
    ref, got = _predict(root, dirs["qa"], "qa", "tf"), _predict(root, dirs["qa"], "qa", backend)
    assert json.loads(got.read_text()) == json.loads(ref.read_text())
    nbest_ref = json.loads(ref.with_name(ref.stem + "_nbest.json").read_text())
    nbest_got = json.loads(got.with_name(got.stem + "_nbest.json").read_text())
    for q in nbest_ref:
        assert [e["text"] for e in nbest_got[q]] == [e["text"] for e in nbest_ref[q]]
        np.testing.assert_allclose([e["probability"] for e in nbest_got[q]], [e["probability"] for e in nbest_ref[q]], atol=1e-4)
