"""Assigning a canonical state (canonical name -> array in Keras layout) to a model, loudly.

Every reader (HF safetensors / .bin / tf_model.h5, original TF1, our Keras format) produces a
canonical state; ``assign_state`` is the one place that decides what fits. Encoder weights must
all be present with the right shapes; a model's task head may be absent (it is then freshly
initialised, as when fine-tuning from a pre-trained checkpoint); weights of other heads are
skipped and reported; any shape mismatch is an error naming the weight and the config value
to fix.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from electra_tf.errors import CheckpointError


@dataclasses.dataclass
class LoadReport:
    """What a load or conversion did, for the summary users see."""

    source: str
    mapped: List[str] = dataclasses.field(default_factory=list)
    newly_initialized: List[str] = dataclasses.field(default_factory=list)
    skipped: Dict[str, str] = dataclasses.field(default_factory=dict)  # name -> reason
    parameter_count: int = 0

    def summary(self) -> str:
        """A human-readable report: weights loaded, newly initialised ones, skipped ones by reason."""
        lines = [f"Loaded {len(self.mapped)} weights ({self.parameter_count:,} parameters) from {self.source}."]
        if self.newly_initialized:
            lines.append(f"Newly initialised (not in the checkpoint): {', '.join(self.newly_initialized)}")
        if self.skipped:
            by_reason: Dict[str, List[str]] = {}
            for name, reason in self.skipped.items():
                by_reason.setdefault(reason, []).append(name)
            for reason, names in by_reason.items():
                shown = ", ".join(names[:6]) + (f", ... ({len(names)} in all)" if len(names) > 6 else "")
                lines.append(f"Skipped ({reason}): {shown}")
        return "\n".join(lines)


# Hints for the classic config mistakes, keyed by a fragment of the weight name.
_SHAPE_HINTS = (
    ("word_embeddings", "vocab_size (dim 0) or embedding_size (dim 1)"),
    ("position_embeddings", "max_position_embeddings (dim 0) or embedding_size (dim 1)"),
    ("token_type_embeddings", "type_vocab_size (dim 0) or embedding_size (dim 1)"),
    ("embeddings.LayerNorm", "embedding_size"),
    ("embeddings_project", "embedding_size / hidden_size"),
    ("intermediate", "intermediate_size"),
    ("classifier", "num_labels"),
    ("qa_hidden", "head_options.qa_hidden_size"),
    ("encoder.layer", "hidden_size (a generator config used for the discriminator?)"),
)


def shape_hint(name: str) -> str:
    """Which config field sets the shape of weight ``name`` (for shape-mismatch messages)."""
    for fragment, hint in _SHAPE_HINTS:
        if fragment in name:
            return hint
    return "the config"


def normalize_names(state: Mapping[str, np.ndarray], model_prefix: str) -> Dict[str, np.ndarray]:
    """Bring checkpoint names to the model's convention.

    Adds or strips the ``electra.`` prefix (a bare HF ElectraModel has none), renames legacy
    ``LayerNorm.gamma/beta``, drops the ``position_ids`` buffer of old HF checkpoints and the
    tied ``generator_lm_head.weight`` (it is the word-embedding matrix).
    """
    encoder_roots = ("embeddings.", "embeddings_project.", "encoder.")
    out: Dict[str, np.ndarray] = {}
    for name, value in state.items():
        if name.endswith("position_ids") or name == "generator_lm_head.weight":
            continue
        name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        if model_prefix:
            if name.startswith(encoder_roots):
                name = f"{model_prefix}.{name}"
        elif name.startswith("electra."):
            name = name[len("electra."):]
        out[name] = value
    return out


def is_encoder_weight(name: str) -> bool:
    """True for a weight of the ELECTRA encoder (embeddings and layers), with or without the ``electra.``
    prefix."""
    return name.startswith(("electra.", "embeddings.", "embeddings_project.", "encoder."))


# Reasons that never make a load incomplete: training state, not model weights.
IGNORABLE_REASONS = ("optimizer slot", "training step counter", "dropout RNG state", "checkpoint save counter")


def assign_state(
    model,
    state: Mapping[str, np.ndarray],
    source: str,
    strict: bool = False,
    allow_new_head: bool = True,
    skip_reasons: Optional[Mapping[str, str]] = None,
    requested_skips: Tuple[str, ...] = (),
) -> LoadReport:
    """Assign ``state`` (canonical names, Keras layout) to ``model``; return what happened.

    Raises CheckpointError for: a missing encoder weight, an encoder weight the model does not
    have (wrong num_hidden_layers / embedding projection), any shape mismatch, a head that is
    only partly present, and (with ``strict``) anything unexpected or missing.
    """
    report = LoadReport(source=source)
    report.skipped.update(skip_reasons or {})
    if strict:
        dropped = [n for n, why in report.skipped.items()
                   if why not in IGNORABLE_REASONS and not why.startswith(tuple(requested_skips))]
        if dropped:
            raise CheckpointError(
                f"{source}: {len(dropped)} weight(s) would be dropped, e.g. {dropped[0]} "
                f"({report.skipped[dropped[0]]}) (strict load)."
            )
    refs = model.hf_weights()
    state = normalize_names(state, model.base_model_prefix)
    wanted = {ref.name: ref for ref in refs}

    missing = [name for name in wanted if name not in state]
    unexpected = [name for name in state if name not in wanted]

    missing_encoder = [n for n in missing if is_encoder_weight(n)]
    if missing_encoder:
        raise CheckpointError(
            f"{source}: the checkpoint lacks {len(missing_encoder)} encoder weight(s) the config needs, e.g. "
            f"{', '.join(missing_encoder[:4])}. Check num_hidden_layers and embedding_size in the config "
            f"(an embeddings_project exists only when embedding_size != hidden_size)."
        )
    unexpected_encoder = [n for n in unexpected if is_encoder_weight(n)]
    if unexpected_encoder:
        raise CheckpointError(
            f"{source}: the checkpoint has encoder weight(s) the config does not, e.g. "
            f"{', '.join(unexpected_encoder[:4])}. Check num_hidden_layers and embedding_size in the config."
        )
    missing_head = [n for n in missing if not is_encoder_weight(n)]
    head_present = [n for n in wanted if not is_encoder_weight(n) and n in state]
    if missing_head and head_present:
        raise CheckpointError(
            f"{source}: the task head is only partly in the checkpoint: missing {', '.join(missing_head)}. "
            f"Check the head type (config.head / head_options) against the checkpoint."
        )
    if missing_head and (strict or not allow_new_head):
        raise CheckpointError(f"{source}: missing weights {', '.join(missing_head)} (strict load).")
    if unexpected and strict:
        raise CheckpointError(f"{source}: unexpected weights {', '.join(unexpected[:8])} (strict load).")

    for name, ref in wanted.items():
        if name not in state:
            continue
        value = np.asarray(state[name])
        expected = tuple(ref.variable.shape)
        if tuple(value.shape) != expected:
            raise CheckpointError(
                f"{source}: weight {name} has shape {tuple(value.shape)} in the checkpoint but the model "
                f"expects {expected}; fix {shape_hint(name)} in the config."
            )
    for name, ref in wanted.items():
        if name in state:
            ref.variable.assign(np.asarray(state[name]).astype(ref.variable.dtype))
            report.mapped.append(name)
            report.parameter_count += int(np.prod(ref.variable.shape))
    report.newly_initialized.extend(missing_head)
    for name in unexpected:
        report.skipped.setdefault(name, "not part of this model (another head)")
    return report


def model_state(model) -> Dict[str, np.ndarray]:
    """The model's canonical state: canonical name -> numpy array in Keras layout."""
    return {ref.name: np.asarray(ref.variable.numpy()) for ref in model.hf_weights()}


def kernel_names(model) -> Tuple[str, ...]:
    """The canonical names of ``model``'s dense kernels (the weights whose layout is transposed between Keras
    and PyTorch)."""
    return tuple(ref.name for ref in model.hf_weights() if ref.is_kernel)
