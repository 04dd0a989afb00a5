"""ElectraConfig: the architecture of an ELECTRA encoder, and where it can come from.

A config can be read from a HuggingFace ``config.json``, from the ``discriminator.json`` /
``generator.json`` files shipped with the original (Google / HFL) checkpoints, or derived from
the original fine-tuning hparams (``model_size`` + ``embedding_size`` + ``vocab_size`` +
``model_hparam_overrides``) exactly as the original ``get_bert_config`` does. Field names are
HuggingFace's, so a config round-trips through ``config.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Optional

from electra_tf.errors import ConfigError, check_known_keys, closest
from electra_tf.utils.files import invalid_utf8_message

#: The original joint QA head's options (``ElectraConfig.head_options`` of a QA model with head
#: "electra") and their defaults, as the original's configure_finetuning set them.
QA_HEAD_DEFAULTS = {
    "joint_prediction": True,
    "beam_size": 20,
    "answerable_classifier": True,
    "answerable_uses_start_logits": True,
    "answerable_weight": 0.5,
    "qa_hidden_size": 512,
}

# Activations we implement. "gelu" is the exact erf form used by the original and by HF.
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh")

# Keys that HuggingFace's PretrainedConfig (or the HFL/Google json files) write but that do not
# describe the encoder. They are accepted when reading a file and otherwise ignored.
_GENERIC_KEYS = frozenset(
    {
        "architectures", "model_type", "transformers_version", "torch_dtype", "dtype",
        "directionality", "summary_activation", "summary_last_dropout", "summary_type",
        "summary_use_proj", "position_embedding_type", "use_cache", "bos_token_id",
        "eos_token_id", "sep_token_id", "output_past", "gradient_checkpointing",
        "is_decoder", "add_cross_attention", "tie_word_embeddings", "problem_type",
        "finetuning_task", "tokenizer_class", "output_hidden_states", "output_attentions",
        "return_dict", "chunk_size_feed_forward", "pruned_heads", "torchscript",
        "use_return_dict", "is_encoder_decoder", "prefix", "task_specific_params",
        "embedding_dim", "layer_norm_epsilon", "electra_tf", "tie_encoder_decoder",
        "cross_attention_hidden_size", "decoder_start_token_id", "keys_to_ignore_at_inference",
    }
)

# The original get_bert_config() sizes (util/training_utils.py).
_MODEL_SIZES = {
    "small": {"hidden_size": 256, "num_hidden_layers": 12},
    "base": {"hidden_size": 768, "num_hidden_layers": 12},
    "large": {"hidden_size": 1024, "num_hidden_layers": 24},
}


@dataclasses.dataclass
class ElectraConfig:
    """Every hyperparameter of the ELECTRA encoder (HuggingFace field names).

    Defaults are ELECTRA-small's discriminator, as in HuggingFace. ``num_labels``,
    ``id2label``/``label2id`` and ``classifier_dropout`` describe task heads, as in HF's
    config.json. ``head`` records which head variant a task model uses ("hf" or the original
    "electra" head) and ``head_options`` the original QA head's flags, so a saved fine-tuned
    model reloads with the same head.
    """

    vocab_size: int = 30522
    embedding_size: int = 128
    hidden_size: int = 256
    num_hidden_layers: int = 12
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    classifier_dropout: Optional[float] = None
    num_labels: int = 2
    id2label: Optional[Dict[int, str]] = None
    label2id: Optional[Dict[str, int]] = None
    head: str = "hf"
    head_options: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            if self.num_labels != len(self.id2label):
                # HF silently lets id2label win (and fails later in the loss); we refuse.
                raise ConfigError(
                    f"ElectraConfig: num_labels={self.num_labels} but id2label has {len(self.id2label)} entries; "
                    f"make them agree (or drop id2label)."
                )
            if self.label2id is None:
                self.label2id = {v: k for k, v in self.id2label.items()}
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ConfigError naming the field for any impossible value."""
        positive = (
            "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
            "num_attention_heads", "intermediate_size", "max_position_embeddings",
            "type_vocab_size", "num_labels",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"ElectraConfig.{name} must be a positive integer, got {value!r}.")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"ElectraConfig: hidden_size ({self.hidden_size}) is not divisible by "
                f"num_attention_heads ({self.num_attention_heads}); set num_attention_heads to a "
                f"divisor of hidden_size (the original uses hidden_size // 64 = "
                f"{max(1, self.hidden_size // 64)})."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ConfigError(f"ElectraConfig.{name} must be in [0, 1), got {value!r}.")
        if self.classifier_dropout is not None and not 0.0 <= float(self.classifier_dropout) < 1.0:
            raise ConfigError(f"ElectraConfig.classifier_dropout must be in [0, 1), got {self.classifier_dropout!r}.")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(
                f"ElectraConfig.hidden_act {self.hidden_act!r} is not supported; use one of {', '.join(ACTIVATIONS)}."
            )
        if not self.layer_norm_eps > 0:
            raise ConfigError(f"ElectraConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps!r}.")
        if self.head not in ("hf", "electra"):
            raise ConfigError(f"ElectraConfig.head must be 'hf' or 'electra', got {self.head!r}.")

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def field_names(cls):
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config", allow_generic: bool = True) -> "ElectraConfig":
        """Build a config from a mapping; unknown keys are an error naming the key and the source."""
        known = set(cls.field_names())
        kwargs = {}
        for key, value in values.items():
            if key in known:
                kwargs[key] = value
            elif allow_generic and (key in _GENERIC_KEYS or key.startswith("_")):
                continue
            else:
                check_known_keys(source, [key], known, "ELECTRA config key")
        ours = values.get("electra_tf")
        if isinstance(ours, Mapping):  # written by save_pretrained: our head settings
            for key in ("head", "head_options"):
                if key in ours:
                    kwargs[key] = ours[key]
        if kwargs.get("id2label") is not None and not isinstance(kwargs["id2label"], Mapping):
            raise ConfigError(f"{source}: id2label must be an object mapping label ids to names.")
        if kwargs.get("id2label") and "num_labels" not in kwargs:
            kwargs["num_labels"] = len(kwargs["id2label"])  # transformers 5 stores only id2label
        if "embedding_size" not in values and "hidden_size" in values:
            # BERT-style configs have no embedding_size: the embedding width is the hidden size.
            kwargs["embedding_size"] = values["hidden_size"]
        try:
            return cls(**kwargs)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None
        except (TypeError, ValueError, AttributeError) as e:  # wrong value types
            raise ConfigError(f"{source}: a value has the wrong type ({e}); see the ElectraConfig fields.") from None

    @classmethod
    def from_json_file(cls, path: str) -> "ElectraConfig":
        """Read a HuggingFace config.json or an original discriminator.json / generator.json."""
        if not os.path.isfile(path):
            raise ConfigError(f"Config file not found: {path}")
        try:
            with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is ignored
                values = json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); fix the file."
            ) from None
        except UnicodeDecodeError as e:
            raise ConfigError(invalid_utf8_message(path, e)) from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a JSON object, got {type(values).__name__}.")
        model_type = values.get("model_type")
        if model_type not in (None, "electra", "bert"):
            raise ConfigError(f"{path}: model_type is {model_type!r}, not an ELECTRA config.")
        return cls.from_dict(values, source=path)

    def to_dict(self) -> Dict[str, Any]:
        """HuggingFace-compatible dict (with our head settings under the 'electra_tf' key)."""
        d = dataclasses.asdict(self)
        d["head_options"] = dict(self.head_options)
        head, head_options = d.pop("head"), d.pop("head_options")
        if d["id2label"] is None:
            d["id2label"] = {i: f"LABEL_{i}" for i in range(self.num_labels)}
            d["label2id"] = {v: k for k, v in d["id2label"].items()}
        d["id2label"] = {str(k): v for k, v in d["id2label"].items()}
        d["model_type"] = "electra"
        d["electra_tf"] = {"head": head, "head_options": head_options}
        return d

    def to_json_file(self, path: str, architectures=None) -> None:
        d = self.to_dict()
        if architectures:
            d["architectures"] = list(architectures)
        from electra_tf.utils.files import atomic_write_text

        atomic_write_text(path, json.dumps(d, indent=2, sort_keys=True) + "\n")

    def replace(self, **changes) -> "ElectraConfig":
        """A copy with some fields changed (validated)."""
        check_known_keys("", sorted(changes), self.field_names(), "ELECTRA config key", list_known=False)
        if "num_labels" in changes and "id2label" not in changes and changes["num_labels"] != self.num_labels:
            changes.update(id2label=None, label2id=None)  # the old label names no longer apply
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ derived sizes
    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def has_embeddings_project(self) -> bool:
        return self.embedding_size != self.hidden_size

    # ------------------------------------------------------------------ original hparams
    @classmethod
    def from_finetuning_hparams(
        cls,
        model_size: str = "small",
        vocab_size: int = 30522,
        embedding_size: Optional[int] = None,
        model_hparam_overrides: Optional[Mapping[str, Any]] = None,
        debug: bool = False,
    ) -> "ElectraConfig":
        """The encoder the original run_finetuning.py builds from its hparams.

        Mirrors ``training_utils.get_bert_config``: size defaults, then the overrides, then heads
        = max(1, hidden // 64) and intermediate = 4 * hidden, then the overrides again (so an
        explicit head count or intermediate size wins). ``embedding_size=None`` means the
        hidden size (the original's "bert hidden size by default"). The original's debug model
        (3 layers, hidden 144) is available with ``debug=True``.
        """
        if model_size not in _MODEL_SIZES:
            raise ConfigError(
                f"Unknown model_size {model_size!r}; the original supports 'small', 'base' and 'large'."
                + closest(str(model_size), _MODEL_SIZES)
            )
        overrides = dict(model_hparam_overrides or {})
        check_known_keys("model_hparam_overrides", overrides, cls.field_names(), list_known=False)
        args: Dict[str, Any] = dict(_MODEL_SIZES[model_size])
        args["vocab_size"] = vocab_size
        args.update(overrides)
        args["num_attention_heads"] = max(1, args["hidden_size"] // 64)
        args["intermediate_size"] = 4 * args["hidden_size"]
        args.update(overrides)
        if debug:  # FinetuningModel's debug model
            args.update(num_hidden_layers=3, hidden_size=144, intermediate_size=144 * 4, num_attention_heads=4)
        args["embedding_size"] = embedding_size if embedding_size is not None else args["hidden_size"]
        if "embedding_size" in overrides:
            args["embedding_size"] = overrides["embedding_size"]
        return cls(**args)

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str) -> "ElectraConfig":
        """Config of a published discriminator checkpoint by short name (see PRESETS)."""
        if name not in PRESETS:
            raise ConfigError(f"Unknown preset {name!r}.{closest(name, PRESETS)} Presets: {', '.join(PRESETS)}.")
        return cls(**PRESETS[name])


def _size(vocab, emb, hidden, layers, heads, inter):
    return dict(vocab_size=vocab, embedding_size=emb, hidden_size=hidden, num_hidden_layers=layers,
                num_attention_heads=heads, intermediate_size=inter)


# Discriminators of the published checkpoints (the models people fine-tune).
PRESETS: Dict[str, Dict[str, Any]] = {
    "google-small": _size(30522, 128, 256, 12, 4, 1024),
    "google-base": _size(30522, 768, 768, 12, 12, 3072),
    "google-large": _size(30522, 1024, 1024, 24, 16, 4096),
    "hfl-small": _size(21128, 128, 256, 12, 4, 1024),
    "hfl-small-ex": _size(21128, 256, 256, 24, 4, 1024),
    "hfl-base": _size(21128, 768, 768, 12, 12, 3072),
    "hfl-large": _size(21128, 1024, 1024, 24, 16, 4096),
    "koelectra-v3-small": _size(35000, 128, 256, 12, 4, 1024),
    "koelectra-v3-base": _size(35000, 768, 768, 12, 12, 3072),
}
