"""The original ELECTRA fine-tuning optimizer (``model/optimization.py``), exactly.

* Schedule: ``lr(t) = base * (1 - t/N) * min(1, t/W)`` with ``W = warmup_proportion * N``,
  evaluated at the step count *before* the update (so the first update uses lr 0, as in TF1's
  polynomial_decay on the pre-increment global_step). Warm-up multiplies the decay, so the
  peak is ``(1 - W/N) * base``, not ``base``.
* ``AdamWeightDecay``: Adam without bias correction, epsilon outside the square root,
  decoupled weight decay (scaled by the learning rate) for every weight whose name does not
  contain ``LayerNorm``, ``layer_norm`` or ``bias``.
* ``bias_correction`` (our option, default False = the original): Adam's bias-corrected moments,
  ``m / (1 - beta_1^t)`` and ``v / (1 - beta_2^t)`` at update ``t`` (1 for the first), epsilon
  still outside the square root, weight decay unchanged. Without it the original's first steps
  are ``(1 - beta_1^t) / sqrt(1 - beta_2^t)`` times Adam's (3.2 at t = 1, 6.5 at t = 10).
* Layer-wise LR decay: multiplier ``decay ** (n_layers + 2 - depth)`` with embeddings and the
  embedding projection at depth 0, encoder layer i at i + 1 and the task heads at n + 2. The
  top layer therefore gets ``decay ** 2``, one factor more than intended (google-research/electra
  issues #51 and #64, a leftover of the removed pooler); we keep it because it is what the
  published numbers were produced with.
* Gradients are clipped to global norm 1.0 *after* they are summed across replicas (the
  original ran on one device, so this gives one-device semantics; Keras clips per replica).

Distributed updates go through ``merge_call``: sum the gradients with ``batch_reduce_to``,
clip, then update every variable and its slots with ``extended.update`` on each device. The
same code runs on the default strategy, MirroredStrategy, MultiWorkerMirroredStrategy and TPU.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

#: the largest stacked update group, in elements (the stacking copies stay small next to the
#: weights: ELECTRA-small's 12 FFN kernels are one group, a large model's are updated one by one)
GROUP_ELEMENTS = 1 << 22

# Weight names (canonical, HF-style) excluded from weight decay: the original's patterns.
EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def learning_rate_at(step, base_lr: float, num_train_steps: int, warmup_proportion: float, warmup_steps: int = 0,
                     decay_power: float = 1.0):
    """The original schedule at (pre-increment) step ``step``; works on floats and tensors.

    ``decay_power`` is pre-training's ``lr_decay_power`` (polynomial_decay's power; fine-tuning
    uses 1, linear); ``warmup_steps`` its ``num_warmup_steps`` (the warm-up is the larger of it
    and ``warmup_proportion * num_train_steps``, as the original's create_optimizer).
    """
    step = tf.cast(step, tf.float32)
    total = float(max(num_train_steps, 1))
    remaining = 1.0 - tf.minimum(step, total) / total
    if decay_power != 1.0:
        remaining = tf.pow(remaining, float(decay_power))
    decayed = base_lr * remaining  # polynomial_decay with end 0
    warmup = max(num_train_steps * warmup_proportion, warmup_steps)
    if warmup > 0:
        decayed = decayed * tf.minimum(1.0, step / float(warmup))
    # warmup 0: the original divides 0 by 0 (NaN) at step 0; we apply no warm-up instead.
    return decayed


def layerwise_multipliers(depths: Dict[str, int], n_layers: int, layer_decay: float) -> Dict[str, float]:
    """name -> learning-rate multiplier; all 1.0 when layer_decay <= 0 (disabled)."""
    if layer_decay is None or layer_decay <= 0:
        return {name: 1.0 for name in depths}
    return {name: float(layer_decay ** (n_layers + 2 - depth)) for name, depth in depths.items()}


def tf_variable(variable):
    """The tf.Variable behind a Keras 3 variable (a tf.Variable is returned as it is)."""
    if isinstance(variable, tf.Variable):
        return variable
    return getattr(variable, "value", variable)


def decays_weight(name: str) -> bool:
    """Whether weight decay applies to weight ``name`` (not to LayerNorm weights and biases, as the original)."""
    return not any(re.search(pattern, name) for pattern in EXCLUDE_FROM_WEIGHT_DECAY)


class DynamicLossScale(tf.Module):
    """Dynamic loss scaling for mixed_float16: the loss is multiplied by ``scale`` before the
    gradients are taken; a step whose (summed) gradients are not finite is skipped and halves the
    scale; ``growth_interval`` finite steps in a row double it (Keras' LossScaleOptimizer rule)."""

    def __init__(self, initial_scale: float = 2.0 ** 15, growth_interval: int = 2000):
        super().__init__(name="loss_scale")
        agg = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.scale = tf.Variable(float(initial_scale), trainable=False, name="scale", aggregation=agg)
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="good_steps", aggregation=agg)
        self.growth_interval = growth_interval

    def update(self, finite):
        """After a step: halve the scale if the gradients were not ``finite``, double it after
        ``growth_interval`` finite steps."""
        grow = tf.logical_and(finite, self.good_steps + 1 >= self.growth_interval)
        self.scale.assign(tf.where(finite, tf.where(grow, self.scale * 2.0, self.scale), self.scale / 2.0))
        self.good_steps.assign(tf.where(tf.logical_and(finite, tf.logical_not(grow)), self.good_steps + 1,
                                        tf.zeros_like(self.good_steps)))


class AdamWeightDecay(tf.Module):
    """The original AdamWeightDecayOptimizer with per-weight learning-rate multipliers.

    ``variables`` and ``names`` are parallel lists (names are canonical weight names, used for
    the decay exclusions). Create it inside the distribution strategy's scope so that its
    slots are mirrored like the variables. ``apply_gradients`` must be called in a replica
    context (inside ``strategy.run``) or outside any strategy.
    """

    def __init__(
        self,
        variables: Sequence,
        names: Sequence[str],
        base_lr: float,
        num_train_steps: int,
        warmup_proportion: float = 0.1,
        weight_decay_rate: float = 0.01,
        lr_multipliers: Optional[Dict[str, float]] = None,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-6,
        clip_norm: Optional[float] = 1.0,
        loss_scale: Optional[DynamicLossScale] = None,
        name: str = "adam_weight_decay",
        warmup_steps: int = 0,
        decay_power: float = 1.0,
        bias_correction: bool = False,
    ):
        super().__init__(name=name)
        if len(variables) != len(names):
            raise ValueError("variables and names must be parallel lists")
        self.variables_ = [tf_variable(v) for v in variables]
        self.names = list(names)
        self.base_lr = float(base_lr)
        self.num_train_steps = int(num_train_steps)
        self.warmup_proportion = float(warmup_proportion)
        self.warmup_steps = int(warmup_steps)  # pre-training's num_warmup_steps
        self.decay_power = float(decay_power)  # pre-training's lr_decay_power
        self.weight_decay_rate = float(weight_decay_rate)
        multipliers = lr_multipliers or {}
        self.multipliers = [float(multipliers.get(n, 1.0)) for n in self.names]
        self.decay_mask = [decays_weight(n) and self.weight_decay_rate > 0 for n in self.names]
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.clip_norm = clip_norm
        # False (the default) is the original's Adam, without bias correction; True is our option.
        self.bias_correction = bool(bias_correction)
        self.loss_scale = loss_scale
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.adam_m = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"{n}/adam_m")
                       for v, n in zip(self.variables_, self.names)]
        self.adam_v = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False, name=f"{n}/adam_v")
                       for v, n in zip(self.variables_, self.names)]
        self._groups: Optional[List[List[int]]] = None  # see _update_groups

    def learning_rate(self, step=None):
        """The learning rate at ``step`` (default: the current one): warm-up, then linear decay, as the
        original."""
        step = self.iterations if step is None else step
        return learning_rate_at(step, self.base_lr, self.num_train_steps, self.warmup_proportion,
                                warmup_steps=self.warmup_steps, decay_power=self.decay_power)

    # Plain Python control flow only (loops over the variable list, flags): AutoGraph's conversion
    # would only slow the tracing of the training step (about 15% of the optimizer's share).
    @tf.autograph.experimental.do_not_convert
    def apply_gradients(self, gradients: List[tf.Tensor]):
        """Sum across replicas, clip by global norm, update. Returns the (unclipped) global norm."""
        # Embedding gradients come as IndexedSlices; the original densifies them in its Adam math.
        gradients = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]
        context = tf.distribute.get_replica_context()
        if context is None:  # cross-replica context: gradients are already final
            return self._apply(tf.distribute.get_strategy(), gradients, reduce=False)
        return context.merge_call(self._apply, args=(gradients,))

    def _apply(self, strategy, gradients, reduce=True):
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, self.variables_)]
        if reduce:
            grads = strategy.extended.batch_reduce_to(
                tf.distribute.ReduceOp.SUM, list(zip(grads, self.variables_))
            )
        # None: no loss scaling, every step is applied (no per-variable selects in the graph:
        # fewer ops to trace and run, the same arithmetic).
        finite = None
        if self.loss_scale is not None:
            grads = [tf.cast(g, tf.float32) / self.loss_scale.scale for g in grads]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]  # a skipped step must not poison the norm
            self.loss_scale.update(finite)
        global_norm = tf.linalg.global_norm(grads)
        if self.clip_norm:
            # tf.clip_by_global_norm: g * clip / max(norm, clip)
            scale = self.clip_norm / tf.maximum(global_norm, self.clip_norm)
        else:
            scale = tf.constant(1.0)
        lr = self.learning_rate()
        # The hyper-parameters as float32 tensors made once per step instead of a constant per
        # variable and use (the same float32 values: fewer graph nodes to trace and optimize).
        coefficients = self._coefficients()
        lr_by_multiplier = {}
        for multiplier in self.multipliers:
            if multiplier not in lr_by_multiplier:
                lr_by_multiplier[multiplier] = lr * multiplier
        for members in self._update_groups():
            # One update per group of same-shape weights (see _update_group); the first member's
            # variable places it (on every replica: the other members are passed as arguments).
            first = members[0]
            strategy.extended.update(
                self.variables_[first], self._update_group,
                args=([grads[i] for i in members], [self.variables_[i] for i in members[1:]],
                      [self.adam_m[i] for i in members], [self.adam_v[i] for i in members], scale,
                      [lr_by_multiplier[self.multipliers[i]] for i in members], finite),
                kwargs={"decay": self.decay_mask[first], "coefficients": coefficients}, group=False,
            )
        if finite is None:
            strategy.extended.update(self.iterations, lambda it: it.assign_add(tf.constant(1, tf.int64)), group=False)
        else:
            strategy.extended.update(self.iterations, lambda it, ok: it.assign_add(tf.cast(ok, tf.int64)), args=(finite,),
                                     group=False)
        return global_norm

    def _coefficients(self) -> Dict[str, tf.Tensor]:
        """beta_1, 1 - beta_1, beta_2, 1 - beta_2, epsilon and the decay rate as float32 tensors
        (each computed in Python double precision, then rounded once, as a float literal is)."""
        values = {"b1": self.beta_1, "one_minus_b1": 1.0 - self.beta_1, "b2": self.beta_2,
                  "one_minus_b2": 1.0 - self.beta_2, "eps": self.epsilon, "wd": self.weight_decay_rate}
        coefficients = {k: tf.constant(v, tf.float32) for k, v in values.items()}
        if self.bias_correction:
            # t = the number of this update (1 for the first): the step counter before it, plus one
            t = tf.cast(self.iterations + 1, tf.float32)
            coefficients["m_correction"] = 1.0 / (1.0 - tf.pow(coefficients["b1"], t))
            coefficients["v_correction"] = 1.0 / (1.0 - tf.pow(coefficients["b2"], t))
        return coefficients

    def _update_groups(self) -> List[List[int]]:
        """The variables' indices in update groups: weights of one shape, dtype and weight-decay
        flag (e.g. the query kernels of every layer), at most :data:`GROUP_ELEMENTS` elements each."""
        if self._groups is None:
            by_key: Dict[tuple, List[List[int]]] = {}
            for i, var in enumerate(self.variables_):
                key = (tuple(var.shape.as_list()), var.dtype, self.decay_mask[i])
                chunks = by_key.setdefault(key, [[]])
                if chunks[-1] and (len(chunks[-1]) + 1) * max(var.shape.num_elements(), 1) > GROUP_ELEMENTS:
                    chunks.append([])
                chunks[-1].append(i)
            self._groups = [chunk for chunks in by_key.values() for chunk in chunks]
        return self._groups

    def _update_group(self, var, grads, others, ms, vs, scale, lrs, finite, decay, coefficients):
        """The update of a group of same-shape weights (``var`` and ``others``) on their stacked
        values: the original's arithmetic element by element, so every weight and slot gets the
        same values, bit for bit, as from :meth:`_update_one` (tested), in about a third of the graph
        nodes (the training step traces and starts faster; the stacking copies cost about 5 ms of
        an ELECTRA-small step). Each weight's learning rate (its layer's multiplier) is broadcast
        over its slice."""
        if not others:
            return self._update_one(var, grads[0], ms[0], vs[0], scale, lrs[0], finite, decay, coefficients)
        variables = [var, *others]
        c = coefficients
        grad = tf.stack([tf.cast(g, tf.float32) for g in grads]) * scale  # [k, *shape]
        m = tf.stack([tf.convert_to_tensor(x) for x in ms])
        v = tf.stack([tf.convert_to_tensor(x) for x in vs])
        new_m = c["b1"] * m + c["one_minus_b1"] * grad
        new_v = c["b2"] * v + c["one_minus_b2"] * tf.square(grad)
        if finite is not None:
            new_m = tf.where(finite, new_m, m)
            new_v = tf.where(finite, new_v, v)
        updates = [x.assign(value, read_value=False) for x, value in zip(ms, tf.unstack(new_m))]
        updates += [x.assign(value, read_value=False) for x, value in zip(vs, tf.unstack(new_v))]
        if self.bias_correction:  # our option; the original's update is the line below
            update = (new_m * c["m_correction"]) / (tf.sqrt(new_v * c["v_correction"]) + c["eps"])
        else:
            update = new_m / (tf.sqrt(new_v) + c["eps"])
        if decay:
            update += c["wd"] * tf.stack([tf.convert_to_tensor(x) for x in variables])
        lr = tf.reshape(tf.stack(lrs), [len(variables)] + [1] * (len(grad.shape) - 1))
        step = lr * update
        if finite is not None:
            step = tf.where(finite, step, tf.zeros_like(update))
        updates += [x.assign_sub(value, read_value=False) for x, value in zip(variables, tf.unstack(step))]
        return tf.group(updates)

    def _update_one(self, var, grad, m, v, scale, lr, finite, decay, coefficients):
        """One variable's update; ``finite`` None (no loss scaling) applies it unconditionally.

        The arithmetic is the original's, operation for operation; the new moments are used as
        computed rather than read back from their variables (the same values, fewer nodes).
        ``coefficients``: ``_coefficients()``, made once per step by ``_apply``."""
        c = coefficients
        grad = tf.cast(grad, tf.float32) * scale
        new_m = c["b1"] * m + c["one_minus_b1"] * grad
        new_v = c["b2"] * v + c["one_minus_b2"] * tf.square(grad)
        if finite is not None:
            new_m = tf.where(finite, new_m, m)
            new_v = tf.where(finite, new_v, v)
        m.assign(new_m, read_value=False)
        v.assign(new_v, read_value=False)
        if self.bias_correction:  # our option; the original's update is the line below
            update = (new_m * c["m_correction"]) / (tf.sqrt(new_v * c["v_correction"]) + c["eps"])
        else:
            update = new_m / (tf.sqrt(new_v) + c["eps"])
        if decay:
            update += c["wd"] * var
        step = lr * update
        return var.assign_sub(step if finite is None else tf.where(finite, step, tf.zeros_like(update)), read_value=False)
