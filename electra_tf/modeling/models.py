"""Keras 3 ELECTRA models with a HuggingFace-like API.

``TFElectraModel`` and the task models share ``ElectraPreTrainedModel``: construct from an
``ElectraConfig``, call with ``input_ids``, ``attention_mask``, ``token_type_ids`` (or one dict
of them), get a dict of outputs; ``from_pretrained`` / ``save_pretrained`` read and write
every format registered in ``electra_tf.checkpoints.registry`` (HuggingFace directories,
original TF1 checkpoints, our Keras format; training checkpoints are read-only). This module
imports ``checkpoints`` only inside those two methods, and ``checkpoints`` never imports it.
"""

from __future__ import annotations

import logging
from typing import Dict, Iterator, List, Optional

import keras
import numpy as np
from keras import ops

from electra_tf.config import ElectraConfig
from electra_tf.errors import ConfigError
from electra_tf.modeling.crf import CRF
from electra_tf.modeling.encoder import ElectraMainLayer
from electra_tf.modeling.heads import (
    DiscriminatorPredictions,
    GeneratorPredictions,
    HFClassificationHead,
    HFQuestionAnsweringHead,
    OriginalClassificationHead,
    OriginalQuestionAnsweringHead,
    TokenClassificationHead,
)
from electra_tf.modeling.naming import WeightRef

logger = logging.getLogger("electra_tf")

_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


_HOW_TO_CALL = ("call the model as model(input_ids, attention_mask, token_type_ids), "
                "model((input_ids, attention_mask, token_type_ids)) or model({\"input_ids\": ..., \"attention_mask\": "
                "..., \"token_type_ids\": ...}), each an int array of shape [batch, seq_len]")


def _unpack_inputs(input_ids, kwargs):
    """Allow model({"input_ids": ..., ...}) and model((input_ids, attention_mask, token_type_ids))
    as well as model(input_ids, attention_mask=..., ...). Anything else is a TypeError that says how
    to call the model (a tuple used to reach self-attention as one stacked tensor: a shape error)."""
    if isinstance(input_ids, dict):
        features = dict(input_ids)
        if "input_ids" not in features:
            raise TypeError(f"The input dict has no 'input_ids' (keys: {sorted(features)}); {_HOW_TO_CALL}.")
        input_ids = features.pop("input_ids")
        for key, value in features.items():  # head inputs (labeled_positions, start_positions) too
            if kwargs.get(key) is None:
                kwargs[key] = value
    elif isinstance(input_ids, (tuple, list)):
        parts = list(input_ids)
        if not 1 <= len(parts) <= len(_INPUT_KEYS) or any(_rank(p) not in (2, None) for p in parts):
            raise TypeError(f"Got a {type(input_ids).__name__} of {len(parts)} inputs that are not all "
                            f"[batch, seq_len] arrays; {_HOW_TO_CALL}.")
        input_ids = parts[0]
        for key, value in zip(_INPUT_KEYS[1:], parts[1:]):
            if kwargs.get(key) is not None:
                raise TypeError(f"{key} was given both in the input {type(parts).__name__} and as an argument; "
                                f"{_HOW_TO_CALL}.")
            kwargs[key] = value
    if input_ids is None:
        raise TypeError(f"No input_ids given; {_HOW_TO_CALL}.")
    rank = _rank(input_ids)
    if rank is not None and rank != 2:
        raise TypeError(f"input_ids must have shape [batch, seq_len], got rank {rank}; {_HOW_TO_CALL}.")
    return input_ids, kwargs


