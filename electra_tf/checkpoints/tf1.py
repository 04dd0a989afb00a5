"""Original TF1 ELECTRA checkpoints (Google's and HFL's releases, and fine-tuned models).

Read with ``tf.train.load_checkpoint`` (no TF1 graph) and written with the ``SaveV2`` op under
exactly the names the original code creates (``model/modeling.py``, ``run_pretraining.py``,
``finetune/*``), so the original ``init_from_checkpoint`` can restore what we write.

Name rules (canonical = HuggingFace PyTorch names, arrays in Keras layout, which equals TF1's
``[in, out]`` kernel layout):

=========================================  =============================================
canonical                                   TF1
=========================================  =============================================
electra.embeddings.word_embeddings.weight   electra/embeddings/word_embeddings
electra.embeddings.LayerNorm.weight         electra/embeddings/LayerNorm/gamma
electra.embeddings_project.weight           electra/embeddings_project/kernel
electra.encoder.layer.3.output.dense.weight electra/encoder/layer_3/output/dense/kernel
discriminator_predictions.dense_prediction  discriminator_predictions/dense_1
generator_lm_head.bias                      generator_predictions/output_bias
classifier.weight (original heads)          task_specific/<task>/dense/kernel
qa_head.{start,qa_hidden,end,...}           task_specific/<task>/{dense,qa_hidden,dense_1,dense_2,dense_3}
=========================================  =============================================

The generator's body lives under ``generator/`` but shares ``electra/embeddings`` unless the
checkpoint has its own ``generator/embeddings`` (untied embeddings).

Both directions work from names alone, without building a model: writing maps the model's
canonical names (``canonical_to_tf1``), reading maps each checkpoint variable back
(``tf1_to_canonical``) when the requested model type has it; ``tests/test_checkpoint_formats.py``
checks that the two are inverses for every model class and head.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from electra_tf.checkpoints.base import CheckpointFormat
from electra_tf.config import ElectraConfig
from electra_tf.errors import CheckpointError, ConfigError
from electra_tf.model_dir.scope import TASK_SCOPE

logger = logging.getLogger("electra_tf")

DEFAULT_PREFIX = "model.ckpt"
#: the original's scope of fine-tuned heads: task_specific/<task>/<layer>/...
TF1_TASK_SCOPE = TASK_SCOPE + "/"
_OPTIMIZER_SLOT = re.compile(r"/(adam_m|adam_v)$|/Adam(_1)?$|/ExponentialMovingAverage$")


# ---------------------------------------------------------------------------- locating
def _read_state_file(directory: str) -> Optional[str]:
    """Prefix named by a ``checkpoint`` state file; tolerant of absolute paths from another machine."""
    state = os.path.join(directory, "checkpoint")
    if not os.path.isfile(state):
        return None
    with open(state, encoding="utf-8", errors="replace") as f:
        for line in f:
            match = re.match(r'\s*model_checkpoint_path:\s*"(.*)"\s*$', line)
            if match:
                prefix = match.group(1)
                candidates = [prefix if os.path.isabs(prefix) else os.path.join(directory, prefix),
                              os.path.join(directory, os.path.basename(prefix))]
                for candidate in candidates:
                    if os.path.isfile(candidate + ".index"):
                        return candidate
                raise CheckpointError(
                    f"{state} names checkpoint {prefix!r}, but {candidates[-1]}.index does not exist; "
                    f"fix the 'checkpoint' file or pass the checkpoint prefix directly."
                )
    raise CheckpointError(f"{state}: no model_checkpoint_path line; pass the checkpoint prefix directly.")


def resolve_checkpoint_prefix(path: str, must_exist: bool = True) -> Optional[str]:
    """Checkpoint prefix for a directory (with or without a state file) or a prefix path."""
    if os.path.isfile(path + ".index"):
        return path
    if path.endswith(".index") and os.path.isfile(path):
        return path[: -len(".index")]
    if os.path.isdir(path):
        prefix = _read_state_file(path)
        if prefix:
            return prefix
        indexes = sorted(f[: -len(".index")] for f in os.listdir(path) if f.endswith(".index"))
        if len(indexes) == 1:
            return os.path.join(path, indexes[0])
        if len(indexes) > 1:
            def step(name):
                m = re.search(r"-(\d+)$", name)
                return int(m.group(1)) if m else -1
            best = max(indexes, key=step)
            if step(best) >= 0:
                return os.path.join(path, best)
            raise CheckpointError(f"{path}: several checkpoints ({', '.join(indexes)}); pass the prefix of one of them.")
    if must_exist:
        raise CheckpointError(f"No TF1 checkpoint at {path} (expected {path}.index or a directory holding one).")
    return None


def list_tf1_variables(prefix: str) -> Dict[str, Tuple[int, ...]]:
    """{variable name: shape} of a TF checkpoint prefix; a CheckpointError if it cannot be read."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
        return {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()}
    except Exception as e:  # DataLossError, NotFoundError, ...
        raise CheckpointError(
            f"{prefix}: cannot read TF1 checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
            f"the .index or .data file is corrupt or truncated."
        ) from None


