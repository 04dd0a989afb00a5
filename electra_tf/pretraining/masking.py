"""The original ELECTRA dynamic masking (``pretrain/pretrain_helpers.py``) in TensorFlow ops.

Everything here runs inside ``tf.function``. Randomness comes in two ways: ``draw_masking_noise``
draws it from a Keras ``SeedGenerator`` (deterministic given its seed, and checkpointed with the
model so a resumed run draws what an uninterrupted one would), or a test passes the draws
explicitly (``MaskingNoise``) to compare against a reference.

The rules, as the original:

* candidates: ``input_mask == 1`` and the id is not ``[CLS]``, ``[SEP]`` or ``[MASK]`` (padding is
  excluded through the mask, #59; ``[UNK]`` can be masked);
* per sequence k = max(1, min(N, round(n_tok * mask_prob))) with n_tok = sum(input_mask)
  (specials counted), computed in float32 with round-half-to-even; slots j >= k are unused
  (position 0, id 0, weight 0);
* N positions drawn i.i.d. **with replacement**, uniformly over the candidates (duplicates are
  common: #41); ``without_replacement`` is our option to draw distinct positions;
* each slot independently: with probability 0.85 its position becomes ``[MASK]``, otherwise the
  token is kept (no random tokens, unlike BERT's 80/10/10);
* ``scatter_update``: updates at one position are summed and divided by their count (integers:
  floor division), column 0 is never updated (unused slots point there).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import tensorflow as tf

# The original hard-codes 0.85 (pretrain_helpers.py:201-205).
MASK_TOKEN_PROB = 0.85


@dataclasses.dataclass
class MaskingNoise:
    """The random draws of one masking: ``keep_draws`` [B, N] in [0, 1) (below 0.85: [MASK]) and
    either ``positions`` [B, N] (the original's categorical draw, with replacement) or ``gumbel``
    [B, L] noise (our draw without replacement: the N best of log p + noise)."""

    keep_draws: tf.Tensor
    positions: Optional[tf.Tensor] = None  # [B, N] int32, used as is (tests)
    gumbel: Optional[tf.Tensor] = None  # [B, L] Gumbel noise, for drawing without replacement


@dataclasses.dataclass
class MaskedInputs:
    """What ``mask`` returns (the original's ``Inputs`` with the masked_lm fields)."""

    input_ids: tf.Tensor  # [B, L] masked ids
    input_mask: tf.Tensor
    segment_ids: tf.Tensor
    masked_lm_positions: tf.Tensor  # [B, N] int32
    masked_lm_ids: tf.Tensor  # [B, N] int32
    masked_lm_weights: tf.Tensor  # [B, N] float32


def scatter_update(sequence, updates, positions):
    """The original's ``scatter_update``: write ``updates`` [B, N] (or [B, N, D]) into
    ``sequence`` [B, L] (or [B, L, D]) at ``positions`` [B, N].

    Several updates of one position are summed and divided by their number (integer sequences:
    floor division, so two different sampled ids give their floor average, #41); position 0 is
    never updated. Returns (updated sequence, [B, L] int32 mask of updated positions).
    """
    sequence = tf.convert_to_tensor(sequence)
    squeeze = sequence.shape.rank == 2
    if squeeze:
        sequence = sequence[:, :, None]
        updates = tf.convert_to_tensor(updates)[:, :, None]
    shape = tf.shape(sequence)
    batch, length, depth = shape[0], shape[1], shape[2]
    positions = tf.cast(positions, tf.int32)
    n = tf.shape(positions)[1]
    flat = tf.reshape(positions + length * tf.range(batch)[:, None], [-1, 1])
    summed = tf.scatter_nd(flat, tf.reshape(tf.cast(updates, sequence.dtype), [-1, depth]), [batch * length, depth])
    summed = tf.reshape(summed, [batch, length, depth])
    counts = tf.scatter_nd(flat, tf.ones([batch * n], tf.int32), [batch * length])
    not_first = tf.concat([tf.zeros([batch, 1], tf.int32), tf.ones([batch, length - 1], tf.int32)], axis=1)
    counts = tf.reshape(counts, [batch, length]) * not_first
    counts_3d = counts[:, :, None]
    if sequence.dtype.is_floating:
        summed = summed / tf.maximum(tf.cast(counts_3d, sequence.dtype), 1.0)
    else:
        summed = tf.math.floordiv(summed, tf.cast(tf.maximum(counts_3d, 1), sequence.dtype))
    updated_mask = tf.minimum(counts, 1)
    mask_3d = tf.cast(tf.minimum(counts_3d, 1), sequence.dtype)
    result = (1 - mask_3d) * sequence + mask_3d * summed
    if squeeze:
        result = result[:, :, 0]
    return result, updated_mask


def candidates_mask(input_ids, input_mask, special_ids):
    """[B, L] bool: positions that may be masked (real tokens other than [CLS], [SEP], [MASK])."""
    ids = tf.cast(input_ids, tf.int32)
    allowed = tf.cast(input_mask, tf.bool)
    for token_id in special_ids:
        allowed = tf.logical_and(allowed, tf.not_equal(ids, int(token_id)))
    return allowed


def num_to_predict(input_mask, mask_prob: float, max_predictions: int):
    """[B] int32: max(1, min(N, round(n_tok * mask_prob))) in float32, half to even (tf.round)."""
    num_tokens = tf.cast(tf.reduce_sum(tf.cast(input_mask, tf.int32), axis=-1), tf.float32)
    count = tf.cast(tf.round(num_tokens * tf.constant(mask_prob, tf.float32)), tf.int32)
    return tf.maximum(1, tf.minimum(max_predictions, count))


def replica_rows(batch):
    """(first row, global batch) of this replica's rows in the global batch: every replica draws
    the noise of the whole global batch from the shared seed state and keeps its own rows, so the
    draws do not depend on how the batch is split (one device, replicas, workers)."""
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    if replicas == 1:  # one replica, or cross-replica context: the whole batch (a Python 0, so no slice is made)
        return 0, batch
    return tf.cast(context.replica_id_in_sync_group, tf.int32) * batch, batch * replicas


def uniform_rows(seed_generator, batch, shape, **kwargs):
    """keras.random.uniform of shape [batch, *shape], this replica's rows of a global-batch draw."""
    import keras

    start, total = replica_rows(batch)
    draw = keras.random.uniform(tf.concat([[total], tf.cast(shape, tf.int32)], 0), seed=seed_generator, **kwargs)
    if isinstance(start, int) and start == 0 and total is batch:
        return draw  # the whole draw: no copy of it ([B, N, vocabulary] for the sampling noise)
    return draw[start:start + batch]


def draw_masking_noise(seed_generator, batch, length, max_predictions: int, without_replacement: bool = False,
                       candidate_logits=None) -> MaskingNoise:
    """The random draws of one masking from a Keras SeedGenerator: positions (categorical over
    ``candidate_logits`` [B, L], i.e. with replacement, drawn by Gumbel-max per slot) or Gumbel
    noise (without replacement), and the [MASK]-or-keep uniforms. Rows of a global-batch draw
    (``uniform_rows``), so the draws are the same on one device and under any distribution."""
    keep = uniform_rows(seed_generator, batch, [max_predictions])
    if without_replacement:
        uniform = uniform_rows(seed_generator, batch, [length], minval=1e-20, maxval=1.0)
        return MaskingNoise(keep_draws=keep, gumbel=-tf.math.log(-tf.math.log(uniform)))
    # One categorical draw per slot: argmax of logits + Gumbel noise (an exact categorical sample).
    uniform = uniform_rows(seed_generator, batch, [max_predictions, length], minval=1e-20, maxval=1.0)
    scores = tf.cast(candidate_logits, tf.float32)[:, None, :] - tf.math.log(-tf.math.log(uniform))
    positions = tf.argmax(scores, axis=-1, output_type=tf.int32)
    return MaskingNoise(keep_draws=keep, positions=positions)


def mask(input_ids, input_mask, segment_ids, *, mask_prob: float, max_predictions: int, mask_id: int,
         special_ids, seed_generator=None, noise: Optional[MaskingNoise] = None,
         without_replacement: bool = False) -> MaskedInputs:
    """The original's ``mask()``: choose, per sequence, the slots to predict and mask them.

    Pass ``seed_generator`` (draws inside) or ``noise`` (explicit draws; ``noise.positions``
    replaces the categorical draw). A sequence without any candidate gets no weighted slot (the
    original would produce NaN probabilities; its dataset builder never writes one).
    """
    input_ids = tf.cast(input_ids, tf.int32)
    batch, length = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
    candidates = candidates_mask(input_ids, input_mask, special_ids)
    k = num_to_predict(input_mask, mask_prob, max_predictions)
    has_candidate = tf.reduce_any(candidates, axis=-1)
    weights = tf.cast(tf.sequence_mask(k, max_predictions), tf.float32)
    weights *= tf.cast(has_candidate, tf.float32)[:, None]
    # Uniform over candidates: log(p) with p = candidates / count, -inf elsewhere (as the original).
    candidate_f = tf.cast(candidates, tf.float32)
    probs = candidate_f / tf.maximum(tf.reduce_sum(candidate_f, axis=-1, keepdims=True), 1.0)
    logits = tf.where(candidates, tf.math.log(tf.maximum(probs, 1e-30)), tf.fill(tf.shape(probs), -1e30))
    if noise is None:
        noise = draw_masking_noise(seed_generator, batch, length, max_predictions, without_replacement, logits)
    if noise.positions is not None:
        positions = tf.cast(noise.positions, tf.int32)
    else:
        # Without replacement (our option): the N best of log p + Gumbel noise are N distinct draws
        # from the candidates (Gumbel top-k). Rows with fewer than N candidates only use their first
        # k <= #candidates slots (k <= round(0.15 n_tok) is below the candidate count from 3 tokens on).
        scores = logits + tf.cast(noise.gumbel, tf.float32)
        n_top = tf.minimum(max_predictions, length)
        positions = tf.math.top_k(scores, k=n_top).indices
        positions = tf.pad(positions, [[0, 0], [0, max_predictions - n_top]])
        chosen_ok = tf.gather(candidates, positions, batch_dims=1)
        weights *= tf.cast(chosen_ok, tf.float32)
    positions = positions * tf.cast(weights, tf.int32)
    masked_lm_ids = tf.gather(input_ids, positions, batch_dims=1) * tf.cast(weights, tf.int32)
    replace = tf.cast(tf.less(tf.cast(noise.keep_draws, tf.float32), MASK_TOKEN_PROB), tf.int32)
    masked_ids, _ = scatter_update(input_ids, tf.fill(tf.shape(positions), tf.constant(mask_id, tf.int32)),
                                   positions * replace)
    return MaskedInputs(
        input_ids=tf.stop_gradient(masked_ids), input_mask=input_mask, segment_ids=segment_ids,
        masked_lm_positions=positions, masked_lm_ids=masked_lm_ids, masked_lm_weights=weights,
    )


def unmask(masked: MaskedInputs):
    """The original's ``unmask``: the masked_lm ids written back at their positions."""
    ids, _ = scatter_update(masked.input_ids, masked.masked_lm_ids, masked.masked_lm_positions)
    return ids


def sample_from_logits(logits, uniform_noise, temperature: float = 1.0, disallow_ids=None):
    """Gumbel-max sampling of the original's ``sample_from_softmax`` on ``logits / temperature``
    (``disallow_ids``: the original's disallow_correct subtracts 1000 from those ids' logits after
    the division). ``uniform_noise`` has the logits' shape, in [0, 1). Returns int32 ids; no
    gradient flows (the original wraps the sample in stop_gradient)."""
    logits = tf.stop_gradient(tf.cast(logits, tf.float32))
    if temperature != 1.0:  # x / 1.0 == x: the default skips a pass over [B, N, vocabulary]
        logits = logits / temperature
    if disallow_ids is not None:
        logits -= 1000.0 * tf.one_hot(disallow_ids, tf.shape(logits)[-1], dtype=tf.float32)
    gumbel = -tf.math.log(-tf.math.log(tf.cast(uniform_noise, tf.float32) + 1e-9) + 1e-9)
    # The original takes argmax(softmax(z + g)); softmax does not change the argmax.
    return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)