def _rank(value) -> Optional[int]:
    """The number of dimensions of an array or tensor (None when unknown, 0 for a plain number)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return 0 if isinstance(value, (int, float)) else None
    try:
        return len(shape)
    except (TypeError, ValueError):  # a tf.TensorShape of unknown rank
        return None


def _serializable(cls):
    """Register a model class with Keras (as ``electra_tf>ClassName``), so that
    ``keras.models.load_model("x.keras")`` finds it once this module has been imported."""
    return keras.saving.register_keras_serializable(package="electra_tf")(cls)


def build_sublayers(model: keras.Layer, hidden_size: int) -> None:
    """Create the weights of ``model``'s direct sublayers from their configurations (each one's
    ``build`` needs no input shape beyond the hidden size) and mark ``model`` built.

    Without an explicit ``build``, Keras builds a subclassed model by tracing ``call`` on
    symbolic inputs first, then runs the real call: for ELECTRA-small that trace costs about a
    second of every run's start-up for nothing (the weights are the same). A sublayer that only
    creates its weights when called (a user's head without a ``build`` of its own) stays unbuilt:
    see :func:`unbuilt_layers`."""
    for layer in model._flatten_layers(include_self=False, recursive=False):
        if not layer.built:
            layer.build((None, None, hidden_size))
    model.built = True


def unbuilt_layers(model: keras.Layer) -> List[keras.Layer]:
    """The layers nested in ``model`` that are still unbuilt (their weights would be created by
    the first call): callers run a dummy batch when there are any, so that no weight is first
    made inside a traced training step."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True) if not layer.built]


class ElectraPreTrainedModel(keras.Model):
    """Base of every electra-tf model: the encoder under ``self.electra`` plus a head.

    Subclasses define ``head_call`` and ``head_weights``. ``hf_weights()`` lists every weight
    under its canonical (HuggingFace PyTorch) name; the checkpoint converters work from it.
    """

    #: HF architecture name written to config.json
    hf_architecture = "ElectraModel"
    #: whether the HF state dict prefixes the encoder with "electra."
    base_model_prefix = "electra"
    #: the --model-type name used by the converter CLI
    model_type = "base"
    #: a fine-tuned model directory's TaskMetadata (set by from_pretrained; None otherwise)
    task_metadata = None

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(config, ElectraConfig):
            raise ConfigError(f"{type(self).__name__} needs an ElectraConfig, got {type(config).__name__}.")
        self.config = config
        self.electra = ElectraMainLayer(config, name="electra")

    def build(self, input_shape=None):
        """Every weight, from the configuration (see build_sublayers)."""
        build_sublayers(self, self.config.hidden_size)

    # ------------------------------------------------------------------ calling
    def call(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        training=False,
        output_hidden_states=False,
        output_attentions=False,
        **head_inputs,
    ) -> Dict[str, object]:
        # Keras' automatic build traces ``call(**arguments)`` with the collected var-keyword
        # dict passed under its own name (``head_inputs={...}``): unfold it.
        nested = head_inputs.pop("head_inputs", None)
        if isinstance(nested, dict):
            head_inputs.update(nested)
        input_ids, head_inputs = _unpack_inputs(input_ids, dict(head_inputs, attention_mask=attention_mask, token_type_ids=token_type_ids))
        attention_mask = head_inputs.pop("attention_mask")
        token_type_ids = head_inputs.pop("token_type_ids")
        if attention_mask is None:
            attention_mask = ops.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        encoded = self.electra(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            training=training,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        outputs = self.head_call(encoded["last_hidden_state"], attention_mask, token_type_ids, training=training, **head_inputs)
        for key in ("hidden_states", "attentions"):
            if key in encoded:
                outputs[key] = encoded[key]
        return outputs

    def head_call(self, sequence_output, attention_mask, token_type_ids, training=False, **head_inputs):
        return {"last_hidden_state": sequence_output}

    def build_with_dummy_inputs(self, seq_len: int = 8) -> "ElectraPreTrainedModel":
        """Create every variable: from the configuration (``build``), plus a tiny batch only when
        a sublayer makes its weights on its first call."""
        if not self.built or not self.weights:
            self.build()
            if unbuilt_layers(self):
                ids = np.zeros((1, seq_len), dtype="int32")
                self(ids, attention_mask=np.ones_like(ids), token_type_ids=np.zeros_like(ids), training=False)
        return self

    # ------------------------------------------------------------------ weights by name
    def head_weights(self) -> Iterator[WeightRef]:
        return iter(())

    def hf_weights(self) -> List[WeightRef]:
        """Every weight under its canonical HuggingFace PyTorch state-dict name."""
        self.build_with_dummy_inputs()
        prefix = self.base_model_prefix
        return list(self.electra.hf_weights(prefix)) + list(self.head_weights())

    def canonical_depths(self) -> Dict[str, int]:
        """Depth of each weight for the original layer-wise LR decay (heads at n + 2)."""
        return self.electra.depths(self.hf_weights())

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_pretrained(cls, path: str, config: Optional[ElectraConfig] = None, strict: bool = False,
                        task_name: Optional[str] = None, requested_skips=(), revision: Optional[str] = None,
                        **config_changes):
        """Load a model from any registered checkpoint format (HuggingFace directory, original TF1
        checkpoint, our Keras format, a fine-tuning training checkpoint).

        The format (detected) returns the config and the canonical state; this builds ``cls``
        with that config (plus ``config_changes``, e.g. ``num_labels=3``, ``head="electra"``) and
        assigns the state, so encoder weights must still fit exactly. Missing or unexpected
        weights are reported by name and are an error, except that task heads absent from a
        pre-trained checkpoint are freshly initialised (as in the original and in HF).
        ``requested_skips``: reason prefixes (e.g. "generator weights") the user asked to drop,
        which a strict load then accepts. A ``path`` that does not exist locally and reads
        ``owner/name`` is a Hugging Face Hub id, fetched once into the Hub cache (``revision``: a
        branch, tag or commit; see electra_tf/checkpoints/hub.py).

        Called on ``ElectraPreTrainedModel`` itself, it loads the class the checkpoint holds (as
        keras-hub's ``from_preset``): the model type of its task.json (or of a training
        checkpoint's run tasks.json entry), else its own (the HF config's ``architectures``,
        electra-tf's ``model_type``, the TF1 head; a pre-trained checkpoint loads
        TFElectraForPreTraining). On a subclass it loads that class.
        """
        from electra_tf.checkpoints.hub import resolve_pretrained_path
        from electra_tf.checkpoints.registry import read_checkpoint

        path = resolve_pretrained_path(path, revision)
        if cls is ElectraPreTrainedModel:
            return cls.class_for(path, task_name).from_pretrained(
                path, config=config, strict=strict, task_name=task_name, requested_skips=requested_skips,
                **config_changes)
        from electra_tf.checkpoints.state import assign_state

        config, state, skipped, _ = read_checkpoint(path, config=config, model_type=cls.model_type,
                                                    task_name=task_name, model_classes=MODEL_CLASSES)
        if config_changes:
            config = config.replace(**config_changes)
        # A fine-tuned model directory's task.json (labels, lengths, tagging/QA settings): what
        # predict.py, the exports and serving use to treat inputs as training did. Its files are
        # checked against the model here, the one place every consumer opens a model through: a
        # vocabulary larger than the embeddings, or labels that disagree with the classifier, is
        # one clear error before anything runs (not a TensorFlow error mid-prediction, nor
        # mislabelled predictions).
        from electra_tf.model_dir.metadata import MODEL_TYPE_FAMILY, check_model_directory, metadata_for

        meta = metadata_for(path, task_name) if cls.model_type in MODEL_TYPE_FAMILY else None
        check_model_directory(path, config, meta, cls.model_type)
        model = cls(config).build_with_dummy_inputs()
        report = assign_state(model, state, source=path, strict=strict, skip_reasons=skipped,
                              requested_skips=tuple(requested_skips))
        model.load_report = report
        model.task_metadata = meta
        logger.info(report.summary())
        return model

    @staticmethod
    def class_for(path: str, task_name: Optional[str] = None) -> type:
        """The model class a local checkpoint holds (see ``from_pretrained`` on this base class)."""
        from electra_tf.model_dir.metadata import metadata_for, model_type_of

        return MODEL_CLASSES[model_type_of(path, metadata_for(path, task_name))]

    def save_pretrained(self, path: str, format: str = "hf", vocab_file: Optional[str] = None, **kwargs) -> None:
        """Write the model in a registered writable format: a HuggingFace directory ("hf"), an
        original TF1 checkpoint ("tf1") or our "keras" directory (see checkpoints.registry)."""
        from electra_tf.checkpoints.registry import save_model

        save_model(self, path, format=format, vocab_file=vocab_file, **kwargs)

    def get_config(self):
        """Keras serialisation (``model.save("x.keras")``): the ElectraConfig (HF dict with our
        head settings) and the layer name; the weights are stored by Keras beside it."""
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(ElectraConfig.from_dict(config["config"], source="Keras model config"), name=config.get("name"))

    def get_build_config(self):
        # Built by calling (Keras records no input shape then): any non-None value makes
        # load_model call build_from_config before it assigns the saved weights.
        return {"built": True} if self.built else None

    def build_from_config(self, config):
        self.build_with_dummy_inputs()


@_serializable
class TFElectraModel(ElectraPreTrainedModel):
    """The bare encoder: outputs ``last_hidden_state`` [B, L, H] (HF ``ElectraModel``)."""

    base_model_prefix = ""
    model_type = "base"


@_serializable
class TFElectraForSequenceClassification(ElectraPreTrainedModel):
    """Sentence classification or regression (``num_labels == 1``) on the [CLS] state.

    ``config.head == "electra"``: the original head (dropout then one dense layer);
    ``"hf"``: HuggingFace's ElectraClassificationHead (dense, gelu, out_proj).
    Output: ``logits`` [B, num_labels] float32.
    """

    hf_architecture = "ElectraForSequenceClassification"
    model_type = "sequence-classification"

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        head_cls = OriginalClassificationHead if config.head == "electra" else HFClassificationHead
        self.classifier = head_cls(config, name="classifier")

    def head_call(self, sequence_output, attention_mask, token_type_ids, training=False):
        return {"logits": self.classifier(sequence_output, training=training)}

    def head_weights(self):
        return self.classifier.hf_weights("classifier")


@_serializable
class TFElectraForTokenClassification(ElectraPreTrainedModel):
    """Per-token logits [B, L, num_labels]; with ``labeled_positions`` [B, P] only at those
    positions ([B, P, num_labels]), the original tagging head's first-sub-token gathering."""

    hf_architecture = "ElectraForTokenClassification"
    model_type = "token-classification"

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.classifier = TokenClassificationHead(config, name="classifier")
        # A tagger fine-tuned with use_crf carries its CRF (head_options {"crf": true}); its
        # weights hold the decoding scores, constraints of constrained_decoding already added.
        self.crf = CRF(config.num_labels, name="crf") if config.head_options.get("crf") else None

    def head_call(self, sequence_output, attention_mask, token_type_ids, training=False, labeled_positions=None):
        if self.crf is not None and not self.crf.built:
            self.crf.build()
        return {"logits": self.classifier(sequence_output, labeled_positions=labeled_positions, training=training)}

    def head_weights(self):
        yield from self.classifier.hf_weights("classifier")
        if self.crf is not None:
            for name in ("transitions", "start", "end"):
                yield WeightRef(f"crf.{name}", getattr(self.crf, name))

    def crf_params(self):
        """(transitions [C, C], start [C], end [C]) as NumPy arrays for Viterbi decoding, or None."""
        if self.crf is None:
            return None
        return tuple(np.asarray(x) for x in self.crf.masked_params())


@_serializable
class TFElectraForQuestionAnswering(ElectraPreTrainedModel):
    """Extractive QA.

    ``head == "hf"``: HF's linear start/end head (``start_logits``, ``end_logits`` [B, L]).
    ``head == "electra"``: the original joint head; in training pass ``start_positions`` for
    teacher forcing; at inference it adds the beam outputs and ``answerable_logit`` [B]. Its
    flags come from ``config.head_options`` (joint_prediction, beam_size,
    answerable_classifier, answerable_uses_start_logits, answerable_weight).
    """

    hf_architecture = "ElectraForQuestionAnswering"
    model_type = "question-answering"

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        if config.head == "electra":
            self.qa_head = OriginalQuestionAnsweringHead(config, name="qa_head")
        else:
            self.qa_head = HFQuestionAnsweringHead(config, name="qa_outputs")

    def head_call(self, sequence_output, attention_mask, token_type_ids, training=False, start_positions=None):
        if self.config.head == "electra":
            return self.qa_head(sequence_output, attention_mask, token_type_ids, start_positions=start_positions, training=training)
        return self.qa_head(sequence_output)

    def head_weights(self):
        return self.qa_head.hf_weights("qa_head" if self.config.head == "electra" else "qa_outputs")


@_serializable
class TFElectraForPreTraining(ElectraPreTrainedModel):
    """The discriminator with its replaced-token-detection head: ``logits`` [B, L]."""

    hf_architecture = "ElectraForPreTraining"
    model_type = "pretraining"

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.discriminator_predictions = DiscriminatorPredictions(config, name="discriminator_predictions")

    def head_call(self, sequence_output, attention_mask, token_type_ids, training=False):
        return {"logits": self.discriminator_predictions(sequence_output)}

    def head_weights(self):
        return self.discriminator_predictions.hf_weights("discriminator_predictions")


@_serializable
class TFElectraForMaskedLM(ElectraPreTrainedModel):
    """The generator with its tied-embedding MLM head: ``logits`` [B, L, vocab]."""

    hf_architecture = "ElectraForMaskedLM"
    model_type = "generator"

    def __init__(self, config: ElectraConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.generator_predictions = GeneratorPredictions(config, name="generator_predictions")

    def head_call(self, sequence_output, attention_mask, token_type_ids, training=False):
        table = self.electra.embeddings.word_embeddings.embeddings
        return {"logits": self.generator_predictions(sequence_output, table)}

    def head_weights(self):
        return self.generator_predictions.hf_weights("generator_predictions")


MODEL_CLASSES = {
    cls.model_type: cls
    for cls in (
        TFElectraModel,
        TFElectraForSequenceClassification,
        TFElectraForTokenClassification,
        TFElectraForQuestionAnswering,
        TFElectraForPreTraining,
        TFElectraForMaskedLM,
    )
}
