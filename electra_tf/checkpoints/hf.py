"""HuggingFace checkpoints: model.safetensors, pytorch_model.bin and tf_model.h5.

Reading needs no torch for safetensors (``safetensors.numpy``) and h5 (``h5py``); ``.bin`` files
are untrusted pickles and are opened only with ``torch.load(weights_only=True)``. Writing
produces a directory transformers 5.x loads with its ``ElectraFor*`` classes: ``config.json``,
``model.safetensors`` and, when a vocabulary is known, the tokenizer files.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Optional

import numpy as np

from electra_tf.checkpoints.base import RESTORE_FIX, CheckpointFormat
from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError
from electra_tf.utils.files import atomic_output_path, atomic_write_bytes, atomic_write_json, read_json_file

logger = logging.getLogger("electra_tf")

SAFETENSORS = "model.safetensors"
PYTORCH_BIN = "pytorch_model.bin"
TF_H5 = "tf_model.h5"
HF_WEIGHT_FILES = (SAFETENSORS, PYTORCH_BIN, TF_H5)
WEIGHT_FILE_SUFFIXES = (".safetensors", ".bin", ".h5", ".pt", ".pth")

# HF architecture (config.json "architectures") -> our model type.
ARCHITECTURE_MODEL_TYPES = {
    "ElectraForSequenceClassification": "sequence-classification",
    "ElectraForTokenClassification": "token-classification",
    "ElectraForQuestionAnswering": "question-answering",
    "ElectraForMaskedLM": "generator",
    "ElectraModel": "base",
}


def is_linear_weight(name: str, value: np.ndarray) -> bool:
    """PyTorch Linear weights are stored [out, in]; embeddings and LayerNorm are not transposed."""
    return name.endswith(".weight") and value.ndim == 2 and not name.rsplit(".", 2)[-2].endswith("embeddings")


def torch_layout_to_keras(state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """A PyTorch state dict in the Keras layout: Linear weights transposed to [in, out]."""
    return {k: (np.ascontiguousarray(v.T) if is_linear_weight(k, v) else v) for k, v in state.items()}


def keras_layout_to_torch(state: Dict[str, np.ndarray], kernel_names) -> Dict[str, np.ndarray]:
    """The inverse of ``torch_layout_to_keras`` for a model's state: ``kernel_names`` are transposed to
    PyTorch's [out, in]."""
    kernels = set(kernel_names)
    return {k: (np.ascontiguousarray(v.T) if k in kernels else np.ascontiguousarray(v)) for k, v in state.items()}