# ---------------------------------------------------------------------------- names
def _encoder_suffix_to_tf1(rest: str) -> str:
    """'encoder.layer.3.attention.output.LayerNorm.weight' -> 'encoder/layer_3/.../LayerNorm/gamma'."""
    parts = rest.split(".")
    last = parts[-1]
    is_norm = len(parts) >= 2 and parts[-2] == "LayerNorm"
    if last == "weight":
        if parts[-2].endswith("_embeddings"):
            parts = parts[:-1]
        else:
            parts[-1] = "gamma" if is_norm else "kernel"
    elif last == "bias" and is_norm:
        parts[-1] = "beta"
    path = "/".join(parts)
    return re.sub(r"encoder/layer/(\d+)", r"encoder/layer_\1", path)


def canonical_to_tf1(name: str, model_type: str, task_name: str = "task", untied_generator_embeddings: bool = False,
                     names=()) -> str:
    """TF1 variable name of the canonical weight ``name`` of a ``model_type`` model.

    ``names`` are all canonical names of the model; the original QA head numbers its dense
    layers differently when it has the answerable_hidden layer.
    """
    body_scope = "generator" if model_type == "generator" else "electra"
    bare = name[len("electra."):] if name.startswith("electra.") else name
    if bare.startswith("embeddings."):
        scope = "generator" if (model_type == "generator" and untied_generator_embeddings) else "electra"
        return f"{scope}/" + _encoder_suffix_to_tf1(bare)
    if bare.startswith(("embeddings_project.", "encoder.")):
        return f"{body_scope}/" + _encoder_suffix_to_tf1(bare)
    if name.startswith("discriminator_predictions."):
        return _encoder_suffix_to_tf1(name).replace("dense_prediction", "dense_1")
    if name == "generator_lm_head.bias":
        return "generator_predictions/output_bias"
    if name.startswith("generator_predictions."):
        return _encoder_suffix_to_tf1(name)
    task = f"{TF1_TASK_SCOPE}{task_name}"
    kind = "kernel" if name.endswith(".weight") else "bias"
    if name in ("classifier.weight", "classifier.bias"):
        return f"{task}/dense/{kind}"  # the original single-dense classification / tagging head
    if name.startswith("qa_head."):
        layer = name.split(".")[1]
        numbering = {"start": "dense", "qa_hidden": "qa_hidden", "end": "dense_1"}
        if "qa_head.answerable_hidden.weight" in names:
            numbering.update(answerable_hidden="dense_2", answerable="dense_3")
        else:
            numbering.update(answerable="dense_2")
        return f"{task}/{numbering[layer]}/{kind}"
    # HF heads have no original counterpart; keep them under the task scope with HF's names.
    return f"{task}/" + _encoder_suffix_to_tf1(name)


