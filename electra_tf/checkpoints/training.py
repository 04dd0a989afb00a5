"""Our *training* checkpoints: a fine-tuning run's ``finetuning_models/<tasks>_model_<trial>/ckpt-N``
and a pre-training run's ``training_checkpoints/ckpt-N``.

A pre-training run names its weights with the original's TF1 variable names
(``weights/by_name/electra/encoder/...``, ``generator/...``): such a checkpoint is read through the
original's name mapping (``tf1.read_tf1_state``), its config from the run folder's
``discriminator.json`` / ``generator.json`` or the shapes, so that any ``ckpt-N`` of a pre-training
run fine-tunes (``init_checkpoint``) or loads (``from_pretrained``) like the run's final export.
The rest of this docstring is about the fine-tuning checkpoint.

A ``tf.train.Checkpoint`` written by ``finetuning.runner.training_checkpoint`` (and by the
best-model selector as ``best/weights``): its object graph names every weight
``weights/by_name/<canonical name>``, plus ``weights/rng_states/<i>`` (dropout RNG states) and
``optimizer/...``. A multi-task run names each head ``task_specific.<task>.<head name>``.
The weights are found through the object graph, not by key: tf.train.Checkpoint stores a
variable once, under the first path it reaches it by, which for a checkpoint with the optimizer
is ``optimizer/variables_/<i>`` rather than ``weights/by_name/<escaped name>``.

The format is read-only here: only the runner writes it, with the optimizer and RNG state.
Its config comes from a ``config.json`` beside the checkpoint (or the single-task export
``model/config.json`` the runner writes into the same directory), else from the weights' shapes.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Optional

import numpy as np

from electra_tf.checkpoints import tf1
from electra_tf.checkpoints.base import CheckpointFormat, recorded_model_type
from electra_tf.checkpoints.hf import ARCHITECTURE_MODEL_TYPES
from electra_tf.config import ElectraConfig
from electra_tf.utils.files import read_json_file
from electra_tf.errors import CheckpointError
from electra_tf.model_dir.layout import RUN_TASKS_FILE  # written by finetuning.model_export.write_run_tasks before training
from electra_tf.model_dir.scope import TASK_SCOPE, head_weight_prefix

_TASK_PREFIX = re.compile(rf"^{re.escape(TASK_SCOPE)}\.([^.]+)\.")
HEAD_MODEL_TYPES = ("sequence-classification", "token-classification", "question-answering")
# Config files that may sit with a training checkpoint, in order of preference.
CONFIG_CANDIDATES = ("config.json", os.path.join("model", "config.json"))


def training_prefix(path: str) -> str:
    """The ``ckpt-N`` prefix of a training checkpoint path (directory, prefix or .index file)."""
    return tf1.resolve_checkpoint_prefix(path)


def weight_keys(prefix: str) -> Optional[Dict[str, str]]:
    """canonical name -> checkpoint key of every ``weights/by_name`` entry of the object graph,
    or None when ``prefix`` is not a training checkpoint (no object graph / no weights.by_name)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    names = tf1.list_tf1_variables(prefix)
    if tf1.OBJECT_GRAPH_KEY not in names:
        return None
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        graph.ParseFromString(tf.train.load_checkpoint(prefix).get_tensor(tf1.OBJECT_GRAPH_KEY))
    except Exception as e:  # DataLossError / DecodeError
        raise CheckpointError(f"{prefix}: cannot read the checkpoint's object graph ({type(e).__name__}); "
                              f"the checkpoint is corrupt or truncated.") from None

    def child(node_id: Optional[int], name: str) -> Optional[int]:
        if node_id is None:
            return None
        return next((c.node_id for c in graph.nodes[node_id].children if c.local_name == name), None)

    by_name = child(child(0, "weights"), "by_name")
    if by_name is None:
        return None
    keys = {}
    for entry in graph.nodes[by_name].children:
        for attribute in graph.nodes[entry.node_id].attributes:
            if attribute.name == "VARIABLE_VALUE":
                keys[entry.local_name] = attribute.checkpoint_key
    return keys


def read_weights(prefix: str) -> Dict[str, np.ndarray]:
    """canonical name (as the run named it) -> array of every ``weights/by_name`` entry."""
    import tensorflow as tf

    keys = weight_keys(prefix)
    if keys is None:
        raise CheckpointError(f"{prefix}: not a fine-tuning training checkpoint (no weights/by_name in its object graph).")
    reader = tf.train.load_checkpoint(prefix)
    state = {}
    for name, key in keys.items():
        try:
            state[name] = reader.get_tensor(key)
        except Exception as e:  # DataLossError on truncated .data files
            raise CheckpointError(
                f"{prefix}: cannot read {key} ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                f"the .data file is corrupt or truncated."
            ) from None
    return state


