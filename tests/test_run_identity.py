"""Run identity records: equal settings reuse the folder and its seed; any difference is named."""

import pytest

from electra_tf.training.run_identity import RunIdentity, RunMismatchError, path_digest


def test_first_run_records_then_same_settings_return_the_seed(tmp_path):
    folder = str(tmp_path / "sst_model_1")
    identity = RunIdentity(folder, {"learning_rate": 1e-3, "task_names": ["sst"], "data": "abc"})
    assert identity.check("ways out") is None
    identity.record(seed=1234)
    again = RunIdentity(folder, {"task_names": ["sst"], "data": "abc", "learning_rate": 1e-3})  # order free
    assert again.check("ways out") == 1234


def test_every_difference_is_named_old_to_new(tmp_path):
    folder = str(tmp_path / "run")
    RunIdentity(folder, {"learning_rate": 0.001, "num_train_epochs": 1.0, "use_crf": False}).record(7)
    with pytest.raises(RunMismatchError) as info:
        RunIdentity(folder, {"learning_rate": 0.1, "num_train_epochs": 2.0, "use_crf": False}).check(
            'Set "overwrite_model_dir": true.')
    message = str(info.value)
    assert "learning_rate 0.001 -> 0.1" in message and "num_train_epochs 1.0 -> 2.0" in message
    assert "use_crf" not in message and message.endswith('Set "overwrite_model_dir": true.')


def test_added_or_removed_setting_counts(tmp_path):
    folder = str(tmp_path / "run")
    RunIdentity(folder, {"a": 1}).record(1)
    with pytest.raises(RunMismatchError, match="b null -> 2"):
        RunIdentity(folder, {"a": 1, "b": 2}).check("")


def test_unreadable_record_is_a_clear_error(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for content in ("{truncated", "[]", '{"settings": null}'):  # damaged, or valid JSON of the wrong shape
        (folder / "run_identity.json").write_text(content, encoding="utf-8")
        with pytest.raises(RunMismatchError, match="run_identity.json is unreadable"):
            RunIdentity(str(folder), {"a": 1}).check("")


def test_digests_follow_content_not_names(tmp_path):
    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "model.ckpt.index").write_bytes(b"index")
    (ckpt / "model.ckpt.data-00000-of-00001").write_bytes(b"x" * 100)
    (ckpt / "finetuning_models").mkdir()  # our own outputs beside the checkpoint do not count
    first = path_digest(str(ckpt))
    (ckpt / "finetuning_models" / "run.txt").write_text("output")
    assert path_digest(str(ckpt)) == first
    assert path_digest(str(ckpt / "model.ckpt")) == path_digest(str(ckpt / "model.ckpt"))
    (ckpt / "model.ckpt.data-00000-of-00001").write_bytes(b"y" * 100)
    assert path_digest(str(ckpt)) != first
    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * (5 << 20))
    d1 = path_digest(str(big))
    with open(big, "r+b") as f:
        f.seek(0)
        f.write(b"b")
    assert path_digest(str(big)) != d1
    assert path_digest(None) is None
