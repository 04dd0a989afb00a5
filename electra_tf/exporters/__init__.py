"""Exports of a model for other runtimes: ONNX (``onnx.py``) and LiteRT / TFLite (``litert.py``).

Both start from the same token-id function (``signature.py``): ``input_ids``, ``attention_mask``,
``token_type_ids`` (int32 or int64, [batch, length], both dynamic), plus ``labeled_positions``
for taggers, returning the model's named outputs. The SavedModel export is electra_tf/serving.py;
the command line for all three is ``python -m electra_tf.export``.
"""
