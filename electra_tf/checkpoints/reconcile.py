"""Reconciling the fine-tuning hparams with the pre-trained checkpoint, and loading its encoder.

The original builds the encoder from the hparams (model_size, vocab_size, embedding_size,
model_hparam_overrides) and restores the checkpoint into it; a mismatch there is a shape error
deep inside TF. Here the checkpoint's own config (read through its format in ``registry``) wins
for the fields the user did not set, and an explicit hparam that contradicts it is an error
naming the hparam. Used by ``finetuning.runner``.

The tokenizer settings follow the same rule, except that a contradiction is a warning (the
user's value wins): ``resolve_tokenizer_settings``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Dict, Mapping, Optional, Tuple

from electra_tf.checkpoints.registry import detect_format
from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError, ConfigError

logger = logging.getLogger("electra_tf")


def checkpoint_config(path: str) -> Optional[ElectraConfig]:
    """The encoder config stored with (or inferred from) a pre-trained checkpoint of any format.

    TF1 checkpoints without a config file get the config inferred from their shapes; a config
    file beside them is checked against the shapes (a contradiction names the value to fix).
    """
    return detect_format(path).read_config(path, model_type="base")


_SIZE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


def resolve_model_config(config) -> ElectraConfig:
    """The encoder the original would build from the hparams, reconciled with the checkpoint.

    Fields the user set explicitly (model_size, vocab_size, embedding_size,
    model_hparam_overrides) must agree with the checkpoint: a disagreement is an error naming
    the hparam. Defaulted fields take the checkpoint's value (the original would have failed
    with a shape mismatch in init_from_checkpoint).
    """
    user = config.user_hparams
    if config.debug:
        # FinetuningModel's debug model; it is trained from scratch (see FinetuningRunner.load_pretrained).
        return ElectraConfig.from_finetuning_hparams(config.model_size, config.vocab_size, config.embedding_size,
                                                     config.model_hparam_overrides, debug=True)
    derived = ElectraConfig.from_finetuning_hparams(
        config.model_size, config.vocab_size, config.embedding_size, config.model_hparam_overrides)
    init = config.init_checkpoint
    if not init or not os.path.exists(init) and not os.path.exists(init + ".index"):
        if init:
            raise CheckpointError(
                f"Pre-trained model not found: {init}. Put the checkpoint in <data-dir>/models/<model-name>/ "
                f"(an original TF1 checkpoint, a HuggingFace directory or an electra-tf directory)."
            )
        return derived
    stored = checkpoint_config(init)
    explicit = {}
    if "vocab_size" in user:
        explicit["vocab_size"] = "vocab_size"
    if "embedding_size" in user or ("model_size" in user and config.model_size == "small"):
        explicit["embedding_size"] = "embedding_size" if "embedding_size" in user else "model_size (small implies embedding_size 128)"
    if "model_size" in user:
        explicit.update({f: "model_size" for f in _SIZE_FIELDS})
    for key in config.model_hparam_overrides:
        explicit[key] = f"model_hparam_overrides.{key}"
    changes = {}
    for field in ("vocab_size", "embedding_size", *_SIZE_FIELDS, "max_position_embeddings", "type_vocab_size"):
        want, have = getattr(derived, field), getattr(stored, field)
        if want == have:
            continue
        if field in explicit:
            if field == "num_attention_heads" and "num_attention_heads" not in config.model_hparam_overrides:
                changes[field] = have  # heads cannot be read from TF1 shapes; the stored config wins
                continue
            raise ConfigError(
                f"The hparam {explicit[field]} gives {field}={want}, but the checkpoint {init} has {field}={have}; "
                f"change the hparam (or remove it to use the checkpoint's value)."
            )
        changes[field] = have
    for field in ("hidden_act", "layer_norm_eps"):
        changes[field] = getattr(stored, field)
    # dropout and other overrides of the user stay as the hparams say
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if key in config.model_hparam_overrides:
            changes[key] = config.model_hparam_overrides[key]
    return derived.replace(**changes)


def load_pretrained_encoder(model, path: str, model_config: ElectraConfig,
                            model_classes: Optional[Mapping[str, type]] = None):
    """Assign the encoder weights of the pre-trained checkpoint ``path`` to ``model`` (the
    fine-tuning model; its task heads stay freshly initialised); return the LoadReport.

    ``model_config`` is the reconciled config (resolve_model_config), which the checkpoint is
    read with; ``model_classes`` are needed only for an electra-tf Keras directory.
    """
    from electra_tf.checkpoints.state import assign_state

    _, state, skipped = detect_format(path).read(path, config=model_config, model_type="base",
                                                 model_classes=model_classes)
    return assign_state(model, state, source=path, skip_reasons=skipped)


# ---------------------------------------------------------------------------- tokenizer settings
#: the tokenizer settings a checkpoint can record, with the original's values (its FullTokenizer
#: lowercases, strips accents exactly when lowercasing, and splits CJK characters)
TOKENIZER_DEFAULTS: Dict[str, Any] = {"do_lower_case": True, "strip_accents": None, "tokenize_chinese_chars": True}
_TOKENIZER_TYPES = {"do_lower_case": (bool,), "strip_accents": (bool, type(None)), "tokenize_chinese_chars": (bool,)}


@dataclasses.dataclass(frozen=True)
class TokenizerSettings:
    """How the fine-tuning text is tokenized. ``strip_accents`` None follows ``do_lower_case``
    (the original; HF's ``tokenizer_config.json`` means the same by null)."""

    do_lower_case: bool = True
    strip_accents: Optional[bool] = None
    tokenize_chinese_chars: bool = True

    def as_kwargs(self) -> Dict[str, Any]:
        """The keyword arguments of ``text.tokenizer.build_tokenizer``."""
        return dataclasses.asdict(self)


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a readable JSON file ({e}); fix or remove it (the tokenizer settings of the "
                          f"checkpoint are read from it).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object; fix or remove it.")
    return data


def checkpoint_tokenizer_settings(path: str) -> Tuple[Dict[str, Any], Optional[str]]:
    """The tokenizer settings a pre-trained checkpoint records, and the file that records them.

    An electra-tf model directory records them in ``task.json`` (its ``tokenizer`` section), an
    HF directory (and an electra-tf one) in ``tokenizer_config.json``; keys of TOKENIZER_DEFAULTS
    only, the first file having a key wins. An original TF1 checkpoint has neither: ({}, None).
    A value of the wrong type is a ConfigError naming the file and key.
    """
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    found: Dict[str, Any] = {}
    source = None
    for name, section in (("task.json", "tokenizer"), ("tokenizer_config.json", None)):
        file = os.path.join(directory, name)
        if not os.path.isfile(file):
            continue
        data = _read_json(file)
        if section:
            data = data.get(section)
            if not isinstance(data, dict):
                continue
        for key, types in _TOKENIZER_TYPES.items():
            if key in data and key not in found:
                if not isinstance(data[key], types):
                    allowed = "true, false or null" if type(None) in types else "true or false"
                    raise ConfigError(f"{file}: {key} must be {allowed}, got {data[key]!r}; fix the file.")
                found[key] = data[key]
                source = source or file
    return found, source


def resolve_tokenizer_settings(config) -> TokenizerSettings:
    """The tokenizer settings of a fine-tuning run, and ``config.do_lower_case`` set to the one used.

    A setting the checkpoint records (``checkpoint_tokenizer_settings``) wins over the original's
    default; an explicit hparam ``do_lower_case`` that contradicts it wins too, with a warning
    naming both values (a vocabulary used with the wrong casing turns words into [UNK]). Without
    a recorded setting (an original TF1 checkpoint, debug mode) the hparams' values stay, as the
    original. The decision is logged.
    """
    init = None if config.debug else config.init_checkpoint
    recorded, source = checkpoint_tokenizer_settings(init) if init and os.path.exists(init) else ({}, None)
    user = config.user_hparams
    lower = bool(config.do_lower_case)
    origin = "the hparam" if "do_lower_case" in user else "the original's default"
    if "do_lower_case" in recorded:
        if "do_lower_case" not in user:
            lower, origin = recorded["do_lower_case"], source
        elif bool(user["do_lower_case"]) != recorded["do_lower_case"]:
            logger.warning("The hparam do_lower_case=%s contradicts the checkpoint's do_lower_case=%s (%s); using the "
                           "hparam's value. Remove the hparam to tokenize as the model was pre-trained.",
                           str(bool(user["do_lower_case"])).lower(), str(recorded["do_lower_case"]).lower(), source)
    config.do_lower_case = lower
    settings = TokenizerSettings(do_lower_case=lower, strip_accents=recorded.get("strip_accents"),
                                 tokenize_chinese_chars=recorded.get("tokenize_chinese_chars", True))
    logger.info("Tokenizer: do_lower_case=%s (%s), strip_accents=%s, tokenize_chinese_chars=%s%s", lower, origin,
                settings.strip_accents, settings.tokenize_chinese_chars,
                f" (recorded in {source})" if source else " (the checkpoint records no tokenizer settings)")
    return settings
