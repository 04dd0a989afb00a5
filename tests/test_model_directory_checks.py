"""A model directory cannot mislead (issue #24): opening one refuses, with one clear error naming
the files, a vocabulary larger than the model's embeddings, task.json labels that disagree with
the classifier or config.json's id2label, and a tokenizer file outside the directory; predict,
the export, the converter and from_pretrained all get these checks before anything runs."""

import json
import os
import shutil

import pytest

import electra_tf as et
import predict
from electra_tf.cli import export
from electra_tf.checkpoints.hf import write_tokenizer_files
from electra_tf.cli import convert
from electra_tf.errors import CheckpointError
from electra_tf.model_dir.metadata import TaskMetadata, check_model_directory, metadata_for, vocabulary_size
from tests.conftest import ROOT

VOCAB = os.path.join(ROOT, "examples", "data", "models", "electra-tiny", "vocab.txt")  # 81 tokens
LABELS = ["neg", "pos"]


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory):
    """A consistent classification model directory (vocab 81 = vocab_size 81, labels = id2label)."""
    path = str(tmp_path_factory.mktemp("model") / "sst")
    config = et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, num_labels=2,
                              id2label=dict(enumerate(LABELS)), head="electra")
    et.TFElectraForSequenceClassification(config).build_with_dummy_inputs().save_pretrained(path, format="keras")
    write_tokenizer_files(path, VOCAB, do_lower_case=True)
    TaskMetadata(task_name="sst", family="classification", model_type="sequence-classification", max_seq_length=16,
                 labels=list(LABELS), tokenizer={"file": "vocab.txt", "do_lower_case": True},
                 settings={"problem": "single_label"}).write(path)
    return path


def _copy(good_dir, tmp_path, task_changes=None):
    path = str(tmp_path / "model")
    shutil.copytree(good_dir, path)
    if task_changes:
        with open(os.path.join(path, "task.json"), encoding="utf-8") as f:
            data = json.load(f)
        for key, value in task_changes.items():
            if isinstance(value, dict):
                data.setdefault(key, {}).update(value)
            else:
                data[key] = value
        with open(os.path.join(path, "task.json"), "w", encoding="utf-8") as f:
            json.dump(data, f)
    return path


def _predict(model_dir, tmp_path):
    (tmp_path / "in.txt").write_text("extra7 extra40 the movie\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    return predict.main(["--model", model_dir, "--input", str(tmp_path / "in.txt"), "--output", str(out)]), out


def _longer_vocab(path, extra=50):
    with open(VOCAB, encoding="utf-8") as f:
        words = f.read().splitlines()
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(words + [f"extra{i}" for i in range(extra)]) + "\n")


def test_a_consistent_directory_predicts(good_dir, tmp_path):
    code, out = _predict(good_dir, tmp_path)
    assert code == 0 and json.loads(out.read_text())["label"] in LABELS


def test_a_vocabulary_larger_than_the_model_is_one_error_in_every_consumer(good_dir, tmp_path, capsys):
    path = _copy(good_dir, tmp_path)
    _longer_vocab(path)
    vocab, config_json = os.path.join(path, "vocab.txt"), os.path.join(path, "config.json")
    expected = f"{vocab} has 131 tokens but the model in {config_json} has vocab_size 81"
    code, out = _predict(path, tmp_path)
    assert code == 2 and not out.exists()  # found on opening, before any prediction
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and "InvalidArgument" not in err
    assert export.main(["--model", path, "--output", str(tmp_path / "saved")]) == 2
    assert expected in capsys.readouterr().err and not (tmp_path / "saved").exists()
    assert convert.main(["--input", path, "--output", str(tmp_path / "hf"), "--to", "hf"]) == 2
    assert expected in capsys.readouterr().err and not (tmp_path / "hf").exists()
    with pytest.raises(CheckpointError, match="131 tokens"):
        et.TFElectraForSequenceClassification.from_pretrained(path)
    with pytest.raises(CheckpointError, match="131 tokens"):
        et.TFElectraModel.from_pretrained(path)  # the bare encoder reads the same ids


def test_a_smaller_vocabulary_is_allowed_and_lines_are_counted_as_the_tokenizer_does(good_dir, tmp_path):
    path = _copy(good_dir, tmp_path)
    with open(VOCAB, encoding="utf-8") as f:
        words = f.read().splitlines()
    (tmp_path / "model" / "vocab.txt").write_text("\n".join(words[:60]) + "\n", encoding="utf-8")
    assert et.TFElectraForSequenceClassification.from_pretrained(path).config.vocab_size == 81
    # no final newline, CRLF and a non-UTF-8 line: still one id per line
    (tmp_path / "v.txt").write_bytes(b"[PAD]\r\n[UNK]\n\xff\xfe\n[CLS]")
    assert vocabulary_size(str(tmp_path / "v.txt")) == 4


@pytest.mark.parametrize("labels,expected", [
    (["a", "b", "c"], "lists 3 labels ['a', 'b', 'c'] but the model in {config} has 2 outputs (num_labels)"),
    (["pos", "neg"], "lists the labels ['pos', 'neg'] but the model's id2label in {config} names its outputs "
                     "['neg', 'pos']"),
    (None, "has no labels, but its classification model needs them to name its 2 outputs"),
])
def test_labels_that_disagree_with_the_model_are_one_error_naming_both(good_dir, tmp_path, capsys, labels, expected):
    path = _copy(good_dir, tmp_path, {"labels": labels})
    code, out = _predict(path, tmp_path)
    err = capsys.readouterr().err
    task_json, config_json = os.path.join(path, "task.json"), os.path.join(path, "config.json")
    assert code == 2 and not out.exists()
    assert err.startswith(f"error: {task_json} ") and expected.format(config=config_json) in err
    assert export.main(["--model", path, "--output", str(tmp_path / "saved")]) == 2
    assert expected.format(config=config_json) in capsys.readouterr().err


