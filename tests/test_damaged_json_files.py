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
