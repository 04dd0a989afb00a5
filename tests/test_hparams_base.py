"""The one hparams mechanism (electra_tf/utils/hparams.py) behind fine-tuning and pre-training.

Both config classes derive from it and keep their messages: an unknown hparam names the closest
one, a wrong type names the default, the choices name the allowed values; the per-class rules
(null accepted, finite floats, string-or-bool hparams) are class attributes.
"""

import math

import pytest

from electra_tf.errors import ConfigError
from electra_tf.finetuning.hparams import FinetuningConfig
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.utils.hparams import Hparams

MODEL = "electra_small"


class Toy(Hparams):
    DEFAULTS = {"rate": 0.5, "steps": 3, "flag": False, "mode": "auto", "items": [], "maybe": None}
    PATHS = ("out_dir",)
    READ_FIRST = ("items",)
    STR_OR_BOOL = ("mode",)

    def __init__(self, **kwargs):
        self.model_name, self.out_dir = "toy", "/tmp/out"
        self.set_defaults(kwargs)
        self.update(kwargs)
        self.check_types()


def test_both_config_classes_share_the_base():
    assert issubclass(FinetuningConfig, Hparams) and issubclass(PretrainingConfig, Hparams)
    for cls in (FinetuningConfig, PretrainingConfig):
        assert "update" not in vars(cls) and "check_types" not in vars(cls)  # not written twice


def test_defaults_are_fresh_copies_and_names_listed():
    a, b = Toy(), Toy()
    a.items.append(1)
    assert b.items == [] and Toy.DEFAULTS["items"] == []
    assert Toy.hparam_names() == ["model_name", "rate", "steps", "flag", "mode", "items", "maybe", "out_dir"]
    assert Toy(steps=4).to_dict()["steps"] == 4


def test_unknown_hparam_names_the_closest_and_sets_nothing():
    toy = Toy()
    with pytest.raises(ConfigError, match=r"Unknown hparam 'stesp'\. Did you mean 'steps'\?"):
        toy.update({"rate": 0.1, "stesp": 2})
    assert toy.rate == 0.5


@pytest.mark.parametrize("name, value", [("rate", "0.1"), ("rate", True), ("steps", 2.0), ("flag", 1), ("mode", 3),
                                         ("items", {}), ("steps", None)])
def test_wrong_types_name_the_default(name, value):
    kind = {"rate": "a number", "steps": "an integer", "flag": "true or false", "mode": "true, false or a string",
            "items": "a list"}[name]
    with pytest.raises(ConfigError, match=rf"hparam {name} must be {kind} \(like its default"):
        Toy(**{name: value})


def test_type_rules():
    assert Toy(rate=2, mode=True, maybe="anything").rate == 2  # an int passes as a float; no default type: anything
    assert Toy(rate=math.nan).rate != Toy().rate  # FINITE_FLOATS off: NaN is the subclass's business

    class Strict(Toy):
        ALLOW_NULL = True
        FINITE_FLOATS = True

    assert Strict(steps=None).steps is None
    with pytest.raises(ConfigError, match="hparam rate must be a number"):
        Strict(rate=math.inf)


def test_choices_name_the_allowed_values():
    toy = Toy(mode="fsat")
    with pytest.raises(ConfigError, match=r"hparam mode must be one of auto, fast, slow, got 'fsat'\..*'fast'"):
        toy.check_choices({"mode": ("auto", "fast", "slow")})
    toy.mode = "fast"
    toy.check_choices({"mode": ("auto", "fast", "slow")})


def test_the_config_classes_keep_their_messages(tmp_path):
    data = str(tmp_path)
    with pytest.raises(ConfigError, match=r"Unknown hparam 'learning_rat'\. Did you mean 'learning_rate'\?"):
        FinetuningConfig(MODEL, data, task_names=["sst"], learning_rat=1e-4)
    with pytest.raises(ConfigError, match=r"Unknown hparam 'max_predictions_per_seq'\. It is derived as int"):
        PretrainingConfig(MODEL, data, max_predictions_per_seq=3)
    with pytest.raises(ConfigError, match=r"hparam num_train_epochs must be a number \(like its default 3\.0\), got '3'"):
        FinetuningConfig(MODEL, data, task_names=["sst"], num_train_epochs="3")
    with pytest.raises(ConfigError, match=r"hparam temperature must be a number \(like its default 1\.0\), got nan"):
        PretrainingConfig(MODEL, data, temperature=math.nan)
    assert PretrainingConfig(MODEL, data, keep_checkpoint_max=None).keep_checkpoint_max is None
    with pytest.raises(ConfigError, match="hparam keep_checkpoint_max must be an integer"):
        FinetuningConfig(MODEL, data, task_names=["sst"], keep_checkpoint_max=None)
    with pytest.raises(ConfigError, match="hparam mixed_precision must be one of float32, "):
        PretrainingConfig(MODEL, data, mixed_precision="fp16")
    with pytest.raises(ConfigError, match="hparam mixed_precision must be one of float32, "):
        FinetuningConfig(MODEL, data, task_names=["sst"], mixed_precision="fp16")
    assert FinetuningConfig(MODEL, data, task_names=["sst"], jit_compile="auto").jit_compile == "auto"
    with pytest.raises(ConfigError, match="hparam jit_compile must be true or false"):
        PretrainingConfig(MODEL, data, jit_compile="auto")
