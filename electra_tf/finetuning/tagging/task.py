"""Token classification: chunking, NER and POS tagging (``finetune/tagging/tagging_tasks.py``).

As the original: the first sub-token of each word is labelled and gathered by the head (a dense
layer, no dropout), the loss is the per-word cross-entropy summed over the sentence, span tasks
are trained on BIOES tags and scored with span F1. Beyond the original (options in
``task_config.<task>``; defaults in brackets):

* ``truncation`` ["window"]: sentences longer than the sequence are split into overlapping
  windows so every word is predicted; "original" keeps the original's truncation, whose words
  were silently left out of scoring (it even counted words, not sub-tokens, against the limit).
* ``lowercase`` ["auto": follow do_lower_case]; "original": always lowercase, as the original.
* ``label_all_tokens`` [false]: train on every sub-token (HF's option; B- becomes I- on
  continuation pieces); evaluation still reads the first sub-token.
* ``use_crf`` [false], ``crf_learning_rate`` [the task lr], ``constrained_decoding`` [false].
* ``metric`` ["seqeval": conlleval chunks; "original" for chunk; "accuracy" for POS],
  ``strict`` [false]: seqeval's strict mode.
* ``segment_id`` [1]: the original gives every token of a tagging input segment id 1.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from keras import ops

from electra_tf.errors import ConfigError, DataError, check_known_keys
from electra_tf.finetuning.options import TaskOptions
from electra_tf.finetuning.tagging import schemes
from electra_tf.finetuning.tagging.preprocessor import TaggingPreprocessor, word_tokenizer
from electra_tf.finetuning.tagging.reader import TaggingReader, TaggingSpec
from electra_tf.finetuning.tagging.scorer import TaggingScorer
from electra_tf.finetuning.tagging.settings import TaggingSettings
from electra_tf.finetuning.task import (TEST_OUTPUTS_PREDICTION_FILES, Example, ExportInfo, FileTask, head_layer_name,
                                        head_weight_prefix)
from electra_tf.utils.files import atomic_write_text
from electra_tf.modeling.losses import per_example_cross_entropy

#: the options a model directory records take their defaults from its task.json section (TaggingSettings)
_RECORDED = {name: TaggingSettings.default(name) for name in ("truncation", "label_all_tokens", "use_crf",
                                                              "constrained_decoding", "segment_id", "window_overlap")}
OPTION_DEFAULTS = {
    "truncation": _RECORDED["truncation"], "lowercase": "auto", "label_all_tokens": _RECORDED["label_all_tokens"],
    "use_crf": _RECORDED["use_crf"], "crf_learning_rate": None, "constrained_decoding": _RECORDED["constrained_decoding"],
    "metric": None, "strict": False, "segment_id": _RECORDED["segment_id"], "skip_malformed_lines": False,
    "window_overlap": _RECORDED["window_overlap"],
    # generic tagging tasks
    "type": "tagging", "format": "conll", "files": None, "separator": None, "word_column": 0, "tag_column": -1,
    "doc_separator": "-DOCSTART-", "scheme": "iob2", "labels": None, "encoding": None, "token_level": False,
}
#: options of every tagging task (the rest describe a generic task's data)
MODEL_OPTIONS = ("truncation", "lowercase", "label_all_tokens", "use_crf", "crf_learning_rate", "constrained_decoding",
                 "strict", "segment_id", "skip_malformed_lines", "window_overlap")


class TaggingTask(FileTask):
    """A sequence tagging task described by a TaggingSpec plus options."""

    head_prefix = "classifier"
    model_type = "token-classification"
    test_outputs = TEST_OUTPUTS_PREDICTION_FILES
    prediction_folder_suffix = "tagging"

    def __init__(self, options: TaskOptions, name: str, tokenizer, spec: TaggingSpec, user_options: Optional[Dict] = None):
        super().__init__(options, name, tokenizer)
        self.spec = spec
        user = user_options or {}
        check_known_keys(f"task_config.{name}", user, OPTION_DEFAULTS, what="tagging option")
        settings = dict(OPTION_DEFAULTS)
        settings.update(user)
        self.settings = settings
        if settings["truncation"] not in ("window", "original"):
            raise ConfigError(f"task_config.{name}.truncation must be 'window' or 'original'.")
        if options.text_windows and settings["truncation"] != "window":
            raise ConfigError(f"hparam text_windows is true but task_config.{name}.truncation is "
                              f"{settings['truncation']!r}: tagging windows are truncation 'window' (the default); "
                              f"remove one of the two.")
        if options.window_stride is not None:
            raise ConfigError(f"hparam window_stride counts tokens of sentence tasks; the tagging task {name} overlaps "
                              f"its word windows by task_config.{name}.window_overlap words: remove window_stride.")
        if spec.scheme not in schemes.SCHEMES:
            raise ConfigError(f"task_config.{name}.scheme must be one of {', '.join(schemes.SCHEMES)}, got {spec.scheme!r}.")
        if settings["metric"]:
            spec.metric = settings["metric"]
        if spec.token_level:
            spec.metric = "accuracy"
        lowercase = settings["lowercase"]
        self.lowercase = True if lowercase in ("original", True) else bool(options.do_lower_case) if lowercase == "auto" else bool(lowercase)
        self.word_tokenizer = word_tokenizer(tokenizer, self.lowercase)
        self.reader = TaggingReader(spec, name, debug=options.debug, skip_malformed=bool(settings["skip_malformed_lines"]))
        self._label_list: Optional[List[str]] = None
        self._preprocessor: Optional[TaggingPreprocessor] = None

    @property
    def preprocessor(self) -> TaggingPreprocessor:
        """Built on first use: its label list may have to be read from the data."""
        if self._preprocessor is None:
            s = self.settings
            self._preprocessor = TaggingPreprocessor(
                self.word_tokenizer, self.options.max_seq_length, self.name, self.label_list,
                truncation=s["truncation"], label_all_tokens=s["label_all_tokens"], segment_id=s["segment_id"],
                window_overlap=s["window_overlap"], lowercase=self.lowercase)
        return self._preprocessor

    # ----------------------------------------------------------------- reading
    def data_files(self, split: str) -> List[str]:
        files = [self.split_path(split)]
        if self.spec.labels is None:  # the label mapping is read from every split
            files += [f for s in ("train", "dev", "test") if s != split and self.has_split(s)
                      for f in [self.split_path(s)]]
        return files

    def test_splits(self) -> List[str]:
        return list(self.spec.test_splits)

    def notes(self) -> List[str]:
        notes = super().notes()
        if self.settings["use_crf"]:
            # said before training, not when the user converts the finished model
            notes.append(f"{self.name}: transformers' ElectraForTokenClassification has no CRF layer: a HuggingFace copy "
                         f"of this model (convert --to hf --allow-dropping-heads) decodes by argmax, not Viterbi; "
                         f"predict.py, the SavedModel/ONNX/LiteRT exports and from_pretrained keep the CRF.")
        return notes

    def read_sentences(self, split: str):
        """(words, tags, source) per sentence of ``split``."""
        return self.reader.read(self.split_path(split))

    def _encode_tags(self, tags) -> List[str]:
        if self.spec.token_level or self.spec.encoding == "keep":
            return list(tags)
        return schemes.convert(tags, self.spec.encoding)

    @property
    def label_list(self) -> List[str]:
        if self._label_list is None:
            self._label_list = self._build_label_list()
        return self._label_list

    @property
    def num_labels(self) -> int:
        return len(self.label_list)

    def _build_label_list(self) -> List[str]:
        if self.spec.labels is not None:
            given = list(self.spec.labels)
            if self.spec.token_level or self.spec.encoding == "keep":
                return given
            types = sorted({schemes.split_tag(schemes.to_prefix(t))[1] for t in given if t != "O"})
            return sorted(["O"] + [f"{p}-{t}" for t in types for p in self.spec.encoding if p != "O"])
        # As the original: the sorted set of (encoded) tags over the train/dev/test files there are.
        tags = set()
        for split in ("train", "dev", "test"):
            if self.has_split(split):
                for _, sentence_tags, _ in self.read_sentences(split):
                    tags.update(self._encode_tags(sentence_tags))
        return sorted(tags)

    def get_examples(self, split: str) -> List[Example]:
        label_map = {label: i for i, label in enumerate(self.label_list)}
        allowed = set(self.spec.labels) if self.spec.labels is not None else None
        examples = []
        for words, tags, source in self.read_sentences(split):
            if allowed is not None:
                bad = [t for t in tags if t not in allowed]
                if bad:
                    raise DataError(f"{source}: tag {bad[0]!r} is not in the label list {sorted(allowed)}.")
            labels = [label_map[t] for t in self._encode_tags(tags)]
            examples.append(Example(eid=len(examples), task_name=self.name, source=source,
                                    fields={"words": words, "tags": tags, "labels": labels}))
        return examples

    # ----------------------------------------------------------------- model
    def build_head(self, model_config):
        from electra_tf.finetuning.tagging.head import TaggingHead

        constraints = None
        if self.settings["use_crf"] and self.settings["constrained_decoding"]:
            encoding = "keep" if self.spec.token_level else (self.spec.encoding if self.spec.encoding != "keep" else self.spec.scheme)
            enc = {"iob2": "BIO", "iob1": "IO", "suffix": "BIO", "bioes": "BIOES", "io": "IO"}.get(encoding, encoding)
            constraints = schemes.allowed_transitions(self.label_list, enc)
        cfg = model_config.replace(num_labels=self.num_labels, head=self.options.head)
        return TaggingHead(cfg, use_crf=bool(self.settings["use_crf"]), constraints=constraints,
                           name=head_layer_name(self.name))

    def head_outputs(self, head, sequence_output, features, training):
        logits = head(sequence_output, features[f"{self.name}_labeled_positions"], training=training)
        return {"logits": logits}

    def per_example_loss(self, head, outputs, features):
        n = self.name
        mask = ops.cast(features[f"{n}_labels_mask"], "float32")
        labels = features[f"{n}_labels"]
        if head.crf is not None:
            return head.crf.negative_log_likelihood(outputs["logits"], labels, mask)
        return ops.sum(per_example_cross_entropy(outputs["logits"], labels) * mask, axis=-1)

    def head_state(self, head):
        return head.decoding_state()

    def lr_multiplier_overrides(self, base_lr: float) -> Dict[str, float]:
        rate = self.settings["crf_learning_rate"]
        if not (self.settings["use_crf"] and rate):
            return {}
        return {f"{head_weight_prefix(self.name)}crf.{w}": float(rate) / base_lr for w in ("transitions", "start", "end")}

    def export_info(self) -> ExportInfo:
        return ExportInfo(self.model_type, self.head_prefix, self.num_labels, list(self.label_list))

    family = "tagging"

    def metadata_settings(self):
        s, spec = self.settings, self.spec
        return TaggingSettings(scheme=spec.scheme, encoding=spec.encoding, token_level=bool(spec.token_level),
                               segment_id=int(s["segment_id"]), truncation=s["truncation"],
                               window_overlap=s["window_overlap"], label_all_tokens=bool(s["label_all_tokens"]),
                               lowercase=bool(self.lowercase), use_crf=bool(s["use_crf"]),
                               constrained_decoding=bool(s["constrained_decoding"])).to_dict()

    # ----------------------------------------------------------------- scoring
    def span_extractor(self):
        """Spans of a tag sequence under the task's metric (None for token-level tasks)."""
        if self.spec.token_level:
            return None
        if self.spec.metric == "original":
            return schemes.original_spans
        if self.settings["strict"]:
            scheme = "bioes" if self.spec.encoding == "BIOES" else "iob2"
            return lambda tags: schemes.strict_spans(tags, scheme)
        return schemes.spans

    def get_scorer(self, split: str, head_state=None):
        return TaggingScorer(self.name, self.label_list, self.span_extractor(), (head_state or {}).get("crf"))

    def update_scorer(self, scorer, outputs, features, loss):
        scorer.update(outputs["logits"], features, loss)

    def to_input_scheme(self, tags: List[str]) -> List[str]:
        """Predicted tags back in the data's scheme (for CoNLL prediction files)."""
        return schemes.to_input_scheme(tags, self.spec.scheme, self.spec.encoding, self.spec.token_level)

    def write_predictions(self, split: str, scorer, path: str) -> None:
        """word, gold and predicted tag per line (CoNLL), sentences separated by blank lines."""
        examples = self.get_examples(split)
        eids, _, preds = scorer.sentences()
        lines = []
        for eid, pred in zip(eids, preds):
            ex = examples[eid]
            words, gold = ex.fields["words"], ex.fields["tags"]
            pred = self.to_input_scheme(pred)
            pred = pred + ["O"] * (len(words) - len(pred))  # words the original truncation left out
            lines.extend(f"{w} {g} {p}" for w, g, p in zip(words, gold, pred))
            lines.append("")
        atomic_write_text(path, "\n".join(lines) + "\n")
        try:
            from seqeval.metrics import classification_report

            if not self.spec.token_level:
                golds = [self.to_input_scheme(self._encode_tags(examples[e].fields["tags"])) for e in eids]
                report = classification_report([[schemes.to_prefix(t) for t in g] for g in golds],
                                               [[schemes.to_prefix(t) for t in self.to_input_scheme(p)] + ["O"] * (len(g) - len(p))
                                                for g, p in zip(golds, preds)], digits=4, zero_division=0)
                atomic_write_text(os.path.splitext(path)[0] + "_report.txt", report)
        except ImportError:  # seqeval is a requirement; the report is a convenience
            pass