def tf1_named_weights(prefix: str):
    """(TF1 name -> shape, TF1 name -> checkpoint key) when the checkpoint's weights carry the
    original's variable names, as a pre-training run's ``training_checkpoints/ckpt-N`` (written by
    ``run_pretraining.py`` with ``electra/...`` and ``generator/...`` names); None for a
    fine-tuning run's checkpoint (HF-style names)."""
    import tensorflow as tf

    keys = weight_keys(prefix)
    if not keys or not all("/" in name for name in keys):
        return None
    shapes_by_key = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    return {name: tuple(shapes_by_key[key]) for name, key in keys.items()}, keys


def _config_dirs(prefix: str):
    """Where a pre-training run keeps its configs: the run folder above ``training_checkpoints``."""
    here = os.path.dirname(prefix)
    return [here, os.path.dirname(here)]


def _skipped_non_weights(prefix: str, weight_values) -> Dict[str, str]:
    """Checkpoint key -> why it is not loaded, for every key of ``prefix`` that is not one of the
    weights' keys ``weight_values`` (RNG states, optimizer slots, counters)."""
    weight_values = set(weight_values)
    skipped = {}
    for key in tf1.list_tf1_variables(prefix):
        if key not in weight_values:
            reason = _skip_reason(key)
            if reason:
                skipped[key] = reason
    return skipped


def _skip_reason(key: str) -> str:
    """Why a checkpoint key that is not a weight is not loaded."""
    if key == tf1.OBJECT_GRAPH_KEY:
        return ""
    if key.startswith("weights/rng_states/"):
        return "dropout RNG state"
    if key.startswith("optimizer/iterations/"):
        return "training step counter"
    if key.startswith("optimizer/"):
        return "optimizer slot"
    if key.startswith("save_counter/"):
        return "checkpoint save counter"
    return "not a model weight"


def _tasks(names) -> list:
    return sorted({m.group(1) for n in names for m in [_TASK_PREFIX.match(n)] if m})


def _choose_task(tasks, task_name: Optional[str], model_type: str, prefix: str) -> Optional[str]:
    if not tasks:
        return None
    if task_name:
        if task_name not in tasks:
            raise CheckpointError(f"{prefix}: no head of task {task_name!r}; the checkpoint has: {', '.join(tasks)}.")
        return task_name
    if len(tasks) == 1:
        return tasks[0]
    if model_type in HEAD_MODEL_TYPES:
        raise CheckpointError(f"{prefix}: heads for several tasks ({', '.join(tasks)}); choose one with task_name.")
    return None




def _run_tasks(prefix: str) -> Optional[dict]:
    """The run's ``tasks.json`` beside the checkpoint as {"model_config", "tasks": {name: entry}},
    or None for a checkpoint without one (older runs); a damaged file is a CheckpointError."""
    path = os.path.join(os.path.dirname(prefix), RUN_TASKS_FILE)
    fix = "restore it or pass a config."
    run = read_json_file(path, CheckpointError, fix, problem="is damaged")
    if run is None:
        return None
    try:
        return {"model_config": run["model_config"], "tasks": {entry["task_name"]: entry for entry in run["tasks"]}}
    except KeyError as e:
        raise CheckpointError(f"{path} is damaged (no {e}); {fix}") from None
    except (TypeError, AttributeError) as e:
        raise CheckpointError(f"{path} is damaged (unexpected structure: {e}); {fix}") from None


def run_task_entry(prefix: str, task_name: Optional[str] = None) -> Optional[dict]:
    """The ``tasks.json`` entry (task metadata + head options + CRF masks) of the checkpoint's
    task, with the run's ``model_config``; None for a checkpoint without one (older runs)."""
    run = _run_tasks(prefix)
    if run is None:
        return None
    entries = run["tasks"]
    if task_name is None and len(entries) == 1:
        task_name = next(iter(entries))
    if task_name not in entries:
        raise CheckpointError(f"{prefix}: the run trained tasks {', '.join(sorted(entries))}; choose one with "
                              f"task_name (--task-name).")
    return {**entries[task_name], "model_config": run["model_config"]}


