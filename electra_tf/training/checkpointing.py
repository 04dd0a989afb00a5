"""Training checkpoints: every weight by name, the dropout RNG states and the optimizer.

The checkpoint key layout is part of the on-disk format and must not change (existing
fine-tuned runs and other readers rely on it)::

    weights/by_name/<name>   one entry per named weight
    weights/rng_states       the Keras seed-generator states, in model order
    optimizer                slots, step counter, loss scale (training checkpoints only)

Explicit because tf.train.Checkpoint does not track Keras 3 layers kept in Python lists (the
encoder's layers) nor Keras seed generators; without the RNG states a resumed run would draw
different dropout masks than an uninterrupted one.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, List, Optional, Tuple, Union

RNG_STATE_MARKER = "seed_generator"  # Keras 3 names the state variable of a SeedGenerator so

NamedWeights = Union[None, Iterable[Tuple[str, object]], Callable[[], Iterable[Tuple[str, object]]]]


def default_named_weights(model) -> List[Tuple[str, object]]:
    """(variable path, variable) of every weight of a Keras model except the RNG states."""
    pairs = [(v.path, v) for v in model.weights if RNG_STATE_MARKER not in v.path]
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"Variable paths are not unique ({', '.join(duplicates)}); pass named_weights explicitly.")
    return pairs


def resolve_named_weights(model, named_weights: NamedWeights = None) -> List[Tuple[str, object]]:
    """The (name, variable) list of ``model``: ``named_weights`` called if callable, taken as a
    list otherwise, or the variable paths by default."""
    if named_weights is None:
        return default_named_weights(model)
    if callable(named_weights):
        named_weights = named_weights()
    return [(name, variable) for name, variable in named_weights]


def rng_state_variables(model) -> List:
    """The dropout RNG (Keras seed generator) states of ``model``, in model order."""
    return [v for v in model.non_trainable_variables if RNG_STATE_MARKER in v.path]


def training_checkpoint(model, optimizer=None, named_weights: NamedWeights = None):
    """A tf.train.Checkpoint naming every weight explicitly, the dropout RNG states (in model
    order) and, when given, the optimizer (slots, step, loss scale). See the module docstring
    for the key layout."""
    import tensorflow as tf

    from electra_tf.training.optimization import tf_variable

    weights = tf.Module(name="weights")
    weights.by_name = {name: tf_variable(variable) for name, variable in resolve_named_weights(model, named_weights)}
    weights.rng_states = [tf_variable(v) for v in rng_state_variables(model)]
    parts = {"weights": weights}
    if optimizer is not None:
        parts["optimizer"] = optimizer
    return tf.train.Checkpoint(**parts)


def latest_checkpoint(directory: str) -> Optional[str]:
    """The newest checkpoint prefix in ``directory``, or None (also when it does not exist)."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None


def checkpoint_step(prefix: str) -> int:
    """The step number of a ``ckpt-<step>`` prefix (0 when it has none)."""
    tail = prefix.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def restore_checkpoint(checkpoint, prefix: str, complete: bool = True):
    """Restore ``prefix`` into ``checkpoint``; a truncated, corrupt or mismatching checkpoint is a
    CheckpointError naming it (TensorFlow raised IndexError, DataLossError or an
    AssertionError listing unresolved objects). ``complete``: every saved value must be used
    (resuming training) rather than only every object of ``checkpoint`` (evaluating)."""
    from electra_tf.errors import CheckpointError

    try:
        status = checkpoint.restore(prefix)
        if complete:
            status.assert_consumed()
        else:
            status.expect_partial()  # e.g. the optimizer slots are not needed to evaluate
            status.assert_existing_objects_matched()
    except Exception as e:  # noqa: BLE001  (TensorFlow raises many types here)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise CheckpointError(
            f"The training checkpoint {prefix} cannot be restored ({type(e).__name__}: {first}). It is truncated or "
            f"corrupt, or was written by a model with other settings. Delete {prefix}.* and the 'checkpoint' file "
            f"entry to fall back to an earlier checkpoint, or set \"overwrite_model_dir\": true to start over."
        ) from None
    return status


def restore_weights(model, directory: str, named_weights: NamedWeights = None) -> Optional[int]:
    """Load the weights and RNG states of the newest checkpoint in ``directory`` into ``model``
    (the optimizer state is not needed to evaluate and is left out). Returns its step, or None
    when ``directory`` holds no checkpoint."""
    latest = latest_checkpoint(directory)
    if not latest:
        return None
    restore_checkpoint(training_checkpoint(model, named_weights=named_weights), latest, complete=False)
    return checkpoint_step(latest)


def remove_unfinished_saves(directory: str) -> List[str]:
    """Delete ``*_temp`` folders that a save interrupted by a crash or a full disk left behind
    (TensorFlow writes a checkpoint there, then renames it). Returns what was removed."""
    import shutil

    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith("_temp") and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def checkpoint_manager(checkpoint, directory: str, step_counter, max_to_keep: int, save_every_steps: int):
    """A tf.train.CheckpointManager of ``ckpt-<step>`` files numbered by ``step_counter``."""
    import tensorflow as tf

    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep, step_counter=step_counter,
                                      checkpoint_interval=save_every_steps)