def tf1_name_map(names, model_type: str, task_name: str = "task", untied_generator_embeddings: bool = False) -> Dict[str, str]:
    """canonical name -> TF1 name for the canonical weight ``names`` of a ``model_type`` model."""
    names = tuple(names)
    return {n: canonical_to_tf1(n, model_type, task_name, untied_generator_embeddings, names) for n in names}


# The variables of the encoder body (under electra/ or generator/), in TF1 names.
_BODY_VARIABLE = re.compile(
    r"(embeddings/(word|position|token_type)_embeddings"
    r"|embeddings/LayerNorm/(gamma|beta)"
    r"|embeddings_project/(kernel|bias)"
    r"|encoder/layer_\d+/(attention/self/(query|key|value)|attention/output/dense|intermediate/dense|output/dense)/(kernel|bias)"
    r"|encoder/layer_\d+/(attention/output|output)/LayerNorm/(gamma|beta))$"
)
_DENSE = r"/(kernel|bias)$"
# Heads each model type has, as regular expressions over TF1 names ({task}: task_specific/<task>).
_HEAD_VARIABLES = {
    "pretraining": (r"discriminator_predictions/(dense|dense_1)" + _DENSE,),
    "generator": (r"generator_predictions/(dense/(kernel|bias)|LayerNorm/(gamma|beta)|output_bias)$",),
    "sequence-classification": (r"{task}/dense" + _DENSE, r"{task}/classifier/(dense|out_proj)" + _DENSE),
    "token-classification": (r"{task}/dense" + _DENSE,),
    "question-answering": (r"{task}/(dense|qa_hidden|dense_1|dense_2|dense_3)" + _DENSE, r"{task}/qa_outputs" + _DENSE),
}


def _tf1_suffix_to_canonical(path: str) -> str:
    """Inverse of _encoder_suffix_to_tf1: 'encoder/layer_3/output/LayerNorm/gamma' -> 'encoder.layer.3.output.LayerNorm.weight'."""
    parts = re.sub(r"encoder/layer_(\d+)", r"encoder/layer/\1", path).split("/")
    last = parts[-1]
    if last in ("kernel", "gamma"):
        parts[-1] = "weight"
    elif last == "beta":
        parts[-1] = "bias"
    elif last.endswith("_embeddings"):
        parts.append("weight")
    return ".".join(parts)


def tf1_to_canonical(name: str, model_type: str, task_name: Optional[str], untied_generator_embeddings: bool,
                     shapes) -> Optional[str]:
    """Canonical name of TF1 variable ``name`` if a ``model_type`` model has it, else None.

    The inverse of canonical_to_tf1, derived from the names alone (no model is built): the
    encoder body comes from ``electra/`` (``generator/`` for the generator, whose embeddings are
    ``electra/embeddings`` unless the checkpoint has its own); heads from their scopes, the
    fine-tuned head from ``task_specific/<task_name>``.
    """
    if _OPTIMIZER_SLOT.search(name):
        return None
    body_scope = "generator" if model_type == "generator" else "electra"
    scope, _, rest = name.partition("/")
    if _BODY_VARIABLE.match(rest):
        wanted = body_scope
        if rest.startswith("embeddings/") and model_type == "generator" and not untied_generator_embeddings:
            wanted = "electra"  # the generator shares the discriminator's embeddings (as the original)
        if scope != wanted:
            return None
        canonical = _tf1_suffix_to_canonical(rest)
        return canonical if model_type == "base" else "electra." + canonical
    task = f"{TF1_TASK_SCOPE}{task_name}" if task_name else None
    for pattern in _HEAD_VARIABLES.get(model_type, ()):
        if "{task}" in pattern:
            if task is None:
                continue
            pattern = pattern.replace("{task}", re.escape(task))
        if not re.match(pattern, name):
            continue
        if name == "generator_predictions/output_bias":
            return "generator_lm_head.bias"
        if name.startswith("discriminator_predictions/"):
            return _tf1_suffix_to_canonical(name.replace("/dense_1/", "/dense_prediction/"))
        if name.startswith("generator_predictions/"):
            return _tf1_suffix_to_canonical(name)
        layer, kind = name[len(task) + 1:].rsplit("/", 1)
        suffix = "weight" if kind == "kernel" else "bias"
        if model_type == "question-answering" and "/" not in layer and layer != "qa_outputs":
            has_hidden = f"{task}/dense_3/kernel" in shapes  # dense_2 is then answerable_hidden
            numbering = {"dense": "start", "qa_hidden": "qa_hidden", "dense_1": "end",
                         "dense_2": "answerable_hidden" if has_hidden else "answerable", "dense_3": "answerable"}
            return f"qa_head.{numbering[layer]}.{suffix}"
        if layer == "dense":
            return f"classifier.{suffix}"  # the original single-dense classification / tagging head
        return _tf1_suffix_to_canonical(layer) + f".{suffix}"
    return None