def test_a_regression_task_json_on_a_two_output_model_is_refused(good_dir, tmp_path):
    path = _copy(good_dir, tmp_path, {"labels": None, "classification": {"problem": "regression"}})
    with pytest.raises(CheckpointError, match="regression model, but the model in .* has 2 outputs"):
        et.TFElectraForSequenceClassification.from_pretrained(path)


def test_default_id2label_names_do_not_count_as_a_disagreement(good_dir, tmp_path):
    path = _copy(good_dir, tmp_path)
    meta = TaskMetadata.read(path)
    config = et.ElectraConfig(vocab_size=81, num_labels=2)  # id2label LABEL_0, LABEL_1 once written
    config = et.ElectraConfig.from_dict(config.to_dict())
    check_model_directory(path, config, meta, "sequence-classification")
    meta.labels = ["x", "y", "z"]
    check_model_directory(path, config, meta, "token-classification")  # another class: labels not its own
    with pytest.raises(CheckpointError, match="lists 3 labels"):
        check_model_directory(path, config, meta, "sequence-classification")


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "sub/vocab.txt", "..", "..\\vocab.txt", ""])
def test_a_tokenizer_file_outside_the_model_directory_is_refused(good_dir, tmp_path, capsys, name):
    path = _copy(good_dir, tmp_path, {"tokenizer": {"file": name}})
    code, out = _predict(path, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert f"tokenizer file {name!r} is not a file inside the model directory" in err and "self-contained" in err
    assert "[UNK]" not in err  # the outside file was never read as a vocabulary
    with pytest.raises(CheckpointError, match="self-contained"):
        metadata_for(path)
    assert export.main(["--model", path, "--output", str(tmp_path / "saved")]) == 2
    assert "self-contained" in capsys.readouterr().err
    # a TaskMetadata built in code cannot name one either
    meta = TaskMetadata(task_name="t", family="classification", model_type="sequence-classification",
                        max_seq_length=8, tokenizer={"file": name})
    with pytest.raises(CheckpointError, match="self-contained"):
        meta.tokenizer_path(path)


@pytest.mark.parametrize("changes,expected", [
    ({"model_type": "token-classification"}, "model_type 'token-classification' does not fit family 'classification'"),
    ({"max_seq_length": "16"}, "max_seq_length must be a positive integer, got '16'"),
    ({"labels": "neg,pos"}, "labels must be a list of label names"),
    ({"tokenizer": "vocab.txt"}, "tokenizer must be an object"),
])
def test_malformed_task_json_fields_are_one_error(good_dir, tmp_path, changes, expected):
    path = _copy(good_dir, tmp_path)
    task_json = os.path.join(path, "task.json")
    with open(task_json, encoding="utf-8") as f:
        data = json.load(f)
    data.update(changes)
    with open(task_json, "w", encoding="utf-8") as f:
        json.dump(data, f)
    with pytest.raises(CheckpointError) as caught:
        TaskMetadata.read(path)
    assert str(caught.value).startswith(f"{task_json}: ") and expected in str(caught.value)


def test_a_qa_task_json_without_its_lengths_is_one_error(good_dir, tmp_path):
    from electra_tf.model_dir.preprocessing import build_preprocessor
    from electra_tf.text.tokenizer import build_tokenizer

    path = _copy(good_dir, tmp_path, {"family": "qa", "model_type": "question-answering", "labels": None,
                                      "qa": {"max_query_length": 8}})
    meta = TaskMetadata.read(path)
    with pytest.raises(CheckpointError, match=r"task.json: the qa section needs doc_stride .*--doc-stride"):
        build_preprocessor(meta, build_tokenizer(VOCAB), "predict")  # before: a KeyError traceback
    meta.settings["doc_stride"] = 4
    assert build_preprocessor(meta, build_tokenizer(VOCAB), "predict") is not None


def test_a_sentencepiece_tokenizer_larger_than_the_model_is_refused(good_dir, tmp_path):
    from tests.test_tfds_and_sentencepiece import _train_spm

    spm_model = _train_spm(tmp_path)
    pieces = vocabulary_size(spm_model)
    assert pieces and pieces > 30
    path = _copy(good_dir, tmp_path, {"tokenizer": {"file": "spm.model"}})
    shutil.copyfile(spm_model, os.path.join(path, "spm.model"))
    os.remove(os.path.join(path, "vocab.txt"))
    meta = TaskMetadata.read(path)
    check_model_directory(path, et.ElectraConfig(vocab_size=pieces, num_labels=2), meta)
    with pytest.raises(CheckpointError, match=f"spm.model has {pieces} tokens but the model .* has vocab_size 30"):
        check_model_directory(path, et.ElectraConfig(vocab_size=30, num_labels=2), meta)
    (tmp_path / "broken.model").write_bytes(b"not a model")
    assert vocabulary_size(str(tmp_path / "broken.model")) is None  # the tokenizer reports it when it loads it
