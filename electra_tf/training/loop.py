"""The custom training and evaluation loops (``tf.function`` steps through ``strategy.run``).

Not ``model.fit``: Keras 3's fit fails under MultiWorkerMirroredStrategy, and the recipe (sum
loss, clip after the cross-replica sum, per-layer learning rates) needs its own step anyway.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import tensorflow as tf

from electra_tf.training.distribute import distributed_input


class Trainer:
    """Runs training steps of ``model`` with ``optimizer`` under ``strategy`` (the strategy-aware
    step of :class:`electra_tf.training.engine.TrainingEngine`).

    ``per_example_loss(outputs, features) -> [batch]`` defaults to ``model.per_example_loss``.
    ``example_weights(features) -> [batch]`` (optional): 1 for real examples, 0 for padding rows;
    their sum is the step's example count, which the engine divides the loss sum by for the
    per-example mean it shows in TensorBoard (without it every row counts).
    ``optimizer.apply_gradients(gradients)`` takes the gradients of ``variables`` in that order
    (it sums them across replicas, unscales, clips and updates; see optimization.AdamWeightDecay)
    and returns the global gradient norm; its optional ``loss_scale`` scales the loss.

    Creating a Trainer applies ``runtime.GRAPH_OPTIMIZER_OPTIONS`` (three Grappler passes off) to
    every graph the process builds afterwards: a TensorFlow setting that is process-wide.
    """

    def __init__(self, strategy, model, optimizer, variables: List, accumulation_steps: int = 1, jit_compile: bool = False,
                 per_example_loss: Optional[Callable] = None, example_weights: Optional[Callable] = None):
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.per_example_loss = per_example_loss if per_example_loss is not None else model.per_example_loss
        self.example_weights = example_weights
        from electra_tf.training.optimization import tf_variable
        from electra_tf.training.runtime import configure_graph_optimizer

        configure_graph_optimizer()  # a faster first step, the same arithmetic
        self.variables = [tf_variable(v) for v in variables]
        self.accumulation_steps = max(1, int(accumulation_steps))
        self._train_step = None
        self._eval_step = None
        # XLA compiles the forward/backward computation; the cross-replica optimizer step stays
        # outside it (merge_call and collectives do not belong in an XLA cluster).
        self._gradients = tf.function(self._loss_and_gradients, jit_compile=True) if jit_compile else self._loss_and_gradients

    def _loss_and_gradients(self, features):
        scale = getattr(self.optimizer, "loss_scale", None)
        with tf.GradientTape() as tape:
            outputs = self.model(features, training=True)
            # The original's loss: per-example losses summed over the batch (not averaged).
            losses = tf.cast(self.per_example_loss(outputs, features), tf.float32)
            loss = tf.reduce_sum(losses)
            scaled = loss * scale.scale if scale is not None else loss
        grads = tape.gradient(scaled, self.variables)
        # The examples the sum is over (padding rows out), for the per-example mean the engine logs.
        examples = (tf.reduce_sum(tf.cast(self.example_weights(features), tf.float32)) if self.example_weights
                    else tf.cast(tf.shape(losses)[0], tf.float32))
        return loss, examples, [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]

    def _replica_train_step(self, micro_batches):
        """Sum the gradients of the micro-batches, then one optimizer step (accumulation)."""
        total_loss = 0.0
        total_examples = 0.0
        summed = None
        for features in micro_batches:
            loss, examples, grads = self._gradients(features)
            summed = grads if summed is None else [a if b is None else (b if a is None else a + b) for a, b in zip(summed, grads)]
            total_loss += loss
            total_examples += examples
        norm = self.optimizer.apply_gradients(summed)
        return total_loss, norm, total_examples

    def train_step(self, iterator, with_examples: bool = False):
        """One optimizer step on the next global batch (``accumulation_steps`` micro-batches);
        returns (batch loss sum, gradient norm), plus the number of examples in the batch (see
        ``example_weights``) when ``with_examples``."""
        if self._train_step is None:
            @tf.function
            def step(it):
                micro = tuple(next(it) for _ in range(self.accumulation_steps))
                loss, norm, examples = self.strategy.run(self._replica_train_step, args=(micro,))
                total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
                count = self.strategy.reduce(tf.distribute.ReduceOp.SUM, examples, axis=None)
                return total, self.strategy.experimental_local_results(norm)[0], count

            self._train_step = step
        loss, norm, examples = self._train_step(iterator)
        return (loss, norm, examples) if with_examples else (loss, norm)

    def predict_batches(self, dataset) -> Iterator[Dict[str, np.ndarray]]:
        """Yield, per global batch, host numpy outputs {task: {key: [n]}}, losses [n], features."""
        if self._eval_step is None:
            # Batches cut to their longest input (dynamic padding, length-sorted evaluation) come in
            # several lengths: a step traced for [None, None] shapes serves them all (one trace),
            # where tracing per shape would build the graph once per length. Fixed-length batches
            # (the original's) keep the step traced for their static shape.
            relaxed = _relaxed_signature(dataset.element_spec)
            several = relaxed is not None and self.strategy.num_replicas_in_sync > 1  # per-replica values
            if several:
                relaxed = None

            @tf.function(input_signature=relaxed, reduce_retracing=several)
            def step(features):
                def fn(f):
                    outputs = self.model(f, training=False)
                    return outputs, self.per_example_loss(outputs, f), f

                per_replica = self.strategy.run(fn, args=(features,))
                # All replicas (of all workers) -> every worker sees the whole global batch.
                return tf.nest.map_structure(lambda v: self.strategy.gather(v, axis=0), per_replica)

            self._eval_step = step
        for batch in distributed_input(self.strategy, dataset):
            outputs, losses, features = self._eval_step(batch)
            yield tf.nest.map_structure(np.asarray, (outputs, losses, features))


def _relaxed_signature(element_spec):
    """``[spec]`` with every dimension unknown when some non-batch dimension of the dataset's
    ``element_spec`` (a dict of TensorSpecs) is already unknown; else None (keep static shapes)."""
    if not isinstance(element_spec, dict) or not all(isinstance(v, tf.TensorSpec) for v in element_spec.values()):
        return None
    if not any(None in v.shape.as_list()[1:] for v in element_spec.values() if v.shape.rank):
        return None
    return [{k: tf.TensorSpec([None] * v.shape.rank, v.dtype, name=k) for k, v in element_spec.items()}]
