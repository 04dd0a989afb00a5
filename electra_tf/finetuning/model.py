"""The fine-tuning model: one shared ELECTRA encoder and one head per task.

As in the original ``run_finetuning.FinetuningModel``: every head runs on every example, and an
example's loss is its own task's loss (``task_id`` selects it; padding records, whose task_id is
the number of tasks, contribute zero). The training loss is the *sum* over the batch.
"""

from __future__ import annotations

from typing import Dict, List

import keras
import numpy as np
from keras import ops

from electra_tf.config import ElectraConfig
from electra_tf.finetuning.task import head_weight_prefix
from electra_tf.modeling.encoder import ElectraMainLayer
from electra_tf.modeling.models import build_sublayers, unbuilt_layers
from electra_tf.modeling.naming import WeightRef


class FinetuningModel(keras.Model):
    """Encoder + task heads. ``call(features)`` -> {task name: outputs}."""

    base_model_prefix = "electra"

    def __init__(self, model_config: ElectraConfig, tasks: List, **kwargs):
        """The encoder of ``model_config`` and each task's head (each task builds the head its
        options name: the original's or HuggingFace's)."""
        super().__init__(**kwargs)
        self.config = model_config
        self.tasks = list(tasks)
        self.electra = ElectraMainLayer(model_config, name="electra")
        self.task_heads = [task.build_head(model_config) for task in self.tasks]

    def build(self, input_shape=None):
        """The encoder's and every head's weights, from the configuration (see build_sublayers)."""
        build_sublayers(self, self.config.hidden_size)

    def call(self, features, training=False):
        """Encode the batch once and run every task's head on it: {task name: that head's outputs}."""
        encoded = self.electra(features["input_ids"], attention_mask=features["input_mask"],
                               token_type_ids=features["segment_ids"], training=training)
        sequence_output = encoded["last_hidden_state"]
        return {task.name: task.head_outputs(head, sequence_output, features, training)
                for task, head in zip(self.tasks, self.task_heads)}

    def per_example_loss(self, outputs, features):
        """[B] loss of each example under its own task (0 for padding records)."""
        losses = [task.per_example_loss(head, outputs[task.name], features) for task, head in zip(self.tasks, self.task_heads)]
        stacked = ops.stack(losses, axis=-1)  # [B, T]
        select = ops.one_hot(ops.cast(features["task_id"], "int32"), len(self.tasks))  # padding -> all zeros
        return ops.sum(stacked * select, axis=-1)

    def example_weights(self, features):
        """[B] 1 for real examples, 0 for padding records: the training engine's per-example mean loss
        (TensorBoard) counts only real examples."""
        return ops.cast(ops.less(ops.cast(features["task_id"], "int32"), len(self.tasks)), "float32")

    def head_state(self, task_name: str) -> Dict[str, np.ndarray]:
        """What decoding of ``task_name`` needs from its trained head, as NumPy arrays (a CRF's
        transition, start and end scores); passed to the task's scorer by the runner."""
        for task, head in zip(self.tasks, self.task_heads):
            if task.name == task_name:
                return task.head_state(head)
        raise KeyError(f"no task {task_name!r} in this model")

    def build_for(self, max_seq_length: int) -> "FinetuningModel":
        """Create every weight: from the configuration (see build()), plus one all-zeros batch of
        ``max_seq_length`` only when a head makes its weights on its first call (a registered
        head without a ``build``); returns the model."""
        self.build(None)
        if unbuilt_layers(self):
            batch = {"input_ids": np.zeros((1, max_seq_length), "int32"), "input_mask": np.ones((1, max_seq_length), "int32"),
                     "segment_ids": np.zeros((1, max_seq_length), "int32"), "task_id": np.zeros((1,), "int32")}
            for task in self.tasks:
                for name, (shape, dtype) in task.feature_spec().items():
                    batch[name] = np.zeros((1,) + tuple(shape), "float32" if dtype == "float32" else "int32")
            self(batch, training=False)
        return self

    def hf_weights(self) -> List[WeightRef]:
        """Encoder weights under ``electra.*``, each head under ``task_specific.<task>.*``."""
        refs = list(self.electra.hf_weights("electra"))
        for task, head in zip(self.tasks, self.task_heads):
            # Inside the task scope, heads keep the names of the single-task model classes
            # (classifier.weight, qa_head.start.weight, ...), so export is a prefix strip.
            for ref in head.hf_weights(task.head_prefix):
                refs.append(WeightRef(head_weight_prefix(task.name) + ref.name, ref.variable, ref.is_kernel))
        return refs

    def canonical_depths(self) -> Dict[str, int]:
        """Depth of each weight for the original layer-wise LR decay (heads at n + 2)."""
        return self.electra.depths(self.hf_weights())
