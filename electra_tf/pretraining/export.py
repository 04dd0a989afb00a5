"""Writing a pre-trained model in the original TF1 layout (``model.ckpt-<step>`` in model_dir).

One checkpoint holds both networks under the original's variable names (§6.5: ``electra/...``,
``generator/...``, ``generator_predictions/...``, ``discriminator_predictions/...``), the
``global_step`` and, when given, the Adam slots ``<name>/adam_m`` and ``<name>/adam_v``, so
the original code (and ``run_finetuning.py --model-name <same name>``) can restore it. Beside it:
the ``checkpoint`` state file, ``discriminator.json`` and ``generator.json`` (HF configs) and a
copy of the vocabulary.
"""

from __future__ import annotations

import os
import shutil
from typing import Optional

import numpy as np


def write_pretraining_checkpoint(model, directory: str, step: int, optimizer=None, vocab_file: Optional[str] = None,
                                 prefix_name: str = "model.ckpt") -> str:
    """Save ``model`` (a PretrainingModel) as ``<directory>/<prefix_name>-<step>``; returns the prefix."""
    import tensorflow as tf

    from electra_tf.utils.files import atomic_write_text

    os.makedirs(directory, exist_ok=True)
    tensors = {name: np.asarray(variable.numpy()) for name, variable in model.tf1_weights()}
    if optimizer is not None:
        slots = dict(zip(optimizer.names, zip(optimizer.adam_m, optimizer.adam_v)))
        for name in list(tensors):
            if name in slots:
                m, v = slots[name]
                tensors[f"{name}/adam_m"] = m.numpy()
                tensors[f"{name}/adam_v"] = v.numpy()
    tensors["global_step"] = np.asarray(step, np.int64)
    names = sorted(tensors)
    base = f"{prefix_name}-{int(step)}"
    prefix = os.path.join(directory, base)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    atomic_write_text(os.path.join(directory, "checkpoint"),
                      f'model_checkpoint_path: "{base}"\nall_model_checkpoint_paths: "{base}"\n')
    model.disc_config.to_json_file(os.path.join(directory, "discriminator.json"), architectures=["ElectraForPreTraining"])
    if model.generator is not None:
        model.gen_config.to_json_file(os.path.join(directory, "generator.json"), architectures=["ElectraForMaskedLM"])
    if vocab_file and os.path.isfile(vocab_file):
        target = os.path.join(directory, os.path.basename(vocab_file))
        if os.path.abspath(vocab_file) != os.path.abspath(target):
            shutil.copyfile(vocab_file, target)
    return prefix


HF_DIRECTORY = "hf"


class _Network:
    """One network of a PretrainingModel as the HF writer sees a model: ``config``,
    ``hf_architecture`` and canonical ``hf_weights()``."""

    def __init__(self, config, architecture: str, refs):
        self.config = config
        self.hf_architecture = architecture
        self._refs = list(refs)

    def hf_weights(self):
        return list(self._refs)


def hf_networks(model):
    """{"discriminator": ..., "generator": ...} views of a PretrainingModel for the HF writer: the
    discriminator as ``ElectraForPreTraining`` (not with the MLM-only objective, which trains no
    discriminator head), the generator as ``ElectraForMaskedLM`` with the shared embedding block
    (none for the uniform generator; the discriminator's body under ``untied_generator`` false)."""
    networks = {}
    if model.has_discriminator:
        networks["discriminator"] = _Network(model.disc_config, "ElectraForPreTraining", model.discriminator_refs())
    if model.generator_predictions is not None:
        config = model.gen_config if model.generator is not None else model.disc_config
        networks["generator"] = _Network(config, "ElectraForMaskedLM", model.generator_refs())
    return networks


def write_hf_pretrained(model, directory: str, vocab_file: Optional[str] = None, do_lower_case: bool = True):
    """Write ``<directory>/hf/discriminator`` and ``<directory>/hf/generator`` (config.json,
    model.safetensors, vocab.txt, tokenizer_config.json) with the checkpoint registry's HF writer,
    each folder replaced atomically. Returns {network: path}."""
    from electra_tf.checkpoints.hf import write_hf_directory
    from electra_tf.utils.files import save_directory_atomically

    written = {}
    for name, network in hf_networks(model).items():
        path = os.path.join(directory, HF_DIRECTORY, name)
        save_directory_atomically(
            lambda tmp, network=network: write_hf_directory(network, tmp, vocab_file=vocab_file,
                                                             do_lower_case=do_lower_case), path)
        written[name] = path
    return written
