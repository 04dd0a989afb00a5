"""predict.py on raw text: classification, tagging and QA models."""

import json

import numpy as np

import electra_tf as et
import predict
from electra_tf.checkpoints.hf import write_tokenizer_files
from electra_tf.finetuning.features import encode_pair
from electra_tf.text.tokenizer import FullTokenizer
from tests.conftest import ROOT

VOCAB = f"{ROOT}/examples/data/models/electra-tiny/vocab.txt"


def _save(model, path):
    model.save_pretrained(str(path), format="keras")
    write_tokenizer_files(str(path), VOCAB, do_lower_case=True)
    return str(path)


def _config(**changes):
    return et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, **changes)


def test_predict_classification_on_sentences_and_pairs(tmp_path):
    model = et.TFElectraForSequenceClassification(_config(num_labels=2, id2label={0: "neg", 1: "pos"}, head="electra"))
    model_dir = _save(model.build_with_dummy_inputs(), tmp_path / "model")
    (tmp_path / "in.txt").write_text("The movie was great!\nbad film\tgood plot\n\n", encoding="utf-8")
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "out.jsonl"),
                         "--max-seq-length", "16"]) == 0
    records = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    # one record per input line (issue: runs never mislabel): the blank third line is flagged empty
    assert [r["line"] for r in records] == [1, 2, 3] and records[2] == {"line": 3, "text": "", "empty": True}
    records = records[:2]
    assert [r["text"] for r in records] == ["The movie was great!", "bad film"] and records[1]["text_b"] == "good plot"
    tok = FullTokenizer(VOCAB)
    ids, mask, types, _ = encode_pair(tok, tok.tokenize("The movie was great!"), None, 16)
    logits = np.asarray(model(np.array([ids]), attention_mask=np.array([mask]), token_type_ids=np.array([types]))["logits"])[0]
    assert records[0]["label"] == ["neg", "pos"][int(np.argmax(logits))]
    assert abs(sum(records[0]["scores"].values()) - 1.0) < 1e-5


def test_predict_tagging_on_conll_tokens_with_long_sentence(tmp_path):
    model = et.TFElectraForTokenClassification(_config(num_labels=3, id2label={0: "O", 1: "B-X", 2: "I-X"}, head="electra"))
    model_dir = _save(model.build_with_dummy_inputs(), tmp_path / "model")
    long_sentence = ["good", "movie", "the", "acting", "was", "great"] * 6  # 36 words > 16 positions: windows
    (tmp_path / "in.conll").write_text("-DOCSTART- O\n\ngood NN\nfilm NN\n\n" + "".join(f"{w}\n" for w in long_sentence))
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "in.conll"), "--output", str(tmp_path / "out.conll"),
                         "--max-seq-length", "16"]) == 0
    blocks = [b for b in (tmp_path / "out.conll").read_text().split("\n\n") if b.strip()]
    assert [len(b.splitlines()) for b in blocks] == [2, 36]
    for line in blocks[1].splitlines():
        word, tag, prob = line.split("\t")
        assert tag in ("O", "B-X", "I-X") and 0 < float(prob) <= 1


def test_predict_qa_on_squad_json(tmp_path):
    model = et.TFElectraForQuestionAnswering(_config(head="electra", head_options={"beam_size": 5}))
    model_dir = _save(model.build_with_dummy_inputs(), tmp_path / "model")
    contexts = ["the movie was good and the acting was great", "the story was bad but the ending was fun " * 4]
    data = {"data": [{"paragraphs": [{"context": c, "qas": [{"id": f"q{i}", "question": "what was good"}]}
                                     for i, c in enumerate(contexts)]}]}
    (tmp_path / "in.json").write_text(json.dumps(data))
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "in.json"), "--output", str(tmp_path / "out.json"),
                         "--max-seq-length", "24", "--max-query-length", "8", "--doc-stride", "8"]) == 0
    answers = json.loads((tmp_path / "out.json").read_text())
    assert set(answers) == {"q0", "q1"}
    for i, text in enumerate(answers.values()):
        assert text == "" or text in contexts[i]
    assert set(json.loads((tmp_path / "out_nbest.json").read_text())) == {"q0", "q1"}
    assert set(json.loads((tmp_path / "out_null_odds.json").read_text())) == {"q0", "q1"}


def test_predict_missing_input_is_a_clear_error(tmp_path, capsys):
    model = et.TFElectraForSequenceClassification(_config(num_labels=2, head="electra"))
    model_dir = _save(model.build_with_dummy_inputs(), tmp_path / "model")
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"Input file not found: {tmp_path / 'nope.txt'}")


