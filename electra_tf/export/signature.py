"""The token-id function every export converts: a ``tf.function`` over a Keras ELECTRA model."""

from __future__ import annotations

from typing import List, Optional

import tensorflow as tf

ID_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
POSITIONS = "labeled_positions"


def uses_positions(model) -> bool:
    """Whether the export of ``model`` takes ``labeled_positions`` by default: taggers, whose
    predict.py (and the original) reads the logits of each word's first sub-token only. For a
    CRF tagger these logits are the CRF's emissions; Viterbi decoding runs in Python after them."""
    return model.model_type == "token-classification"


def input_specs(model, id_dtype: str = "int32", length: Optional[int] = None,
                labeled_positions: Optional[bool] = None) -> List[tf.TensorSpec]:
    """The input signature: ``[batch, length]`` tensors of ``id_dtype`` (``length`` None: dynamic)."""
    if id_dtype not in ("int32", "int64"):
        from electra_tf.errors import ConfigError

        raise ConfigError(f"Token ids are int32 or int64, not {id_dtype!r}.")
    names = list(ID_INPUTS)
    if uses_positions(model) if labeled_positions is None else labeled_positions:
        names.append(POSITIONS)
    return [tf.TensorSpec([None, None if n == POSITIONS else length], id_dtype, n) for n in names]


def token_id_function(model, specs: List[tf.TensorSpec]):
    """A tf.function of ``specs`` returning ``{output name: tensor}`` of ``model`` at inference
    (tuple/list outputs such as hidden states are left out). Ids are cast to int32 inside."""
    model.build_with_dummy_inputs()
    names = [spec.name for spec in specs]

    def run(tensors):
        inputs = {n: tf.cast(t, tf.int32) for n, t in zip(names, tensors)}
        kwargs = {POSITIONS: inputs[POSITIONS]} if POSITIONS in inputs else {}
        outputs = model(inputs["input_ids"], attention_mask=inputs["attention_mask"],
                        token_type_ids=inputs["token_type_ids"], training=False, **kwargs)
        return {k: tf.identity(v, name=k) for k, v in outputs.items() if not isinstance(v, (tuple, list))}

    # Named parameters, so that converters and runtimes see the input names.
    if POSITIONS in names:
        def serve(input_ids, attention_mask, token_type_ids, labeled_positions):
            return run((input_ids, attention_mask, token_type_ids, labeled_positions))
    else:
        def serve(input_ids, attention_mask, token_type_ids):
            return run((input_ids, attention_mask, token_type_ids))
    return tf.function(serve, input_signature=specs)
