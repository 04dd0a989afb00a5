"""--hparams as the original README writes it: shipped file names, byte-order marks, bare words."""

import os
import subprocess
import sys

import pytest

from electra_tf.errors import ConfigError
from electra_tf.cli.hparams import CONFIGS_DIR, parse_hparams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shipped_params_file_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no params_cmrc2018.json here
    with open(os.path.join(CONFIGS_DIR, "params_cmrc2018.json"), encoding="utf-8") as f:
        import json

        expected = json.load(f)
    assert parse_hparams("params_cmrc2018.json") == expected


def test_local_file_wins_over_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params_cmrc2018.json").write_text('{"learning_rate": 1e-5}', encoding="utf-8")
    assert parse_hparams("params_cmrc2018.json") == {"learning_rate": 1e-5}


def test_missing_extension_names_the_json_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"not found: params_cmrc2018; did you mean params_cmrc2018\.json\?"):
        parse_hparams("params_cmrc2018")


def test_bare_word_is_not_called_a_trailing_comma(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="neither a JSON object nor an existing file") as info:
        parse_hparams("sst")
    assert "trailing comma" not in str(info.value)


def test_missing_json_file_names_both_places(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"not found: nope\.json \(nor in .*configs\)"):
        parse_hparams("nope.json")


def test_byte_order_mark_ignored_in_file_and_string(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"task_names": ["sst"]}')
    assert parse_hparams(str(path)) == {"task_names": ["sst"]}
    assert parse_hparams('\ufeff{"seed": 3}') == {"seed": 3}


def test_non_utf8_hparams_file_names_the_byte(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"task_names": ["caf\xe9"]}')
    with pytest.raises(ConfigError, match=r"latin1\.json: byte 20 is not valid UTF-8"):
        parse_hparams(str(path))


def test_original_readme_command_line_from_repository_root(tmp_path):
    """The mission's literal command: the file is found in configs/ and the run gets as far as
    looking for the model (here absent), not 'file not found' for the hparams."""
    done = subprocess.run([sys.executable, "run_finetuning.py", "--data-dir", str(tmp_path), "--model-name", "m",
                           "--hparams", "params_cmrc2018.json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "--hparams file not found" not in done.stderr
    assert "error:" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("hparams,message", [
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"learning_rate": -1}, "learning_rate must not be negative"),
    ({"num_train_epochs": 1e309}, "num_train_epochs must be a finite number"),
    ({"num_train_epochs": -1}, "num_train_epochs must be between 0 and 1e6"),
    ({"warmup_proportion": 1.5}, r"warmup_proportion must be in \[0, 1\]"),
    ({"layerwise_lr_decay": 0}, r"layerwise_lr_decay must be in \(0, 1\]"),
    ({"max_seq_length": 1}, "max_seq_length=1 leaves no room"),
    ({"doc_stride": 0}, "doc_stride must be a positive integer"),
    # 0 would silently turn dynamic padding off, a negative value cut batches to negative lengths
    ({"bucket_size": 0, "length_grouping": True}, "bucket_size must be a positive integer"),
    ({"bucket_size": -8, "dynamic_padding": True}, "bucket_size must be a positive integer"),
    ({"bucket_size": 1.5}, r"bucket_size must be an integer \(like its default 8\), got 1.5"),
])
def test_numeric_hparams_range_checked_up_front(tmp_path, hparams, message):
    from electra_tf.finetuning.hparams import FinetuningConfig

    with pytest.raises(ConfigError, match=message):
        FinetuningConfig("m", str(tmp_path), **{"task_names": ["sst"], **hparams})
