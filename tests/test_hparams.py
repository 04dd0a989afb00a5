"""FinetuningConfig: the original's names, defaults and precedence; --hparams parsing."""

import json
import os

import pytest

from electra_tf.errors import ConfigError
from electra_tf.cli.hparams import parse_hparams
from electra_tf.finetuning.hparams import ORIGINAL_HPARAMS, FinetuningConfig


def cfg(**kw):
    return FinetuningConfig("electra_small", "/data", **kw)


def test_original_defaults():
    c = cfg(task_names=["mnli"])
    assert (c.learning_rate, c.layerwise_lr_decay, c.weight_decay_rate) == (1e-4, 0.8, 0.01)
    assert (c.max_seq_length, c.train_batch_size, c.num_train_epochs, c.embedding_size) == (128, 32, 3.0, 128)
    assert c.qa_na_threshold == -2.75 and c.beam_size == 20 and c.do_test is True
    for name in ORIGINAL_HPARAMS:
        assert hasattr(c, name)


def test_derived_paths_follow_the_original_layout():
    c = cfg(task_names=["rte", "sts"])
    assert c.model_dir == "/data/models/electra_small/finetuning_models/rte,sts_model"
    assert c.trial_model_dir(2).endswith("rte,sts_model_2")
    assert c.results_txt == "/data/models/electra_small/results/rte,sts_results.txt"
    assert c.preprocessed_data_dir == "/data/models/electra_small/finetuning_tfrecords/rte,sts_tfrecords"
    assert c.raw_data_dir_for("rte") == "/data/finetuning_data/rte"
    assert c.qa_preds_file_for("squad_dev") == "/data/models/electra_small/results/rte,sts_qa/squad_dev_preds.json"
    assert c.vocab_file == "/data/vocab.txt"  # no models/<name>/vocab.txt -> data-dir fallback


@pytest.mark.parametrize(
    "task,epochs,length",
    [("rte", 10.0, 128), ("sts", 10.0, 128), ("squad", 2.0, 512), ("newsqa", 2.0, 512), ("chunk", 3.0, 256),
     ("cmrc2018", 3.0, 128), ("naturalqs", 3.0, 128), ("sst", 3.0, 128)],
)
def test_single_task_defaults(task, epochs, length):
    # "qa" matches newsqa/triviaqa/searchqa but not naturalqs, cmrc2018 or drcd (the original's rule)
    c = cfg(task_names=[task])
    assert (c.num_train_epochs, c.max_seq_length) == (epochs, length)


def test_size_defaults_and_user_values_win():
    large = cfg(task_names=["mnli"], model_size="large")
    assert (large.learning_rate, large.layerwise_lr_decay, large.embedding_size) == (5e-5, 0.9, None)
    user = cfg(task_names=["rte"], model_size="large", learning_rate=2e-5, num_train_epochs=4)
    assert (user.learning_rate, user.num_train_epochs) == (2e-5, 4)
    small = cfg(task_names=["cmrc2018"], embedding_size=256)
    assert small.embedding_size == 256


def test_squad_defaults_turn_off_test_outputs_unless_asked():
    assert cfg(task_names=["squad"]).write_test_outputs is False
    assert cfg(task_names=["squad"], write_test_outputs=True).write_test_outputs is True


def test_debug_defaults_apply_only_when_not_given():
    c = cfg(task_names=["rte"], debug=True, num_train_epochs=1)
    assert c.log_examples and c.iterations_per_loop == 1 and c.num_train_epochs == 1


def test_unknown_hparam_names_the_closest():
    with pytest.raises(ConfigError, match=r"Unknown hparam 'learning_rat'.*Did you mean 'learning_rate'"):
        cfg(learning_rat=1e-4)


@pytest.mark.parametrize("name", ["my_task", "a,b"])
def test_task_names_the_original_could_not_handle(name):
    with pytest.raises(ConfigError, match="use '-' instead"):
        cfg(task_names=[name])


def test_parse_hparams_json_string_and_files(tmp_path, caplog):
    assert parse_hparams('{"task_names": ["sst"]}') == {"task_names": ["sst"]}
    path = tmp_path / "params.json"
    path.write_text('{"learning_rate": 3e-4}')
    assert parse_hparams(str(path)) == {"learning_rate": 3e-4}
    other = tmp_path / "params.hparams"
    other.write_text('{"learning_rate": 1e-4}')
    assert parse_hparams(str(other)) == {"learning_rate": 1e-4}
    with pytest.raises(ConfigError, match="not found"):
        parse_hparams(str(tmp_path / "missing.json"))


def test_hfl_readme_params_with_trailing_comma_is_explained(tmp_path):
    path = tmp_path / "params_cmrc2018.json"
    path.write_text('{"task_names": ["cmrc2018"], "eval_batch_size": 32,\n}')
    with pytest.raises(ConfigError, match=r"params_cmrc2018.json: not valid JSON at line 2.*trailing comma"):
        parse_hparams(str(path))


def test_every_shipped_params_file_is_valid():
    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")
    files = [f for f in os.listdir(folder) if f.startswith("params_") and f.endswith(".json")
             and not f.startswith("params_pretraining")]
    assert len(files) >= 19
    for name in files:
        hparams = parse_hparams(os.path.join(folder, name))
        config = FinetuningConfig("m", "/d", **hparams)
        if name != "params_quickstart.json":
            assert name == f"params_{config.task_names[0]}.json"
        json.dumps(config.to_dict())


def test_every_shipped_pretraining_params_file_is_valid(tmp_path):
    """configs/pretrain_*.json and params_pretraining_*.json are run_pretraining.py hparams."""
    from electra_tf.pretraining.config import PretrainingConfig

    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")
    files = [f for f in os.listdir(folder) if f.startswith(("pretrain_", "params_pretraining")) and f.endswith(".json")]
    assert {"pretrain_quickstart.json", "params_pretraining_cpu.json"} <= set(files)
    for name in files:
        config = PretrainingConfig("m", str(tmp_path), **parse_hparams(os.path.join(folder, name)))
        assert config.num_train_steps > config.num_warmup_steps, name