def build_generic_tagging_task(options: TaskOptions, name: str, tokenizer) -> TaggingTask:
    """A tagging task described entirely in task_config (files, columns, scheme, labels)."""
    entry = options.task_config
    check_known_keys(f"task_config.{name}", entry, OPTION_DEFAULTS, what="tagging option")
    files = entry.get("files") or {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
    files = {split: [f] if isinstance(f, str) else list(f) for split, f in files.items()}
    token_level = bool(entry.get("token_level", False))
    encoding = entry.get("encoding") or ("keep" if token_level else "BIOES")
    if encoding not in ("BIOES", "BIO", "keep"):
        raise ConfigError(f"task_config.{name}.encoding must be BIOES, BIO or keep, got {encoding!r}.")
    spec = TaggingSpec(files, fmt=entry.get("format", "conll"), separator=entry.get("separator"),
                       word_column=int(entry.get("word_column", 0)), tag_column=int(entry.get("tag_column", -1)),
                       doc_separator=entry.get("doc_separator", "-DOCSTART-"), scheme=entry.get("scheme", "iob2"),
                       token_level=token_level, labels=entry.get("labels"), encoding=encoding,
                       metric="accuracy" if token_level else (entry.get("metric") or "seqeval"),
                       test_splits=("test",))
    if spec.fmt not in ("conll", "naver"):
        raise ConfigError(f"task_config.{name}.format must be 'conll' or 'naver', got {spec.fmt!r}.")
    return TaggingTask(options, name, tokenizer, spec, {k: v for k, v in entry.items() if k in MODEL_OPTIONS})
