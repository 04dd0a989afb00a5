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

    from electra_tf.io_utils import atomic_write_text

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
