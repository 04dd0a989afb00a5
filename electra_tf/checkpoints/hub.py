"""Hugging Face Hub model ids (``owner/name``) for ``--model-name`` and ``from_pretrained``.

* ``from_pretrained("owner/name", revision=...)``: when no local path of that name exists, the
  checkpoint files are fetched with huggingface_hub into its cache (``HF_HOME``, default
  ``~/.cache/huggingface``) once; later loads use the cached copy, also offline (``HF_HUB_OFFLINE=1``
  skips the network entirely).
* fine-tuning ``--model-name owner/name`` (``model_revision`` pins a branch, tag or commit): when
  ``<data-dir>/models/owner/name`` does not exist, the files are fetched once into
  ``<data-dir>/models/owner--name/`` (``owner--name@<revision>`` for a pinned revision), where the
  run's outputs (``finetuning_models/``, ``results/``) then go too, as for a local model. A folder
  that holds the files is used as it is, without any network access.

Only the files a checkpoint needs are fetched (``HUB_FILES``). With no network, one message says
which files to put where, or to set ``HF_HUB_OFFLINE=1`` to use the cache.
"""

from __future__ import annotations

import json
import os
import re
from typing import Optional

from electra_tf.errors import CheckpointError

#: what is fetched: configs, weights in any format we read, vocabularies and tokenizer settings
HUB_FILES = ["config.json", "*.safetensors", "pytorch_model.bin", "tf_model.h5", "vocab.txt", "*.model",
             "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "*.index", "*.data-*",
             "checkpoint", "*.keras", "*.weights.h5", "electra_tf*.json"]
MARKER = ".electra_tf_hub.json"  # written last into a fetched folder: the fetch is complete
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` with the characters the Hub allows (no ``..``, no absolute or deeper paths)."""
    return bool(_HUB_ID.match(name or "")) and ".." not in name


def hub_folder(models_dir: str, repo_id: str, revision: Optional[str] = None) -> str:
    """``<models_dir>/owner--name`` (``owner--name@revision`` when pinned): where a fine-tuning
    run keeps the files of a Hub model."""
    folder = repo_id.replace("/", "--")
    if revision:
        folder += "@" + re.sub(r"[^A-Za-z0-9_.-]", "_", revision)
    return os.path.join(models_dir, folder)


def resolve_model_dir(models_dir: str, model_name: str, revision: Optional[str] = None, fetch: bool = True) -> str:
    """The local folder of ``model_name`` under ``models_dir``: ``models_dir/model_name`` when it
    exists or the name is no Hub id (the original behaviour), else the Hub folder, fetched first
    when ``fetch`` and not already complete."""
    local = os.path.join(models_dir, model_name)
    if os.path.exists(local) or not looks_like_hub_id(model_name):
        return local
    target = hub_folder(models_dir, model_name, revision)
    if fetch and not os.path.exists(os.path.join(target, MARKER)):
        download(model_name, revision, local_dir=target)
    return target


def download(repo_id: str, revision: Optional[str] = None, local_dir: Optional[str] = None) -> str:
    """Fetch ``HUB_FILES`` of ``repo_id`` at ``revision`` into ``local_dir`` (or the Hub cache);
    return the folder. Network and offline failures become one CheckpointError saying what to do."""
    import huggingface_hub
    from huggingface_hub import errors as hub_errors

    try:
        folder = huggingface_hub.snapshot_download(repo_id, revision=revision, local_dir=local_dir,
                                                   allow_patterns=HUB_FILES)
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError) as e:
        raise CheckpointError(f"Hugging Face Hub: {repo_id!r}{f' at revision {revision!r}' if revision else ''} "
                              f"was not found ({type(e).__name__}); check the model id and revision.") from None
    except Exception as e:  # no network, offline mode, proxy errors: all say the same thing
        if not _is_network_error(e):
            raise
        where = local_dir or "a local folder"
        raise CheckpointError(
            f"Could not download {repo_id!r} from the Hugging Face Hub ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
            f"Without network, copy the model's files (config.json, model.safetensors or pytorch_model.bin, vocab.txt) "
            f"into {where} and use that folder, or set HF_HUB_OFFLINE=1 to use a copy already in the "
            f"Hugging Face cache (HF_HOME).") from None
    if not any(name != MARKER and not name.startswith(".") for name in os.listdir(folder)):
        raise CheckpointError(f"Hugging Face Hub: {repo_id!r} has none of the files electra-tf reads "
                              f"({', '.join(HUB_FILES[:6])}, ...).")
    if local_dir:
        with open(os.path.join(local_dir, MARKER), "w", encoding="utf-8") as f:
            json.dump({"repo_id": repo_id, "revision": revision}, f)
    return folder


def _is_network_error(error: BaseException) -> bool:
    from huggingface_hub import errors as hub_errors

    network = (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled, ConnectionError, TimeoutError, OSError)
    try:
        import httpx

        network += (httpx.TransportError,)
    except ImportError:  # pragma: no cover - huggingface_hub depends on httpx
        pass
    return isinstance(error, network)


def resolve_pretrained_path(path: str, revision: Optional[str] = None) -> str:
    """``from_pretrained``'s path: itself when it exists locally (or is no Hub id), else the
    cached snapshot of the Hub model ``path`` (fetched once)."""
    if os.path.exists(path) or not looks_like_hub_id(path):
        if revision is not None and not looks_like_hub_id(path):
            raise CheckpointError(f"revision={revision!r} applies to Hugging Face Hub ids (owner/name), not to {path}.")
        return path
    return download(path, revision)
