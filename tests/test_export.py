"""SavedModel export: the loaded SavedModel gives the Keras model's outputs."""

import numpy as np
import tensorflow as tf

import electra_tf as et
from electra_tf.export.saved_model import export_saved_model
from electra_tf.finetuning.features import encode_pair
from electra_tf.text.tokenizer import FullTokenizer
from tests.conftest import ROOT, tiny_inputs

VOCAB = f"{ROOT}/examples/data/models/electra-tiny/vocab.txt"


def _model(cls, **changes):
    config = et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, **changes)
    return cls(config).build_with_dummy_inputs()


def test_saved_model_ids_and_text_signatures_equal_keras(tmp_path):
    model = _model(et.TFElectraForSequenceClassification, num_labels=3, head="electra")
    export_saved_model(model, str(tmp_path / "sm"), vocab_file=VOCAB, do_lower_case=True, max_seq_length=16)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert {"serving_default", "serve_text", "serve_text_pair"} <= set(loaded.signatures)
    # Only the tokenizer the signatures use is stored, and the model's graph once for the three signatures.
    assert hasattr(loaded.texts, "tokenizer") and not hasattr(loaded.texts, "word_tokenizer")
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString((tmp_path / "sm" / "saved_model.pb").read_bytes())
    library = proto.meta_graphs[0].graph_def.library.function
    assert len([f for f in library if "_forward_" in f.signature.name]) == 1, [f.signature.name for f in library]

    ids, mask, types = tiny_inputs(vocab=81)
    want = np.asarray(model(ids, attention_mask=mask, token_type_ids=types)["logits"])
    got = loaded.signatures["serving_default"](input_ids=tf.constant(ids), attention_mask=tf.constant(mask),
                                               token_type_ids=tf.constant(types))["logits"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)

    tok = FullTokenizer(VOCAB)
    texts = [("The movie was GREAT, not boring!", None), ("Très bien: dull plot", "a wonderful ending")]
    for a, b in texts:
        encoded = encode_pair(tok, tok.tokenize(a), tok.tokenize(b) if b else None, 16)
        ref = np.asarray(model(np.array([encoded[0]]), attention_mask=np.array([encoded[1]]),
                               token_type_ids=np.array([encoded[2]]))["logits"])
        if b is None:
            out = loaded.signatures["serve_text"](text=tf.constant([a]))["logits"].numpy()
        else:
            out = loaded.signatures["serve_text_pair"](text=tf.constant([a]), text_b=tf.constant([b]))["logits"].numpy()
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_saved_model_token_classification_positions(tmp_path):
    model = _model(et.TFElectraForTokenClassification, num_labels=5, head="electra")
    export_saved_model(model, str(tmp_path / "sm"))
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    ids, mask, types = tiny_inputs(vocab=81)
    positions = np.array([[1, 2, 3], [1, 4, 5], [2, 3, 4]], dtype="int32")
    want = np.asarray(model(ids, attention_mask=mask, token_type_ids=types, labeled_positions=positions)["logits"])
    got = loaded.signatures["serve_positions"](input_ids=tf.constant(ids), attention_mask=tf.constant(mask),
                                               token_type_ids=tf.constant(types), labeled_positions=tf.constant(positions))
    np.testing.assert_allclose(got["logits"].numpy(), want, atol=1e-5)
