"""The tokenizer settings of a fine-tuning run, reconciled with what the pre-trained checkpoint records.

A setting the checkpoint records wins over the original's default; an explicit hparam that
contradicts it wins too, with a warning (the user's value wins): ``resolve_tokenizer_settings``.
Used by ``finetuning.runner``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Dict, Optional, Tuple

from electra_tf.errors import ConfigError

logger = logging.getLogger("electra_tf")
file_logger = logging.getLogger("electra_tf.file")  # the run's log file only (cli/run_logging.py)

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
    # On the console when the checkpoint decided something; otherwise (the original's behaviour, e.g. a
    # TF1 checkpoint) in the run's log file only, so that a run's first console line stays its first step.
    (logger if source else file_logger).info(
        "Tokenizer: do_lower_case=%s (%s), strip_accents=%s, tokenize_chinese_chars=%s%s", lower, origin,
        settings.strip_accents, settings.tokenize_chinese_chars,
        f" (recorded in {source})" if source else " (the checkpoint records no tokenizer settings)")
    return settings
