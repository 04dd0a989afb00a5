"""ElectraConfig: sources, the original size derivation, presets and clear errors."""

import json

import pytest

from electra_tf.config import PRESETS, ElectraConfig
from electra_tf.errors import ConfigError


def test_reads_hfl_discriminator_json_with_hf_generic_keys(tmp_path):
    # HFL's config/small_ex_discriminator_config.json, as published.
    values = {
        "attention_probs_dropout_prob": 0.1, "directionality": "bidi", "embedding_size": 256, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 256, "initializer_range": 0.02, "intermediate_size": 1024,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "electra", "num_attention_heads": 4,
        "num_hidden_layers": 24, "pad_token_id": 0, "summary_activation": "gelu", "summary_last_dropout": 0.1,
        "summary_type": "first", "summary_use_proj": True, "type_vocab_size": 2, "vocab_size": 21128,
    }
    path = tmp_path / "discriminator.json"
    path.write_text(json.dumps(values))
    assert ElectraConfig.from_json_file(str(path)) == ElectraConfig.preset("hfl-small-ex")


def test_hf_config_json_round_trip(tmp_path):
    config = ElectraConfig(num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, head="electra", head_options={"beam_size": 5})
    path = tmp_path / "config.json"
    config.to_json_file(str(path))
    data = json.loads(path.read_text())
    assert data["model_type"] == "electra" and data["id2label"] == {"0": "a", "1": "b", "2": "c"}
    assert ElectraConfig.from_json_file(str(path)) == config


def test_bert_style_config_without_embedding_size_uses_hidden_size():
    config = ElectraConfig.from_dict({"hidden_size": 64, "num_attention_heads": 1, "intermediate_size": 256})
    assert config.embedding_size == 64 and not config.has_embeddings_project


@pytest.mark.parametrize(
    "size,expected",
    [
        ("small", dict(hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024, embedding_size=256)),
        ("base", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, embedding_size=768)),
        ("large", dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096, embedding_size=1024)),
    ],
)
def test_original_size_derivation(size, expected):
    config = ElectraConfig.from_finetuning_hparams(size)
    for key, value in expected.items():
        assert getattr(config, key) == value, key


def test_original_small_with_embedding_size_matches_google_small():
    # The original sets embedding_size=128 for model_size small (configure_finetuning.py).
    assert ElectraConfig.from_finetuning_hparams("small", embedding_size=128) == ElectraConfig.preset("google-small")


def test_overrides_are_applied_twice_as_in_the_original():
    # Overriding hidden_size recomputes heads and intermediate size...
    c = ElectraConfig.from_finetuning_hparams("base", model_hparam_overrides={"hidden_size": 512})
    assert (c.num_attention_heads, c.intermediate_size) == (8, 2048)
    # ...but an explicit head count wins because of the second update.
    c = ElectraConfig.from_finetuning_hparams("base", model_hparam_overrides={"hidden_size": 512, "num_attention_heads": 4})
    assert c.num_attention_heads == 4


def test_hfl_small_ex_from_hparams():
    c = ElectraConfig.from_finetuning_hparams(
        "small", vocab_size=21128, embedding_size=256, model_hparam_overrides={"num_hidden_layers": 24}
    )
    assert c == ElectraConfig.preset("hfl-small-ex")


def test_presets_are_valid_and_complete():
    expected = {"google-small", "google-base", "google-large", "hfl-small", "hfl-small-ex", "hfl-base", "hfl-large",
                "koelectra-v3-small", "koelectra-v3-base"}
    assert set(PRESETS) == expected
    assert ElectraConfig.preset("hfl-base").vocab_size == 21128
    assert ElectraConfig.preset("koelectra-v3-small").vocab_size == 35000


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 256, "num_hiden_layers": 3}))
    with pytest.raises(ConfigError, match=r"config.json.*'num_hiden_layers'.*Did you mean 'num_hidden_layers'"):
        ElectraConfig.from_json_file(str(path))


def test_hidden_not_divisible_by_heads_is_an_error():
    with pytest.raises(ConfigError, match="not divisible by num_attention_heads"):
        ElectraConfig(hidden_size=100, num_attention_heads=3)


@pytest.mark.parametrize("field,value", [("vocab_size", 0), ("hidden_dropout_prob", 1.5), ("hidden_act", "gelu2"), ("layer_norm_eps", 0.0)])
def test_impossible_values_are_errors(field, value):
    with pytest.raises(ConfigError, match=field):
        ElectraConfig(**{field: value})


def test_unknown_model_size_and_preset():
    with pytest.raises(ConfigError, match="model_size 'medium'"):
        ElectraConfig.from_finetuning_hparams("medium")
    with pytest.raises(ConfigError, match="Did you mean 'hfl-base'"):
        ElectraConfig.preset("hfl-bsae")


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "hidden_size": 256,\n}\n')
    with pytest.raises(ConfigError, match=r"config.json: not valid JSON \(line 3"):
        ElectraConfig.from_json_file(str(path))