def classify_unused(name: str, model_type: str, task_name: Optional[str]) -> str:
    """Why a TF1 variable is not loaded (for the report), or '' if it should have been."""
    if name == "global_step" or name.endswith("/global_step"):
        return "training step counter"
    if _OPTIMIZER_SLOT.search(name):
        return "optimizer slot"
    if name.startswith(("generator/", "generator_predictions/")) and model_type != "generator":
        return "generator weights (load them into a generator model with --model-type generator)"
    if name.startswith("electra/encoder") or name.startswith("electra/embeddings_project"):
        if model_type == "generator":
            return "discriminator weights (not part of the generator)"
    if name.startswith("discriminator_predictions/"):
        return "pre-training head (not part of this model)"
    if name.startswith(TF1_TASK_SCOPE):
        if task_name and not name.startswith(f"{TF1_TASK_SCOPE}{task_name}/"):
            return f"head of another task (this model uses {TF1_TASK_SCOPE}{task_name})"
        return "fine-tuning head (not part of this model type)"
    return ""


# ---------------------------------------------------------------------------- config
def find_config_file(prefix: str, model_type: str, directories: Optional[List[str]] = None) -> Optional[str]:
    """The JSON config saved beside an original checkpoint (generator.json for the generator;
    discriminator.json, config.json or bert_config.json otherwise), or None; ``directories``:
    where to look instead of the checkpoint's own folder, in order."""
    names = ["generator.json"] if model_type == "generator" else ["discriminator.json", "config.json", "bert_config.json"]
    for directory in directories or [os.path.dirname(prefix)]:
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return path
    return None


def infer_config(shapes: Dict[str, Tuple[int, ...]], prefix: str, model_type: str = "base",
                 num_attention_heads: Optional[int] = None) -> ElectraConfig:
    """Encoder config from variable shapes; heads from the original rule hidden // 64 unless given."""
    scope = "generator" if model_type == "generator" else "electra"
    emb_scope = "generator" if "generator/embeddings/word_embeddings" in shapes and model_type == "generator" else "electra"
    word = shapes.get(f"{emb_scope}/embeddings/word_embeddings")
    if word is None:
        raise CheckpointError(
            f"{prefix}: no {emb_scope}/embeddings/word_embeddings variable; this is not an ELECTRA checkpoint "
            f"(variables start with: {', '.join(sorted({n.split('/')[0] for n in shapes})[:8])})."
        )
    vocab, emb = word
    layers = sorted(int(m.group(1)) for n in shapes for m in [re.match(rf"{scope}/encoder/layer_(\d+)/attention/self/query/kernel$", n)] if m)
    if not layers:
        raise CheckpointError(f"{prefix}: no {scope}/encoder/layer_*/ variables found.")
    hidden = shapes[f"{scope}/encoder/layer_0/attention/self/query/kernel"][1]
    inter = shapes[f"{scope}/encoder/layer_0/intermediate/dense/kernel"][1]
    return ElectraConfig(
        vocab_size=vocab, embedding_size=emb, hidden_size=hidden, num_hidden_layers=len(layers),
        num_attention_heads=num_attention_heads or max(1, hidden // 64), intermediate_size=inter,
        max_position_embeddings=shapes[f"{emb_scope}/embeddings/position_embeddings"][0],
        type_vocab_size=shapes[f"{emb_scope}/embeddings/token_type_embeddings"][0],
    )


_CHECKED_FIELDS = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "intermediate_size",
                   "max_position_embeddings", "type_vocab_size")