def config_from_run_entry(entry: dict) -> ElectraConfig:
    """The single-task model config of a tasks.json entry: the encoder, labels, head and options."""
    config = ElectraConfig.from_dict(entry["model_config"])
    options = dict(entry.get("head_options") or {})
    if "crf_masks" in entry:
        options["crf"] = True
    labels = entry.get("labels")
    num_labels = 2 if entry["family"] == "qa" else (len(labels) if labels else 1)
    config = config.replace(num_labels=num_labels, head_options=options)
    if labels:
        config = config.replace(id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    return config


def _config_file(prefix: str) -> Optional[str]:
    directory = os.path.dirname(prefix)
    for name in CONFIG_CANDIDATES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def infer_training_config(state: Dict[str, np.ndarray], prefix: str) -> ElectraConfig:
    """Encoder config and head (num_labels; the original QA head's layer options) from the
    weights' shapes, names as a single-task model has them.

    Shapes do not show num_attention_heads (the original rule hidden_size // 64 is used) nor the
    QA head's inference options (beam_size, answerable_weight: defaults).
    """
    def shape(name):
        for key in (f"electra.{name}", name):
            if key in state:
                return tuple(state[key].shape)
        return None

    word = shape("embeddings.word_embeddings.weight")
    query = shape("encoder.layer.0.attention.self.query.weight")
    inter = shape("encoder.layer.0.intermediate.dense.weight")
    if word is None or query is None or inter is None:
        raise CheckpointError(
            f"{prefix}: no config.json beside the training checkpoint and its weights do not show the encoder "
            f"size; put the run's config.json (e.g. model/config.json of the run) beside it or pass a config."
        )
    layers = {int(m.group(1)) for n in state for m in [re.search(r"encoder\.layer\.(\d+)\.", n)] if m}
    hidden = query[1]
    config = ElectraConfig(
        vocab_size=word[0], embedding_size=word[1], hidden_size=hidden, num_hidden_layers=len(layers),
        num_attention_heads=max(1, hidden // 64), intermediate_size=inter[1],
        max_position_embeddings=shape("embeddings.position_embeddings.weight")[0],
        type_vocab_size=shape("embeddings.token_type_embeddings.weight")[0],
    )
    if "classifier.weight" in state:  # the original single-dense classification / tagging head
        config = config.replace(head="electra", num_labels=int(state["classifier.weight"].shape[1]))
    elif "classifier.out_proj.weight" in state:
        config = config.replace(num_labels=int(state["classifier.out_proj.weight"].shape[1]))
    elif "qa_head.start.weight" in state:  # the original QA head; which layers it has sets its options
        options = {"joint_prediction": "qa_head.qa_hidden.weight" in state,
                   "answerable_classifier": "qa_head.answerable.weight" in state,
                   "answerable_uses_start_logits": "qa_head.answerable_hidden.weight" in state}
        hidden = state.get("qa_head.qa_hidden.weight", state.get("qa_head.answerable_hidden.weight"))
        if hidden is not None:
            options["qa_hidden_size"] = int(hidden.shape[1])
        config = config.replace(head="electra", head_options=options)
    return config


class TrainingCheckpointFormat(CheckpointFormat):
    """The fine-tuning runner's tf.train.Checkpoint (weights by canonical name + RNG + optimizer)."""

    name = "training"
    description = ("training checkpoint of a run (finetuning_models/<tasks>_model_<trial>/ckpt-N, or a pre-training "
                   "run's training_checkpoints/ckpt-N); read-only")
    writable = False

    def detect(self, path: str) -> bool:
        prefix = tf1.resolve_checkpoint_prefix(path, must_exist=False)
        if not prefix:
            return False
        names = tf1.variable_names_or_none(prefix)
        return names is not None and tf1.OBJECT_GRAPH_KEY in names and weight_keys(prefix) is not None

    def read_config(self, path, model_type="base", config=None, task_name=None):
        prefix = training_prefix(path)
        tf1_named = tf1_named_weights(prefix)
        if tf1_named is not None:  # a pre-training run's checkpoint: read as the original's layout
            return tf1.read_tf1_config(prefix, config=config, model_type=model_type, task_name=task_name,
                                       shapes=tf1_named[0], config_dirs=_config_dirs(prefix))
        if config is not None:
            return config
        entry = run_task_entry(prefix, task_name) if model_type in HEAD_MODEL_TYPES else None
        if entry is not None:
            return config_from_run_entry(entry)
        found = _config_file(prefix)
        if found:
            return ElectraConfig.from_json_file(found)
        state = read_weights(prefix)
        task = _choose_task(_tasks(state), task_name, model_type, prefix)
        if task:
            own = head_weight_prefix(task)
            state = {(n[len(own):] if n.startswith(own) else n): v for n, v in state.items()}
        return infer_training_config(state, prefix)

    def read_state(self, path, config, model_type="base", task_name=None, model_classes=None):
        prefix = training_prefix(path)
        tf1_named = tf1_named_weights(prefix)
        if tf1_named is not None:
            return self._read_tf1_named_state(prefix, tf1_named, model_type, task_name)
        weights = read_weights(prefix)
        task = _choose_task(_tasks(weights), task_name, model_type, prefix)
        state: Dict[str, np.ndarray] = {}
        skipped: Dict[str, str] = {}
        own = head_weight_prefix(task) if task else None
        for name, value in weights.items():
            if own and name.startswith(own):
                state[name[len(own):]] = value
            elif name.startswith(TASK_SCOPE + "."):
                skipped[name] = (f"head of another task (this model uses {TASK_SCOPE}.{task})" if task
                                 else "fine-tuning head (not part of this model type)")
            else:
                state[name] = value
        entry = run_task_entry(prefix, task) if task and model_type in HEAD_MODEL_TYPES else None
        if entry and "crf_masks" in entry:
            # decode with the trained scores plus constrained_decoding's masks, as the run did
            for name, mask in entry["crf_masks"].items():
                if f"crf.{name}" in state:
                    state[f"crf.{name}"] = (state[f"crf.{name}"] + np.asarray(mask, np.float32)).astype(np.float32)
        skipped.update(_skipped_non_weights(prefix, weight_keys(prefix).values()))
        return state, skipped

    @staticmethod
    def _read_tf1_named_state(prefix, tf1_named, model_type, task_name):
        """The state of a checkpoint with TF1-named weights (:func:`tf1_named_weights`) through the
        original's name mapping; RNG states and optimizer slots are skipped with their reasons."""
        import tensorflow as tf

        shapes, keys = tf1_named
        reader = tf.train.load_checkpoint(prefix)
        # read_tf1_state turns a failed read (truncated .data file) into an error naming the weight
        state, skipped = tf1.read_tf1_state(prefix, model_type=model_type, task_name=task_name, shapes=shapes,
                                            get_tensor=lambda name: reader.get_tensor(keys[name]))
        skipped.update(_skipped_non_weights(prefix, keys.values()))
        return state, skipped

    def model_type(self, path: str) -> str:
        prefix = training_prefix(path)
        tf1_named = tf1_named_weights(prefix)
        if tf1_named is not None:
            return tf1.tf1_model_type(prefix, names=tf1_named[0])
        run = _run_tasks(prefix)
        types = {entry.get("model_type") for entry in run["tasks"].values()} if run else set()
        if len(types) == 1:
            return types.pop()
        found = _config_file(prefix)
        data = read_json_file(found, CheckpointError, "restore it, or pass --model-type.") if found else None
        if isinstance(data, dict):
            stored = recorded_model_type(data)
            if stored:
                return stored
            architectures = data.get("architectures")
            for arch in architectures if isinstance(architectures, list) else []:
                if arch in ARCHITECTURE_MODEL_TYPES:
                    return ARCHITECTURE_MODEL_TYPES[arch]
        names = [_TASK_PREFIX.sub("", n) for n in read_weights(prefix)]
        if any(n.startswith(("qa_head.", "qa_outputs.")) for n in names):
            return "question-answering"
        if any(n.startswith(("classifier.dense.", "classifier.out_proj.")) for n in names):
            return "sequence-classification"
        if any(n.startswith("classifier.") for n in names):
            raise CheckpointError(
                f"{path} has a single-dense head (classifier), which can be a classifier or a tagger; pass "
                f"--model-type sequence-classification or token-classification."
            )
        if any(n.startswith("generator_predictions.") for n in names):
            return "generator"
        if any(n.startswith("discriminator_predictions.") for n in names):
            return "pretraining"
        return "base"

    def write(self, model, path: str, **options) -> str:
        raise CheckpointError(
            "The fine-tuning training checkpoint is written only by run_finetuning (it holds the optimizer and "
            "dropout RNG state); save the model as 'keras', 'hf' or 'tf1' instead."
        )
