"""Bookkeeping and model JSON files that are damaged (truncated by a full disk or a kill, not UTF-8,
a BOM from an editor): one error naming the file and the fix, never a bare JSONDecodeError."""

import json
import types

import pytest

import electra_tf as et
from electra_tf.checkpoints.hf import read_hf_config_dict, read_tokenizer_files
from electra_tf.errors import CheckpointError, ConfigError, ElectraError
from electra_tf.pretraining.runner import run_seed
from electra_tf.utils.files import read_json_file
from tests.conftest import tiny_config


@pytest.mark.parametrize("content", [b'{"seed": 1', b"\xff\xfe{}", b""])
def test_read_json_file_names_the_file_the_reason_and_the_fix(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as error:
        read_json_file(str(path), ConfigError, "remove it to start over.")
    message = str(error.value)
    assert message.startswith(f"{path} is not valid JSON (") and message.endswith("; remove it to start over.")


def test_read_json_file_missing_is_none_and_a_bom_is_ignored(tmp_path):
    assert read_json_file(str(tmp_path / "absent.json"), ConfigError, "") is None
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"a": 1}).encode())
    assert read_json_file(str(tmp_path / "bom.json"), ConfigError, "") == {"a": 1}


def test_pretraining_seed_file_is_written_whole_reused_and_checked(tmp_path):
    config = types.SimpleNamespace(training_dir=str(tmp_path / "train"), seed=None)
    seed = run_seed(config)
    path = tmp_path / "train" / "seed.json"
    assert json.loads(path.read_text()) == {"seed": seed}
    assert run_seed(config) == seed  # a rerun resumes with the recorded seed
    assert [p.name for p in (tmp_path / "train").iterdir()] == ["seed.json"]  # no temporary file left
    # An explicit seed wins and leaves the record alone.
    assert run_seed(types.SimpleNamespace(training_dir=config.training_dir, seed=5)) == 5
    # A damaged record (a kill mid-write on an older version, a full disk) is one clear error, not a new seed
    # that would silently change the data order of the resumed run.
    for content in ('{"seed": ', '{"seed": "12"}', "[3]"):
        path.write_text(content)
        with pytest.raises(ConfigError, match=r"seed.json is unreadable .*set the hparam \"seed\" to the seed this run "
                                              r"started with"):
            run_seed(config)


@pytest.mark.parametrize("damaged", ["config.json", "tokenizer_config.json"])
def test_hf_directory_with_a_damaged_json_file_is_one_clear_error(tmp_path, damaged):
    model_dir = tmp_path / "hf"
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(56)]) + "\n")
    et.TFElectraModel(tiny_config()).build_with_dummy_inputs().save_pretrained(str(model_dir), format="hf",
                                                                              vocab_file=str(vocab))
    assert (model_dir / damaged).is_file()
    text = (model_dir / damaged).read_text()
    (model_dir / damaged).write_text(text[: len(text) // 2])  # truncated
    if damaged == "config.json":  # loading the weights needs the config (not the tokenizer's settings)
        with pytest.raises(ElectraError) as error:
            et.TFElectraModel.from_pretrained(str(model_dir))
        assert damaged in str(error.value) and "JSON" in str(error.value)
    # the readers that conversion, export and prediction use
    reader = read_hf_config_dict if damaged == "config.json" else read_tokenizer_files
    with pytest.raises(CheckpointError, match=f"{damaged} is not valid JSON .*restore the file"):
        reader(str(model_dir))


def test_keras_directory_with_a_damaged_config_is_one_clear_error(tmp_path):
    from electra_tf.checkpoints.keras_format import KerasFormat, read_keras_directory

    model_dir = tmp_path / "keras"
    et.TFElectraModel(tiny_config()).build_with_dummy_inputs().save_pretrained(str(model_dir), format="keras")
    config = model_dir / "config.json"
    text = config.read_text()
    # A byte-order mark (an editor's save) is accepted by every reader of the directory.
    config.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert KerasFormat().model_type(str(model_dir)) == "base"
    read_keras_directory(str(model_dir), et.MODEL_CLASSES)
    # A null electra_tf section is "not recorded", not an AttributeError.
    config.write_text(text.replace('"electra_tf": {', '"electra_tf_": {'))
    assert KerasFormat().model_type(str(model_dir)) == "pretraining"
    config.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"config.json is not valid JSON .*restore the file"):
        KerasFormat().model_type(str(model_dir))
    with pytest.raises(ElectraError, match="config.json"):
        read_keras_directory(str(model_dir), et.MODEL_CLASSES)


@pytest.mark.parametrize("content,reason", [
    ('{"tasks": []}', r"no 'model_config'"),
    ('{"model_config": {}, "tasks": {"a": 1}}', r"unexpected structure"),
    ('{"model_config": ', r"\(Expecting value"),
])
def test_damaged_run_tasks_file_names_what_is_wrong(tmp_path, content, reason):
    from electra_tf.checkpoints.training import run_task_entry
    from electra_tf.model_dir.layout import RUN_TASKS_FILE

    (tmp_path / RUN_TASKS_FILE).write_text(content)
    with pytest.raises(CheckpointError, match=f"{RUN_TASKS_FILE} is damaged.*{reason}.*restore it or pass a config"):
        run_task_entry(str(tmp_path / "ckpt-3"))


def test_seed_file_is_never_left_half_written(tmp_path, monkeypatch):
    # The write goes through a temporary file and a rename: when the rename fails (a kill, a full disk),
    # there is no seed.json at all, so a rerun draws and records a seed instead of reading half a file.
    config = types.SimpleNamespace(training_dir=str(tmp_path / "train"), seed=None)

    def failing_replace(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", failing_replace)
    with pytest.raises(Exception):
        run_seed(config)
    assert not (tmp_path / "train" / "seed.json").exists()
    monkeypatch.undo()
    seed = run_seed(config)
    assert json.loads((tmp_path / "train" / "seed.json").read_text()) == {"seed": seed}