def check_config_against_shapes(config: ElectraConfig, inferred: ElectraConfig, prefix: str, source: str) -> None:
    """A config that contradicts the checkpoint is an error naming the value to fix."""
    for field in _CHECKED_FIELDS:
        have, want = getattr(config, field), getattr(inferred, field)
        if have != want:
            hint = ""
            if field == "hidden_size" and have > want:
                hint = " (a generator config used for the discriminator?)"
            elif field == "hidden_size" and have < want:
                hint = " (a discriminator config used for the generator?)"
            raise ConfigError(
                f"{source} says {field}={have}, but the checkpoint {prefix} has {field}={want}{hint}; "
                f"set {field} to {want}."
            )


def _task_heads(shapes, task_name: Optional[str], prefix: str) -> Optional[str]:
    tasks = sorted({n.split("/")[1] for n in shapes if n.startswith(TF1_TASK_SCOPE)})
    if not tasks:
        return None
    if task_name:
        if task_name not in tasks:
            raise CheckpointError(f"{prefix}: no {TF1_TASK_SCOPE}{task_name}/ head; the checkpoint has: {', '.join(tasks)}.")
        return task_name
    if len(tasks) > 1:
        raise CheckpointError(f"{prefix}: heads for several tasks ({', '.join(tasks)}); choose one with task_name.")
    return tasks[0]


def _head_config(config: ElectraConfig, shapes, task: Optional[str], model_type: str) -> ElectraConfig:
    """Adapt the config to an original fine-tuned head found in the checkpoint."""
    if not task:
        return config
    base = f"{TF1_TASK_SCOPE}{task}"
    if model_type in ("sequence-classification", "token-classification") and f"{base}/dense/kernel" in shapes:
        n = shapes[f"{base}/dense/kernel"][1]
        changes = {"head": "electra", "num_labels": n}
        if config.id2label is not None and len(config.id2label) != n:
            changes.update(id2label=None, label2id=None)
        return config.replace(**changes)
    if model_type == "question-answering" and f"{base}/dense/kernel" in shapes:
        joint = f"{base}/qa_hidden/kernel" in shapes
        options = {"joint_prediction": joint}
        if joint:
            options["qa_hidden_size"] = shapes[f"{base}/qa_hidden/kernel"][1]
        has_d2, has_d3 = f"{base}/dense_2/kernel" in shapes, f"{base}/dense_3/kernel" in shapes
        options["answerable_classifier"] = has_d2
        options["answerable_uses_start_logits"] = has_d3
        options = {**config.head_options, **options}
        return config.replace(head="electra", head_options=options)
    return config


# ---------------------------------------------------------------------------- read / write
HEAD_MODEL_TYPES = ("sequence-classification", "token-classification", "question-answering")


def read_tf1_config(path: str, config: Optional[ElectraConfig] = None, model_type: str = "base",
                    task_name: Optional[str] = None, shapes: Optional[Dict[str, Tuple[int, ...]]] = None,
                    config_dirs: Optional[List[str]] = None) -> ElectraConfig:
    """The config of the ``model_type`` model in an original checkpoint.

    Without ``config``: the config file beside it (checked against the variable shapes) or the
    config inferred from the shapes; a given ``config`` is checked against the shapes. Either is
    then adapted to an original fine-tuned head in the checkpoint. ``shapes`` (TF1 name -> shape)
    and ``config_dirs`` serve checkpoints whose weights carry TF1 names in another container (a
    pre-training run's ``training_checkpoints/ckpt-N``, see checkpoints.training).
    """
    prefix = resolve_checkpoint_prefix(path)
    shapes = list_tf1_variables(prefix) if shapes is None else shapes
    inferred = infer_config(shapes, prefix, model_type, num_attention_heads=config.num_attention_heads if config else None)
    if config is None:
        config_file = find_config_file(prefix, model_type, config_dirs)
        if config_file:
            config = ElectraConfig.from_json_file(config_file)
            check_config_against_shapes(config, inferred, prefix, config_file)
        else:
            config = inferred
    else:
        check_config_against_shapes(config, inferred, prefix, "the given config")
    if model_type not in HEAD_MODEL_TYPES:
        return config
    task = _task_heads(shapes, task_name, prefix)
    return _head_config(config, shapes, task, model_type)


