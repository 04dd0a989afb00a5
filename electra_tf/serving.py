"""SavedModel export: the signatures a TF Serving / tf.saved_model.load user calls.

Signatures:

* ``serving_default``: ``input_ids``, ``attention_mask``, ``token_type_ids`` (int32 [batch, length])
  -> the model's outputs (logits, ...). Token classification also accepts ``labeled_positions``
  in ``serve_positions``.
* ``serve_text`` (sequence classification and the bare/pre-training models, when the vocabulary
  is a WordPiece ``vocab.txt``): raw strings ``text`` (and ``text_b`` for pairs in
  ``serve_text_pair``), tokenized in the graph by tensorflow-text's BertTokenizer with the
  model's lowercasing, ``[CLS] a [SEP] (b [SEP])``, truncated to ``max_seq_length``.

The command line is ``python -m electra_tf.export`` (electra_tf/export.py).
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from electra_tf.io_utils import save_directory_atomically


def _outputs(result):
    return {k: v for k, v in result.items() if not isinstance(v, (tuple, list))}


class _TextEncoder(tf.Module):
    """In-graph ``[CLS] a [SEP] (b [SEP])`` encoding with tensorflow-text's BertTokenizer."""

    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int):
        super().__init__()
        import tensorflow_text as text

        with open(vocab_file, encoding="utf-8") as f:
            vocab = [line.strip() for line in f]
        ids = {t: i for i, t in enumerate(vocab)}  # a repeated token keeps its last line, as the original
        keys = list(ids)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.constant([ids[k] for k in keys], tf.int64)), default_value=ids["[UNK]"])
        self.tokenizer = text.BertTokenizer(self.table, token_out_type=tf.int64, lower_case=do_lower_case,
                                            unknown_token="[UNK]", max_bytes_per_word=10000)
        self.cls, self.sep = ids["[CLS]"], ids["[SEP]"]
        self.max_seq_length = max_seq_length

    def encode(self, text_a, text_b=None):
        a = self.tokenizer.tokenize(text_a).merge_dims(-2, -1)
        segments = [a]
        if text_b is not None:
            b = self.tokenizer.tokenize(text_b).merge_dims(-2, -1)
            segments.append(b)
        import tensorflow_text as text

        trimmer = text.RoundRobinTrimmer(max_seq_length=self.max_seq_length - 1 - len(segments))
        trimmed = trimmer.trim(segments)
        ids, types = text.combine_segments(trimmed, start_of_sequence_id=self.cls, end_of_segment_id=self.sep)
        ids, mask = text.pad_model_inputs(ids, max_seq_length=self.max_seq_length)
        types, _ = text.pad_model_inputs(types, max_seq_length=self.max_seq_length)
        return tf.cast(ids, tf.int32), tf.cast(mask, tf.int32), tf.cast(types, tf.int32)


def export_saved_model(model, path: str, vocab_file: Optional[str] = None, do_lower_case: bool = True,
                       max_seq_length: int = 128) -> str:
    """Write ``model`` as a SavedModel at ``path`` with the signatures described above."""
    model.build_with_dummy_inputs()
    module = tf.Module()
    module.model = model
    ids_spec = [tf.TensorSpec([None, None], tf.int32, name) for name in ("input_ids", "attention_mask", "token_type_ids")]

    @tf.function(input_signature=ids_spec)
    def serve_ids(input_ids, attention_mask, token_type_ids):
        return _outputs(model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, training=False))

    signatures = {"serving_default": serve_ids}
    if model.model_type == "token-classification":
        @tf.function(input_signature=ids_spec + [tf.TensorSpec([None, None], tf.int32, "labeled_positions")])
        def serve_positions(input_ids, attention_mask, token_type_ids, labeled_positions):
            return _outputs(model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                  labeled_positions=labeled_positions, training=False))

        signatures["serve_positions"] = serve_positions
    if vocab_file and vocab_file.endswith(".txt") and model.model_type in ("sequence-classification", "base", "pretraining"):
        module.encoder = _TextEncoder(vocab_file, do_lower_case, max_seq_length)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")])
        def serve_text(text):
            ids, mask, types = module.encoder.encode(text)
            return _outputs(model(ids, attention_mask=mask, token_type_ids=types, training=False))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text"), tf.TensorSpec([None], tf.string, "text_b")])
        def serve_text_pair(text, text_b):
            ids, mask, types = module.encoder.encode(text, text_b)
            return _outputs(model(ids, attention_mask=mask, token_type_ids=types, training=False))

        signatures["serve_text"] = serve_text
        signatures["serve_text_pair"] = serve_text_pair
    module.serve_ids = serve_ids
    save_directory_atomically(lambda tmp: tf.saved_model.save(module, tmp, signatures=signatures), path)
    return path


