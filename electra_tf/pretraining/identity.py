"""Which pre-training settings determine the trained model (see training/run_identity.py).

Our extension (the original resumed whatever its model_dir held, with the new settings). Every
hparam counts except those in NOT_TRAINING, which change what is evaluated, written, shown or
how the same updates are executed; the model sizes count through the resolved configurations,
the inputs (records, vocabulary, initial checkpoint) by content, not by location.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Mapping, Optional

from electra_tf.training.runtime import TPU_HPARAMS

NOT_TRAINING = frozenset({
    # what is evaluated, written or shown
    "do_train", "do_eval", "num_eval_steps", "eval_batch_size", "export_hf", "progress", "log_every_steps",
    "health_check_steps", "health_check_batches", "probe_task", "print_config",
    "do_lower_case",  # unused by pre-training, as the original (the dataset builder lower-cases)
    # how the run is executed (the same updates either way)
    "iterations_per_loop", "save_checkpoints_steps", "keep_checkpoint_max", "distribution_strategy",
    "cluster_resolver", "cluster_timeout_secs", "jit_compile", *TPU_HPARAMS,
    # locations (the inputs themselves are recorded by content)
    "model_name", "pretrain_tfrecords", "vocab_file", "model_dir", "results_txt", "results_pkl", "init_checkpoint",
})

WAYS_OUT = ("To train with the new settings, use another --model-name (or delete {folder}: its checkpoints are "
            "lost); to resume or keep this run, run with the settings it was trained with.")


def records_fingerprint(digests: Mapping[str, str]) -> str:
    """One digest of the record files' names and contents (not their folder: moving the data
    keeps the run's identity)."""
    import os

    h = hashlib.sha256()
    for name, digest in sorted((os.path.basename(path), digest) for path, digest in digests.items()):
        h.update(f"{name}:{digest};".encode())
    return h.hexdigest()[:24]


def training_settings(config, disc_config, gen_config, records: str, vocabulary: Optional[str],
                      init_contents: Optional[str]) -> Dict[str, Any]:
    """The settings recorded in (and compared with) a pre-training run's identity."""
    settings = {name: value for name, value in config.to_dict().items() if name not in NOT_TRAINING}
    settings["discriminator_config"] = disc_config.to_dict()
    settings["generator_config"] = gen_config.to_dict() if gen_config is not None else None
    settings["pretrain_data"] = records
    settings["vocabulary"] = vocabulary
    settings["init_checkpoint_contents"] = init_contents
    return settings
