"""Does a pre-training checkpoint fit the model the hparams describe?

As the original, the model hparams (size, overrides, embedding width, generator fractions, ...) are
not stored with the run: evaluating (``do_train`` false) or resuming needs them again. Given other
values, TensorFlow fails deep inside the restore (or, for fewer layers, silently evaluates half a
model). ``check_training_checkpoint`` compares the checkpoint's weights (names and shapes) with the
model's first and, when they differ, raises one ConfigError naming each hparam that differs, its
value in the checkpoint and the fix.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

from electra_tf.errors import ConfigError

Shapes = Dict[str, Tuple[int, ...]]

# ElectraConfig fields the hparams set: vocab_size and embedding_size directly, the others through
# model_size or model_hparam_overrides.
_TOP_LEVEL = ("vocab_size", "embedding_size")
_OVERRIDES = ("hidden_size", "num_hidden_layers", "intermediate_size", "max_position_embeddings", "type_vocab_size")


def checkpoint_weight_shapes(prefix: str) -> Shapes:
    """{TF1 weight name: shape} of the ``weights/by_name`` entries of a training checkpoint."""
    from electra_tf.checkpoints.tf1 import list_tf1_variables
    from electra_tf.checkpoints.training import weight_keys

    keys = weight_keys(prefix) or {}
    stored = list_tf1_variables(prefix)
    return {name: stored[key] for name, key in keys.items() if key in stored}


def model_weight_shapes(model) -> Shapes:
    """{TF1 weight name: shape} of a PretrainingModel."""
    return {name: tuple(int(d) for d in variable.shape) for name, variable in model.tf1_weights()}


def _layers(shapes: Shapes, scope: str) -> int:
    pattern = re.compile(rf"{scope}/encoder/layer_(\d+)/attention/self/query/kernel$")
    return len({m.group(1) for n in shapes for m in [pattern.match(n)] if m})


def _structure(shapes: Shapes) -> Dict[str, bool]:
    """Which parts a set of weights has (each is decided by an hparam)."""
    return {
        "generator network": any(n.startswith("generator/encoder/") for n in shapes),
        "generator head": any(n.startswith("generator_predictions/") for n in shapes),
        "generator's own embeddings": "generator/embeddings/word_embeddings" in shapes,
        "discriminator head": any(n.startswith("discriminator_predictions/") for n in shapes),
    }


_STRUCTURE_HPARAMS = {
    "generator network": "untied_generator / uniform_generator / electra_objective",
    "generator head": "uniform_generator",
    "generator's own embeddings": "untied_generator_embeddings",
    "discriminator head": "electra_objective",
}
_STRUCTURE_FIX = {"generator's own embeddings": "untied_generator_embeddings", "discriminator head": "electra_objective"}


def describe_differences(model, saved: Shapes) -> Tuple[List[str], Dict[str, object]]:
    """(one line per hparam whose value in the checkpoint differs from the model's, the hparams
    that would build the checkpoint's model)."""
    from electra_tf.checkpoints.tf1 import infer_config

    ours = model_weight_shapes(model)
    lines: List[str] = []
    fix: Dict[str, object] = {}
    have, want = _structure(saved), _structure(ours)
    for part, present in have.items():
        if present != want[part]:
            lines.append(f"the checkpoint {'has' if present else 'has no'} {part}, this model "
                         f"{'has' if want[part] else 'has none'} (hparams {_STRUCTURE_HPARAMS[part]})")
            if part in _STRUCTURE_FIX:
                fix[_STRUCTURE_FIX[part]] = present
    try:
        saved_disc = infer_config(saved, "", "pretraining")
    except Exception:  # noqa: BLE001  (not even an encoder: reported by the weight-name fallback below)
        saved_disc = None
    disc = model.disc_config
    if saved_disc is not None:
        overrides = {}
        for field in (*_TOP_LEVEL, *_OVERRIDES):
            theirs, mine = getattr(saved_disc, field), getattr(disc, field)
            if theirs == mine:
                continue
            if field == "intermediate_size" and theirs == 4 * saved_disc.hidden_size and mine == 4 * disc.hidden_size:
                continue  # follows hidden_size (4H), as in both configs
            where = field if field in _TOP_LEVEL else f"model_hparam_overrides.{field} (or model_size)"
            lines.append(f"{field} is {theirs} in the checkpoint, {mine} here (hparam {where})")
            if field in _TOP_LEVEL:
                fix[field] = theirs
            else:
                overrides[field] = theirs
        if overrides:
            fix["model_hparam_overrides"] = {**model.pconfig.model_hparam_overrides, **overrides}
    if saved_disc is not None and have["generator network"] and want["generator network"]:
        config = model.pconfig
        saved_hidden = infer_config(saved, "", "generator").hidden_size
        saved_layers = _layers(saved, "generator")
        # The generator is sized by fractions of the discriminator: report a fraction only when it
        # (not the discriminator's size) explains the difference.
        if int(round(saved_disc.hidden_size * config.generator_hidden_size)) != saved_hidden:
            fraction = saved_hidden / saved_disc.hidden_size
            lines.append(f"the generator's hidden size is {saved_hidden} of {saved_disc.hidden_size} in the checkpoint "
                         f"(hparam generator_hidden_size {fraction:g}, here {config.generator_hidden_size})")
            fix["generator_hidden_size"] = round(fraction, 6)
        if int(round(saved_disc.num_hidden_layers * config.generator_layers)) != saved_layers:
            fraction = saved_layers / saved_disc.num_hidden_layers
            lines.append(f"the generator has {saved_layers} of {saved_disc.num_hidden_layers} layers in the checkpoint "
                         f"(hparam generator_layers {fraction:g}, here {config.generator_layers})")
            fix["generator_layers"] = round(fraction, 6)
    if not lines:  # something else differs: name the weights
        missing = sorted(set(ours) - set(saved))
        extra = sorted(set(saved) - set(ours))
        reshaped = sorted(n for n in set(ours) & set(saved) if ours[n] != saved[n])
        for label, names in (("missing from the checkpoint", missing), ("only in the checkpoint", extra),
                             ("of another shape", reshaped)):
            if names:
                more = f" and {len(names) - 3} more" if len(names) > 3 else ""
                lines.append(f"weights {label}: {', '.join(names[:3])}{more}")
    return lines, fix


def check_training_checkpoint(model, prefix: str) -> None:
    """Raise a ConfigError naming the differing hparams when the training checkpoint ``prefix``
    does not hold exactly the weights (names and shapes) of ``model``; return quietly otherwise."""
    saved = checkpoint_weight_shapes(prefix)
    if not saved or saved == model_weight_shapes(model):
        return  # not ours to judge (no weights/by_name), or a match
    import json

    lines, fix = describe_differences(model, saved)
    suggestion = f" (here: {json.dumps(fix)})" if fix else ""
    raise ConfigError(
        f"The training checkpoint {prefix} holds a model of other hparams than these: " + "; ".join(lines) +
        ". The model hparams are not stored with the run (as the original): pass the ones it was trained with"
        f"{suggestion}, or another model_name to start a new model."
    )
