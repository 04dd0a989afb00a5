"""ONNX and LiteRT exports: ONNX Runtime and the LiteRT interpreter give the Keras model's outputs
(within 1e-4) on real text tokenized with our tokenizer, for a classifier, a tagger (its emissions,
then argmax or CRF Viterbi decoding in Python) and QA models with either head; int8 runs and agrees on
most labels (a sanity bound only: these tiny models are random)."""

import numpy as np
import pytest

import electra_tf as et
from electra_tf.export.litert import export_litert
from electra_tf.export.onnx import export_onnx, quantize_int8
from electra_tf.finetuning.features import encode_pair
from electra_tf.finetuning.tagging.scorer import decode_tags
from electra_tf.export.backends import LiteRTBackend, OnnxBackend, TFBackend, load_backend
from electra_tf.text.tokenizer import FullTokenizer
from tests.conftest import ROOT

VOCAB = f"{ROOT}/examples/data/models/electra-tiny/vocab.txt"
SST_DEV = f"{ROOT}/examples/data/finetuning_data/sst/dev.tsv"


def _config(**changes):
    return et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, **changes)


def _texts(n=12):
    with open(SST_DEV, encoding="utf-8") as f:
        return [line.split("\t")[0] for line in f.read().splitlines()[1:n + 1]]


def _batch(pairs, max_len=48):
    """Our tokenizer on real text, padded to the batch's longest (the graphs take any length)."""
    tok = FullTokenizer(VOCAB)
    rows = [encode_pair(tok, tok.tokenize(a), tok.tokenize(b) if b else None, max_len)[:3] for a, b in pairs]
    length = max(sum(mask) for _, mask, _ in rows)
    return tuple(np.array([r[k][:length] for r in rows], "int32") for k in range(3))


def _first_subtoken_positions(ids, n_positions=6):
    """Word-start positions like the tagging preprocessor's (here: every token after [CLS])."""
    positions = np.zeros((ids.shape[0], n_positions), "int32")
    for b in range(ids.shape[0]):
        real = int((ids[b] != 0).sum()) - 2
        k = min(real, n_positions)
        positions[b, :k] = np.arange(1, k + 1)
    return positions