def test_predict_featurizes_with_the_runners_preprocessors_and_no_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    from electra_tf.finetuning.classification.preprocessor import SentencePreprocessor
    from electra_tf.finetuning.hparams import FinetuningConfig
    from electra_tf.finetuning.qa.preprocessor import QAPreprocessor
    from electra_tf.finetuning.runner import FinetuningRunner
    from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor

    config = FinetuningConfig("electra-tiny", f"{ROOT}/examples/data", task_names=["sst", "tags", "squad"],
                              task_config={"tags": {"type": "tagging", "labels": ["O", "B-X", "I-X"]}})
    runner_classes = [type(task.preprocessor) for task in FinetuningRunner(config).tasks]
    assert runner_classes == [SentencePreprocessor, TaggingPreprocessor, QAPreprocessor]

    models = [et.TFElectraForSequenceClassification(_config(num_labels=2, head="electra")),
              et.TFElectraForTokenClassification(_config(num_labels=3, id2label={0: "O", 1: "B-X", 2: "I-X"}, head="electra")),
              et.TFElectraForQuestionAnswering(_config(head="electra"))]
    names = ["in.txt", "in.conll", "in.json"]
    model_dirs = [_save(model.build_with_dummy_inputs(), tmp_path / f"model_{name}") for model, name in zip(models, names)]
    used = []
    for cls in runner_classes:
        def spy(self, *args, _featurize=cls.featurize, **kwargs):
            used.append(type(self))
            return _featurize(self, *args, **kwargs)

        monkeypatch.setattr(cls, "featurize", spy)

    def no_temporary_folders(*args, **kwargs):
        raise AssertionError("predict.py created a temporary folder")

    monkeypatch.setattr(tempfile, "mkdtemp", no_temporary_folders)
    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_temporary_folders)
    (tmp_path / "in.txt").write_text("a good movie\n", encoding="utf-8")
    (tmp_path / "in.conll").write_text("good\nmovie\n", encoding="utf-8")
    (tmp_path / "in.json").write_text(json.dumps({"data": [{"paragraphs": [
        {"context": "the movie was good", "qas": [{"id": "q0", "question": "what was good"}]}]}]}))
    for model_dir, name, expected in zip(model_dirs, names, runner_classes):
        del used[:]
        assert predict.main(["--model", model_dir, "--input", str(tmp_path / name), "--output", str(tmp_path / f"out_{name}"),
                             "--max-seq-length", "24", "--max-query-length", "8", "--doc-stride", "8"]) == 0
        assert used and set(used) == {expected}


def test_predict_keeps_one_record_per_newline_line(tmp_path):
    """Only \\n ends a line: blank lines and Unicode line separators inside a text do not shift
    the predictions (str.splitlines split on \\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028 \\u2029)."""
    model = et.TFElectraForSequenceClassification(_config(num_labels=2, head="electra"))
    model_dir = _save(model.build_with_dummy_inputs(), tmp_path / "model")
    texts = ["first\u2028still first", "", "third\x0bthird\x0cthird", "fourth\x1c\x1d\x1e\x85end", "   ",
             "sixth\u2029", "\ufeffseventh"]
    (tmp_path / "in.txt").write_bytes(("\ufeff" + "\r\n".join(texts[:3]) + "\n" + "\n".join(texts[3:])).encode("utf-8"))
    out = tmp_path / "out.jsonl"
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "in.txt"), "--output", str(out),
                         "--max-seq-length", "16"]) == 0
    lines = out.read_bytes().decode("utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == len(texts) + 1
    records = [json.loads(line) for line in lines[:-1]]
    assert [r["line"] for r in records] == list(range(1, 8))
    assert [r.get("empty", False) for r in records] == [False, True, False, False, True, False, False]
    assert records[0]["text"] == "first\u2028still first" and records[3]["text"] == "fourth\x1c\x1d\x1e\x85end"
    assert records[6]["text"] == "\ufeffseventh"  # only the file's own byte-order mark is dropped


def test_predict_input_errors_name_the_users_file(tmp_path, capsys):
    model = et.TFElectraForSequenceClassification(_config(num_labels=2, head="electra"))
    model_dir = _save(model.build_with_dummy_inputs(), tmp_path / "model")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9\n")
    assert predict.main(["--model", model_dir, "--input", str(bad), "--output", str(tmp_path / "o"),
                         "--max-seq-length", "16"]) == 2
    assert f"{bad}: byte 3 is not valid UTF-8" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    assert predict.main(["--model", model_dir, "--input", str(empty), "--output", str(tmp_path / "o"),
                         "--max-seq-length", "16"]) == 2
    assert f"{empty}: no text to classify" in capsys.readouterr().err
    # a max_seq_length beyond the model's position embeddings is an error, not a TensorFlow traceback
    (tmp_path / "ok.txt").write_text("fine\n", encoding="utf-8")
    assert predict.main(["--model", model_dir, "--input", str(tmp_path / "ok.txt"), "--output", str(tmp_path / "o")]) == 2
    assert "--max-seq-length 128 exceeds the model's 64 position embeddings" in capsys.readouterr().err


def test_a_damaged_or_newer_task_json_is_one_clear_error(tmp_path, capsys):
    model = et.TFElectraForSequenceClassification(_config(num_labels=2, head="electra"))
    model_dir = _save(model.build_with_dummy_inputs(), tmp_path / "model")
    (tmp_path / "in.txt").write_text("fine\n", encoding="utf-8")
    args = ["--model", model_dir, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o")]
    task_json = tmp_path / "model" / "task.json"
    task_json.write_text('{"format_version": 1, "task_na', encoding="utf-8")  # truncated
    assert predict.main(args) == 2
    assert f"{task_json} is not valid JSON" in capsys.readouterr().err
    task_json.write_text(json.dumps({"format_version": 99, "task_name": "x", "family": "classification",
                                     "model_type": "sequence-classification", "max_seq_length": 16}))
    assert predict.main(args) == 2
    assert "format_version 99" in capsys.readouterr().err and not (tmp_path / "o").exists()