def read_tf1_state(path: str, model_type: str = "base", task_name: Optional[str] = None,
                   shapes: Optional[Dict[str, Tuple[int, ...]]] = None, get_tensor=None):
    """(canonical state, skip reasons) of an original checkpoint for a ``model_type`` model.

    Every variable is either mapped (tf1_to_canonical), skipped with a reason (optimizer slots,
    the other model of a pre-training checkpoint, other heads) or an error naming it.
    ``shapes`` and ``get_tensor`` (TF1 name -> array): TF1-named weights kept in another
    container (see :func:`read_tf1_config`).
    """
    import tensorflow as tf

    prefix = resolve_checkpoint_prefix(path)
    shapes = list_tf1_variables(prefix) if shapes is None else shapes
    task = _task_heads(shapes, task_name, prefix)
    untied = model_type == "generator" and "generator/embeddings/word_embeddings" in shapes
    if get_tensor is None:
        get_tensor = tf.train.load_checkpoint(prefix).get_tensor
    state: Dict[str, np.ndarray] = {}
    skipped: Dict[str, str] = {}
    unknown: List[str] = []
    for name in shapes:
        canonical = tf1_to_canonical(name, model_type, task, untied, shapes)
        if canonical is not None:
            try:
                state[canonical] = get_tensor(name)
            except Exception as e:  # DataLossError / IndexError on truncated .data files
                raise CheckpointError(
                    f"{prefix}: cannot read variable {name} ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                    f"the .data file is corrupt or truncated."
                ) from None
            continue
        reason = classify_unused(name, model_type, task)
        if reason:
            skipped[name] = reason
        elif untied and name.startswith("electra/embeddings/"):
            skipped[name] = "discriminator embeddings (the generator has its own)"
        else:
            unknown.append(name)
    if unknown:
        raise CheckpointError(
            f"{prefix}: cannot map {len(unknown)} variable(s) to a {model_type} model: "
            f"{', '.join(sorted(unknown)[:8])}. Check --model-type and the config."
        )
    return state, skipped


def tf1_model_type(path: str, names=None) -> str:
    """The model type of an original checkpoint (or of the TF1 variable ``names`` given): QA for the
    joint/QA head, "pretraining" without a head; a single-dense head can be a classifier or a
    tagger, so that one must be named."""
    names = list_tf1_variables(resolve_checkpoint_prefix(path)) if names is None else names
    task_vars = [n for n in names if n.startswith(TF1_TASK_SCOPE) and not n.endswith(("adam_m", "adam_v"))]
    if any(n.endswith("/qa_hidden/kernel") or n.endswith("/dense_1/kernel") for n in task_vars):
        return "question-answering"
    if task_vars:
        raise CheckpointError(
            f"{path} has a fine-tuned single-dense head ({TF1_TASK_SCOPE}...), which can be a classifier or a "
            f"tagger; pass --model-type sequence-classification or token-classification."
        )
    return "pretraining"