MODELS = {
    "classifier": lambda: et.TFElectraForSequenceClassification(_config(num_labels=3, head="electra")),
    "tagger": lambda: et.TFElectraForTokenClassification(_config(num_labels=5, head="electra")),
    "qa_electra": lambda: et.TFElectraForQuestionAnswering(_config(head="electra", head_options={"beam_size": 4})),
    "qa_hf": lambda: et.TFElectraForQuestionAnswering(_config(head="hf")),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each model exported to ONNX and LiteRT (dynamic length); int8 ONNX for the classifier
    (exported with int64 ids) and the tagger (the fp32 file quantized)."""
    import keras

    out = {}
    for name, build in MODELS.items():
        keras.utils.set_random_seed(7)
        model = build().build_with_dummy_inputs()
        folder = tmp_path_factory.mktemp(name)
        out[name] = {"model": model, "onnx": export_onnx(model, str(folder / "model.onnx")),
                     "litert": export_litert(model, str(folder / "model.tflite"))}
    folder = tmp_path_factory.mktemp("int8")
    out["classifier"]["onnx_int8"] = export_onnx(out["classifier"]["model"], str(folder / "classifier.onnx"),
                                                 id_dtype="int64", quantize="int8")
    out["tagger"]["onnx_int8"] = quantize_int8(out["tagger"]["onnx"], str(folder / "tagger.onnx"))
    return out


def _inputs(name):
    texts = _texts()
    if name.startswith("qa"):
        return _batch([("what was good ?", t) for t in texts])
    return _batch([(t, None) for t in texts[:6]] + [(a, b) for a, b in zip(texts[6::2], texts[7::2])])


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind", ["onnx", "litert"])
def test_exported_outputs_equal_keras_on_real_text(exported, name, kind):
    entry = exported[name]
    ids, mask, types = _inputs(name)
    positions = _first_subtoken_positions(ids) if name == "tagger" else None
    want = TFBackend(entry["model"]).run(ids, mask, types, positions)
    backend = load_backend(kind, entry[kind])
    for rows in (slice(None), slice(0, 1)):  # the whole batch, and batch 1 at its own length
        sub_ids, sub_mask, sub_types = ids[rows], mask[rows], types[rows]
        length = int(sub_mask.sum(1).max())
        sub = [a[:, :length] for a in (sub_ids, sub_mask, sub_types)]
        ref = TFBackend(entry["model"]).run(*sub, None if positions is None else positions[rows])
        got = backend.run(*sub, None if positions is None else positions[rows])
        assert set(got) == set(ref), (kind, name)
        for key in ref:
            if "index" in key:
                np.testing.assert_array_equal(got[key], ref[key], err_msg=f"{kind} {name} {key}")
            else:
                np.testing.assert_allclose(got[key], ref[key], atol=1e-4, rtol=0, err_msg=f"{kind} {name} {key}")
    if name == "qa_electra":  # the original head's beam outputs and answerable logit survive the export
        assert {"start_top_index", "end_top_index", "end_top_log_probs", "answerable_logit"} <= set(want)


def test_crf_tagger_decodes_the_exported_emissions_like_keras(exported):
    """A CRF tagger exports its emissions; Viterbi (in Python) over them gives Keras' tags."""
    entry = exported["tagger"]
    ids, mask, types = _inputs("tagger")
    positions = _first_subtoken_positions(ids)
    rng = np.random.default_rng(0)
    crf = (rng.normal(size=(5, 5)).astype("float32"), rng.normal(size=5).astype("float32"),
           rng.normal(size=5).astype("float32"))
    want = TFBackend(entry["model"]).run(ids, mask, types, positions)["logits"]
    for kind in ("onnx", "litert"):
        got = load_backend(kind, entry[kind]).run(ids, mask, types, positions)["logits"]
        assert [decode_tags(row, crf) for row in got] == [decode_tags(row, crf) for row in want]


@pytest.mark.parametrize("name", ["classifier", "tagger"])
def test_int8_runs_and_mostly_agrees(exported, name):
    entry = exported[name]
    ids, mask, types = _inputs(name)
    positions = _first_subtoken_positions(ids) if name == "tagger" else None
    backend = OnnxBackend(entry["onnx_int8"])
    if name == "classifier":
        assert {i.type for i in backend.session.get_inputs()} == {"tensor(int64)"}
    import onnx

    op_types = {node.op_type for node in onnx.load(entry["onnx_int8"]).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= op_types  # int8 matmuls (the tiny file is not smaller)
    want = TFBackend(entry["model"]).run(ids, mask, types, positions)["logits"]
    got = backend.run(ids, mask, types, positions)["logits"]
    assert got.shape == want.shape and np.isfinite(got).all()
    agree = (got.argmax(-1) == want.argmax(-1)).mean()
    assert agree >= 0.5, agree  # sanity bound only


def test_litert_fixed_length_pads_and_cuts_back(exported, tmp_path):
    model = exported["qa_hf"]["model"]
    path = export_litert(model, str(tmp_path / "fixed.tflite"), length=48)
    ids, mask, types = _inputs("qa_hf")
    backend = LiteRTBackend(path)
    assert backend.fixed_length == 48 and ids.shape[1] < 48
    got, want = backend.run(ids, mask, types), TFBackend(model).run(ids, mask, types)
    np.testing.assert_allclose(got["start_logits"], want["start_logits"], atol=1e-4, rtol=0)


def test_tagger_export_needs_its_positions(exported):
    from electra_tf.errors import ConfigError

    ids, mask, types = _inputs("tagger")
    with pytest.raises(ConfigError, match="labeled_positions"):
        load_backend("onnx", exported["tagger"]["onnx"]).run(ids, mask, types)


def test_export_command_writes_onnx_into_a_model_folder(exported, tmp_path):
    from electra_tf.cli import export
    from electra_tf.checkpoints.hf import write_tokenizer_files

    model = exported["tagger"]["model"]
    model_dir = tmp_path / "model"
    model.save_pretrained(str(model_dir), format="keras")
    write_tokenizer_files(str(model_dir), VOCAB, do_lower_case=True)
    assert export.main(["--model", str(model_dir), "--output", str(model_dir), "--format", "onnx",
                        "--id-dtype", "int64"]) == 0
    backend = load_backend("onnx", str(model_dir))  # finds model_dir/model.onnx
    ids, mask, types = _inputs("tagger")
    positions = _first_subtoken_positions(ids)
    np.testing.assert_allclose(backend.run(ids, mask, types, positions)["logits"],
                               TFBackend(model).run(ids, mask, types, positions)["logits"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("module, extra", [("tf2onnx", "onnx"), ("onnxruntime", "onnx"), ("ai_edge_litert.interpreter", "litert")])
def test_a_missing_extra_names_the_pip_command(monkeypatch, module, extra):
    import sys

    from electra_tf.export.extras import MissingExtraError, require

    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=rf"pip install electra-tf\[{extra}\]"):
        require(module)


def test_export_command_without_the_onnx_extra_fails_before_loading(monkeypatch, tmp_path, capsys):
    import sys

    from electra_tf.cli import export

    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    assert export.main(["--model", str(tmp_path / "missing"), "--output", str(tmp_path / "m.onnx"), "--format", "onnx"]) == 2
    assert "pip install electra-tf[onnx]" in capsys.readouterr().err


def test_onnx_files_name_their_dynamic_dimensions(exported):
    """Inputs are [batch, sequence]; outputs name the axes that follow the batch and the sequence
    (not tf2onnx's unk__N), in the fp32 file and in the int8 one."""
    import onnx

    for name, key in (("classifier", "onnx"), ("classifier", "onnx_int8"), ("tagger", "onnx")):
        graph = onnx.load(exported[name][key]).graph
        dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                for v in list(graph.input) + list(graph.output)}
        assert dims["input_ids"][:2] == ["batch", "sequence"], (name, key, dims)
        assert not any(str(d).startswith("unk__") for axes in dims.values() for d in axes), (name, key, dims)
        assert all(axes[0] == "batch" for axes in dims.values()), (name, key, dims)
