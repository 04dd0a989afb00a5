"""Everything that turns a trained model into something another runtime serves.

* ``saved_model.py``: the TensorFlow SavedModel with token-id and raw-text signatures; its in-graph
  feature building (``serving_inputs.py``) and decoding (``serving_decode.py``) use core TF ops only;
* ``onnx.py`` and ``litert.py``: ONNX (tf2onnx, optional int8) and LiteRT / TFLite files, both from
  the one token-id function of ``signature.py``;
* ``backends.py``: one ``run`` interface over a Keras model, an ONNX Runtime session and a LiteRT
  interpreter, so predict.py runs the same preprocessing and decoding on each;
* ``formats.py``: the table of formats and their default file names;
* ``extras.py``: the optional extras (tf2onnx, onnxruntime, ai-edge-litert) with the pip command in
  their error.

The command line is ``python -m electra_tf.export`` (``electra_tf/cli/export.py``).
"""