def write_tf1_checkpoint(model, directory: str, vocab_file: Optional[str] = None, task_name: Optional[str] = None,
                         prefix_name: str = DEFAULT_PREFIX) -> str:
    """Write ``model`` as an original-layout checkpoint (+ checkpoint file, discriminator.json)."""
    import tensorflow as tf

    from electra_tf.checkpoints.state import model_state
    from electra_tf.utils.files import as_write_error, atomic_write_bytes, atomic_write_text

    if model.model_type not in ("base", "pretraining", "generator") and not task_name:
        task_name = "task"
    os.makedirs(directory, exist_ok=True)
    state = model_state(model)
    name_map = tf1_name_map(state, model.model_type, task_name or "task")
    names = sorted(name_map)
    prefix = os.path.join(directory, prefix_name)
    # Saved under a temporary prefix and renamed afterwards: a failed write (full disk) leaves an
    # earlier checkpoint of the same name intact and no partial files.
    temporary = os.path.join(directory, f".tmp-{os.getpid()}-{prefix_name}")
    try:
        tf.raw_ops.SaveV2(
            prefix=temporary,
            tensor_names=[name_map[n] for n in names],
            shape_and_slices=[""] * len(names),
            tensors=[tf.constant(state[n]) for n in names],
        )
    except Exception as e:  # noqa: BLE001  (TensorFlow raises its own error types)
        for leftover in os.listdir(directory):
            if leftover.startswith(os.path.basename(temporary)):
                os.unlink(os.path.join(directory, leftover))
        raise as_write_error(e, prefix) from None
    for written in sorted(os.listdir(directory)):
        if written.startswith(os.path.basename(temporary) + "."):
            os.replace(os.path.join(directory, written),
                       os.path.join(directory, prefix_name + written[len(os.path.basename(temporary)):]))
    atomic_write_text(
        os.path.join(directory, "checkpoint"),
        f'model_checkpoint_path: "{prefix_name}"\nall_model_checkpoint_paths: "{prefix_name}"\n',
    )
    config_name = "generator.json" if model.model_type == "generator" else "discriminator.json"
    model.config.to_json_file(os.path.join(directory, config_name), architectures=[model.hf_architecture])
    if vocab_file:
        target = os.path.join(directory, "vocab.txt")
        if os.path.abspath(vocab_file) != os.path.abspath(target):
            with open(vocab_file, "rb") as f:
                atomic_write_bytes(target, f.read())
    return prefix


# ---------------------------------------------------------------------------- the format
# TF2 object-based checkpoints (tf.train.Checkpoint, e.g. our fine-tuning training checkpoint)
# carry their object graph under this key; tf.train.Saver checkpoints (the original's) do not.
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def variable_names_or_none(prefix: str):
    """Variable names of a checkpoint, or None when its index cannot be read (reported later)."""
    try:
        return list_tf1_variables(prefix)
    except CheckpointError:
        return None


class TF1Format(CheckpointFormat):
    """An original google-research/electra checkpoint (pre-trained with the generator, or
    fine-tuned with task_specific heads): a directory with a ``checkpoint`` state file or one
    ``*.index``, or a checkpoint prefix."""

    name = "tf1"
    description = "original TF1 ELECTRA checkpoint (model.ckpt.index/.data + discriminator.json)"

    def detect(self, path: str) -> bool:
        """True for a name-based (original, TF1-style) checkpoint; object-based TF2 checkpoints are another
        format."""
        prefix = resolve_checkpoint_prefix(path, must_exist=False)
        if not prefix:
            return False
        names = variable_names_or_none(prefix)
        return names is None or OBJECT_GRAPH_KEY not in names

    def read_config(self, path, model_type="base", config=None, task_name=None):
        """The ElectraConfig of an original checkpoint (``read_tf1_config``)."""
        return read_tf1_config(path, config=config, model_type=model_type, task_name=task_name)

    def read_state(self, path, config, model_type="base", task_name=None, model_classes=None):
        """The canonical state of an original checkpoint and the reasons unused variables were skipped."""
        return read_tf1_state(path, model_type=model_type, task_name=task_name)

    def model_type(self, path: str) -> str:
        """The model type of an original checkpoint (``tf1_model_type``)."""
        return tf1_model_type(path)

    def write(self, model, path: str, vocab_file: Optional[str] = None, task_name: Optional[str] = None,
              **options) -> str:
        """Write ``model`` as an original-layout checkpoint (``write_tf1_checkpoint``); returns its prefix."""
        return write_tf1_checkpoint(model, path, vocab_file=vocab_file, task_name=task_name)