def find_weights_file(directory: str) -> Optional[str]:
    """The first HF weights file (``HF_WEIGHT_FILES``, safetensors first) in ``directory``, or None."""
    for name in HF_WEIGHT_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def read_safetensors(path: str) -> Dict[str, np.ndarray]:
    """All tensors of a ``model.safetensors`` file as NumPy arrays (a CheckpointError if it is corrupt)."""
    from safetensors.numpy import load_file

    try:
        return dict(load_file(path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: cannot read safetensors file ({e}); the file is corrupt or truncated.") from None


def read_pytorch_bin(path: str) -> Dict[str, np.ndarray]:
    """All tensors of a ``pytorch_model.bin`` as NumPy arrays; needs torch, which is imported only here."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"{path}: reading pytorch_model.bin needs torch (pip install torch==2.13.0). "
            f"Alternatively convert it to model.safetensors."
        ) from None
    try:
        # weights_only=True: a .bin file is a pickle, and an untrusted pickle can run code.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read PyTorch checkpoint safely ({e}).") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k: v.detach().cpu().float().numpy() if v.is_floating_point() else v.cpu().numpy() for k, v in state.items()}


def tf_h5_name_to_torch(name: str) -> str:
    """transformers 4.x TF name -> PyTorch name (HF's convert_tf_weight_name_to_pt_weight_name)."""
    name = name.split(":")[0]
    parts = name.split("/")
    parts = parts[1:]  # drop the Keras model scope (e.g. tf_electra_for_token_classification)
    name = "/".join(parts).replace("_._", ".")
    parts = name.split("/")
    last = parts[-1]
    if last in ("kernel", "embeddings", "gamma"):
        parts[-1] = "weight"
    elif last == "beta":
        parts[-1] = "bias"
    return ".".join(parts)


def read_tf_h5(path: str) -> Dict[str, np.ndarray]:
    """Read a transformers 4.x ``tf_model.h5`` (Keras 2 "layer_names" layout) in Keras layout."""
    import h5py

    state: Dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            layer_names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs.get("layer_names", [])]
            if not layer_names:
                raise CheckpointError(f"{path}: no 'layer_names' attribute; not a transformers TF h5 file.")

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    # name (relative to the top layer's group) = <model scope>/<path...>/<var>:0
                    state[tf_h5_name_to_torch(name)] = np.asarray(obj)

            for layer in layer_names:
                f[layer].visititems(visit)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read h5 file ({e}); the file is corrupt or truncated.") from None
    # TF kernels are already [in, out]; only the tied decoder weight name differs.
    return state


def read_hf_state(path: str) -> Dict[str, np.ndarray]:
    """Canonical state (Keras layout) from a HF weights file."""
    base = os.path.basename(path)
    if base.endswith(".safetensors"):
        return torch_layout_to_keras(read_safetensors(path))
    if base.endswith(".bin") or base.endswith(".pt") or base.endswith(".pth"):
        return torch_layout_to_keras(read_pytorch_bin(path))
    if base.endswith(".h5"):
        return read_tf_h5(path)
    raise CheckpointError(f"{path}: unknown weights file type; expected .safetensors, .bin or .h5.")


def heads_without_hf_equivalent(model):
    """(weight-name prefix, architecture written instead, why) when ``model`` has a head that
    transformers has no class for, else None: the original ELECTRA classification head (dropout
    -> dense on [CLS]; HF's has dense -> gelu -> out_proj), the original joint QA head, and a
    tagger's CRF (transformers' token classifier has none)."""
    config = model.config
    model_type = getattr(model, "model_type", None)  # pre-training's network views have none: no task head
    if model_type == "question-answering" and config.head == "electra":
        return ("qa_head.", "ElectraModel", "the original ELECTRA QA head (joint start/end with an answerability "
                "classifier) has no transformers equivalent; fine-tune with \"head\": \"hf\" for HF's QA head")
    if model_type == "token-classification" and config.head_options.get("crf"):
        return ("crf.", model.hf_architecture, "transformers' ElectraForTokenClassification has no CRF layer "
                "(the converted model decodes by argmax instead of Viterbi)")
    return None


#: GELU(z) == z in float32 for z >= this (erf(z / sqrt(2)) rounds to 1); the shift keeps a margin
_GELU_LINEAR_FROM = 10.0


def original_classifier_as_hf(state: Dict[str, np.ndarray], config: ElectraConfig) -> Dict[str, np.ndarray]:
    """``state`` with the original classification head (dropout -> dense W, b on [CLS]) rewritten as
    transformers' ElectraClassificationHead (dropout -> dense -> GELU -> dropout -> out_proj) with
    the same logits: ``dense`` is the identity plus a bias ``c`` and ``out_proj`` is ``W`` with bias
    ``b - c * sum_i W[i]``. The [CLS] vector is the last encoder layer's LayerNorm output, so each
    of its features lies within ``|gamma_i| * sqrt(hidden - 1) + |beta_i|`` (a normalized vector of
    H values has no entry beyond sqrt(H - 1)); ``c`` exceeds that bound by _GELU_LINEAR_FROM, where
    GELU is exactly the identity in float32, so GELU(x + c) = x + c for every input and the
    logits equal the original head's up to float rounding (Keras layout, [in, out] kernels)."""
    hidden = config.hidden_size
    last = f"electra.encoder.layer.{config.num_hidden_layers - 1}.output.LayerNorm."
    gamma, beta = state[last + "weight"].astype(np.float64), state[last + "bias"].astype(np.float64)
    shift = float(np.max(np.abs(gamma) * np.sqrt(hidden - 1) + np.abs(beta))) + _GELU_LINEAR_FROM
    kernel, bias = state["classifier.weight"], state["classifier.bias"]
    out = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    out["classifier.dense.weight"] = np.eye(hidden, dtype=kernel.dtype)
    out["classifier.dense.bias"] = np.full((hidden,), shift, dtype=bias.dtype)
    out["classifier.out_proj.weight"] = kernel
    out["classifier.out_proj.bias"] = (bias.astype(np.float64) - shift * kernel.astype(np.float64).sum(axis=0)).astype(bias.dtype)
    return out


def write_hf_directory(model, directory: str, vocab_file: Optional[str] = None, do_lower_case: bool = True,
                       allow_dropping_heads: bool = False) -> str:
    """Write config.json + model.safetensors (+ tokenizer files) for transformers 5.x.

    A head with no transformers equivalent (heads_without_hf_equivalent) is refused with a
    CheckpointError naming its weights, unless ``allow_dropping_heads``: then its weights are
    left out (and named in the log) and the config names the architecture that remains."""
    from safetensors.numpy import save_file

    from electra_tf.checkpoints.state import kernel_names, model_state

    state = model_state(model)
    architecture = model.hf_architecture
    config = model.config
    kernels = set(kernel_names(model))
    if getattr(model, "model_type", None) == "sequence-classification" and config.head == "electra":
        state = original_classifier_as_hf(state, config)
        kernels |= {"classifier.dense.weight", "classifier.out_proj.weight"}
        config = config.replace(head="hf")
        logger.info("The original classification head is written as transformers' ElectraClassificationHead "
                    "(dense = identity shifted into GELU's linear range, out_proj = the original dense): same logits.")
    dropped = heads_without_hf_equivalent(model)
    if dropped:
        prefix, architecture, why = dropped
        names = sorted(n for n in state if n.startswith(prefix))
        if not allow_dropping_heads:
            raise CheckpointError(f"Cannot convert to HuggingFace without losing weights: {why}. The weights "
                                  f"{', '.join(names)} would be dropped; pass --allow-dropping-heads (convert) or "
                                  f"allow_dropping_heads=True (save_pretrained) to write the rest anyway.")
        logger.warning("Dropped %d weights with no transformers equivalent (%s): %s", len(names), why, ", ".join(names))
        state = {n: v for n, v in state.items() if not n.startswith(prefix)}
        if prefix == "crf.":
            config = config.replace(head_options={k: v for k, v in config.head_options.items() if k != "crf"})
    os.makedirs(directory, exist_ok=True)
    state = keras_layout_to_torch(state, kernels)
    with atomic_output_path(os.path.join(directory, SAFETENSORS)) as tmp:
        save_file(state, tmp, metadata={"format": "pt"})
    config.to_json_file(os.path.join(directory, "config.json"), architectures=[architecture])
    if vocab_file:
        write_tokenizer_files(directory, vocab_file, do_lower_case)
    return directory


def write_tokenizer_files(directory: str, vocab_file: str, do_lower_case: bool = True,
                          strip_accents: Optional[bool] = None, tokenize_chinese_chars: bool = True) -> None:
    """vocab.txt + tokenizer_config.json, enough for AutoTokenizer / ElectraTokenizerFast (HF's
    ``strip_accents`` null means: strip exactly when lower-casing, as the original)."""
    target = os.path.join(directory, "vocab.txt")
    if os.path.abspath(vocab_file) != os.path.abspath(target):
        with open(vocab_file, "rb") as f:
            atomic_write_bytes(target, f.read())  # a failed copy never leaves half a vocabulary
    atomic_write_json(
        os.path.join(directory, "tokenizer_config.json"),
        {"tokenizer_class": "ElectraTokenizer", "do_lower_case": bool(do_lower_case),
         "strip_accents": None if strip_accents is None else bool(strip_accents),
         "tokenize_chinese_chars": bool(tokenize_chinese_chars), "model_max_length": 512},
    )


def read_tokenizer_files(directory: str):
    """(vocab.txt path or None, do_lower_case) of a model directory, as write_tokenizer_files left them."""
    vocab = os.path.join(directory, "vocab.txt")
    lower = True
    tokenizer_config = read_json_file(os.path.join(directory, "tokenizer_config.json"), CheckpointError, RESTORE_FIX)
    if isinstance(tokenizer_config, dict):
        lower = tokenizer_config.get("do_lower_case", True)
        if not isinstance(lower, bool):
            raise CheckpointError(f"{os.path.join(directory, 'tokenizer_config.json')}: do_lower_case must be true or "
                                  f"false, got {lower!r}; correct the file.")
    return (vocab if os.path.isfile(vocab) else None), lower


def read_hf_config_dict(directory: str) -> Optional[dict]:
    """The raw ``config.json`` of an HF model directory as a dict, or None without one."""
    return read_json_file(os.path.join(directory, "config.json"), CheckpointError, RESTORE_FIX)


def weights_path(path: str) -> str:
    """The weights file of a HF directory, or ``path`` itself when it is a weights file."""
    weights = path if os.path.isfile(path) else find_weights_file(path)
    if weights is None:
        raise CheckpointError(f"{path}: no {', '.join(HF_WEIGHT_FILES)} found.")
    return weights


class HFFormat(CheckpointFormat):
    """A HuggingFace directory (config.json + model.safetensors / pytorch_model.bin / tf_model.h5)
    or a bare HF weights file (its config.json beside it)."""

    name = "hf"
    description = "HuggingFace directory (config.json + model.safetensors), loadable by transformers"

    def detect(self, path: str) -> bool:
        """True for an HF weights file or a directory holding one."""
        if os.path.isfile(path):
            return path.endswith(WEIGHT_FILE_SUFFIXES)
        return os.path.isdir(path) and find_weights_file(path) is not None

    def read_config(self, path, model_type="base", config=None, task_name=None):
        """``config`` if given, else the ElectraConfig of the ``config.json`` beside the weights."""
        if config is not None:
            return config
        weights = weights_path(path)
        directory = os.path.dirname(weights)
        config_path = os.path.join(directory, "config.json")
        if not os.path.isfile(config_path):
            raise CheckpointError(f"{directory}: no config.json beside {os.path.basename(weights)}; pass a config.")
        return ElectraConfig.from_json_file(config_path)

    def read_state(self, path, config, model_type="base", task_name=None, model_classes=None):
        """The canonical state of the weights file (HF names are the canonical ones: nothing is skipped)."""
        return read_hf_state(weights_path(path)), {}

    def model_type(self, path: str) -> str:
        """The model type named by config.json's ``architectures``; "pretraining" when none is known."""
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        data = read_hf_config_dict(directory)
        architectures = data.get("architectures") if isinstance(data, dict) else None
        for arch in architectures if isinstance(architectures, list) else []:
            if arch in ARCHITECTURE_MODEL_TYPES:
                return ARCHITECTURE_MODEL_TYPES[arch]
        return "pretraining"

    def write(self, model, path: str, vocab_file: Optional[str] = None, do_lower_case: bool = True,
              allow_dropping_heads: bool = False, **options) -> str:
        """Write ``model`` as an HF directory (config.json, model.safetensors, tokenizer files); returns it."""
        return write_hf_directory(model, path, vocab_file=vocab_file, do_lower_case=do_lower_case,
                                  allow_dropping_heads=allow_dropping_heads)
