"""--hparams of the run commands: a JSON object given as a string or a file.

The file is looked up as given, then among the shipped hparams files (``configs/``, installed as
``electra_tf/configs``), so the original README's ``--hparams params_cmrc2018.json`` works. Used by
``finetune`` and ``pretrain`` (``cli/run_training.py``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

from electra_tf.errors import ConfigError
from electra_tf.utils.files import invalid_utf8_message


def _configs_dir() -> str:
    """Where the shipped hparams files are: ``electra_tf/configs/`` in an installed package
    (``pip install .`` copies the repository's ``configs/`` there, see setup.py), else the
    repository's ``configs/`` next to the package (a checkout, or ``pip install -e .``)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = os.path.join(package, "configs")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(package), "configs")


CONFIGS_DIR = _configs_dir()


def _find_hparams_file(value: str) -> str:
    """The file ``value`` names: as given, else the same name in the repository's ``configs/``
    (so the original README's ``--hparams params_cmrc2018.json`` works from the repository root)."""
    import logging

    if os.path.isfile(value):
        return value
    shipped = os.path.join(CONFIGS_DIR, value)
    if not os.path.isabs(value) and os.path.isfile(shipped):
        logging.getLogger("electra_tf").info("Reading --hparams from %s (not found in the working directory).", shipped)
        return shipped
    where = CONFIGS_DIR if os.path.isdir(CONFIGS_DIR) else "the shipped configs (not found: reinstall electra-tf)"
    raise ConfigError(f"--hparams file not found: {value} (nor in {where}).")


def parse_hparams(value: str) -> Dict[str, Any]:
    """--hparams: a JSON string, a path ending in .json (looked up in configs/ too), or (an
    extension) any existing file path. A UTF-8 byte-order mark at the start is ignored."""
    import logging

    text, source = value, "--hparams"
    stripped = value.lstrip("\ufeff \t\r\n")
    looks_like_json = stripped[:1] in ("{", "[", '"') or stripped in ("true", "false", "null") or stripped[:1].isdigit()
    if value.endswith(".json") or (not looks_like_json and (os.path.isfile(value) or os.path.isfile(os.path.join(CONFIGS_DIR, value + ".json")))):
        if not value.endswith(".json") and not os.path.isfile(value):
            raise ConfigError(f"--hparams file not found: {value}; did you mean {value}.json?")
        path = _find_hparams_file(value)
        if not path.endswith(".json"):
            logging.getLogger("electra_tf").warning(
                "Reading --hparams from %s (the original only reads files ending in .json).", path)
        try:
            with open(path, encoding="utf-8-sig") as f:  # utf-8-sig: a byte-order mark is dropped
                text = f.read()
        except UnicodeDecodeError as e:
            raise ConfigError(invalid_utf8_message(path, e)) from None
        source = path
    elif not looks_like_json and stripped and os.sep not in stripped and " " not in stripped:
        # A bare word is neither JSON nor an existing file: say that, not "a trailing comma?".
        raise ConfigError(f"--hparams {value!r} is neither a JSON object nor an existing file; pass a JSON object "
                          f"such as '{{\"task_names\": [\"sst\"]}}' or a path to a .json file.")
    text = text.lstrip("\ufeff")
    too_deep = (f"{source}: the JSON is nested more than {MAX_HPARAMS_DEPTH} levels deep; no hparam needs more than a "
                f"few (e.g. task_config -> task -> files -> split), so the file is probably damaged or generated wrongly.")
    try:
        hparams = json.loads(text)
    except RecursionError:
        raise ConfigError(too_deep) from None
    except json.JSONDecodeError as e:
        hint = " (a trailing comma? HFL's README example has one after the last entry)" if "double quotes" in e.msg or "Expecting value" in e.msg else ""
        raise ConfigError(f"{source}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}{hint}.") from None
    if not isinstance(hparams, dict):
        raise ConfigError(f"{source}: --hparams must be a JSON object, got {type(hparams).__name__}.")
    if nesting_depth(hparams) > MAX_HPARAMS_DEPTH:
        raise ConfigError(too_deep)  # deeper values break later (copies, comparisons, JSON writes) with RecursionError
    return hparams


MAX_HPARAMS_DEPTH = 32  # levels of JSON objects / arrays in --hparams


def nesting_depth(value: Any) -> int:
    """How many levels of lists / dicts ``value`` has (iterative: any depth is measured safely)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_HPARAMS_DEPTH:
            return deepest  # enough to refuse; the rest need not be walked
        stack.extend((child, depth + 1) for child in children)
    return deepest
