"""QATask: a span-extraction QA task (SQuAD JSON or MRQA jsonl), tying together the QA reader,
preprocessor, head, decoder and scorer.

Two differences from the original, each with the original behaviour behind
``task_config.<task>.answer_mode: "original"``: training answers are placed by their
``answer_start`` offset (see ``preprocessor``), and predicted spans are mapped back to the
context through character offsets (see ``decoding``). The number of training answers whose
position differs between the two methods is logged and stored in the feature metadata.
"""

from __future__ import annotations

import os
from typing import Dict, List, Sequence

import numpy as np

from electra_tf.errors import ConfigError, check_known_keys
from electra_tf.finetuning.options import TaskOptions
from electra_tf.finetuning.qa.decoding import QADecoder
from electra_tf.finetuning.qa.preprocessor import QAPreprocessor
from electra_tf.finetuning.qa.reader import QAReader
from electra_tf.finetuning.qa.scorer import QAScorer
from electra_tf.finetuning.qa.settings import QASettings
from electra_tf.finetuning.task import (TEST_OUTPUTS_PREDICTION_FILES, Example, ExportInfo, FileTask, head_layer_name)
from electra_tf.utils.files import atomic_write_json
from electra_tf.modeling.losses import span_cross_entropy

OPTION_DEFAULTS = {"answer_mode": QASettings.default("answer_mode"), "skip_unmatched_answers": False}


class QATask(FileTask):
    """A span-extraction QA task. ``fmt`` is "squad" (JSON) or "mrqa" (jsonl)."""

    model_type = "question-answering"
    # the original QA head reads whole windows (and its outputs are per position): no trimming
    supports_dynamic_padding = False
    test_outputs = TEST_OUTPUTS_PREDICTION_FILES
    prediction_folder_suffix = "qa"

    def __init__(self, options: TaskOptions, name: str, tokenizer, files: Dict[str, Sequence[str]], fmt: str = "squad",
                 v2: bool = False, metric: str = "squad", test_splits: Sequence[str] = ()):
        super().__init__(options, name, tokenizer)
        self.fmt, self.v2, self.metric = fmt, v2, metric
        self._test_splits = list(test_splits)
        if options.text_windows:
            raise ConfigError(f"hparam text_windows is for sentence and tagging tasks; the QA task {name} has its own "
                              f"windows (hparams doc_stride and max_query_length): remove text_windows for it.")
        check_known_keys(f"task_config.{name}", options.task_config, OPTION_DEFAULTS, what="QA option")
        settings = dict(OPTION_DEFAULTS)
        settings.update(options.task_config)
        if settings["answer_mode"] not in ("offset", "original"):
            raise ConfigError(f"task_config.{name}.answer_mode must be 'offset' or 'original'.")
        self.settings = settings
        self.reader = QAReader(name, fmt, v2, bool(settings["skip_unmatched_answers"]), options.debug, files)
        self.preprocessor = QAPreprocessor(tokenizer, options.max_seq_length, options.max_query_length,
                                           options.doc_stride, name, settings["answer_mode"])
        self._examples: Dict[str, List[Example]] = {}

    @property
    def head_prefix(self) -> str:
        return "qa_head" if self.options.head == "electra" else "qa_outputs"

    def test_splits(self) -> List[str]:
        return self._test_splits

    def notes(self) -> List[str]:
        notes = super().notes()
        if self.options.head == "electra":
            # said before training, not when the user converts the finished model
            notes.append(f"{self.name}: the original QA head (joint start/end prediction, answerability classifier) has "
                         f"no transformers class: a HuggingFace copy of this model (convert --to hf) holds the encoder "
                         f"only (--allow-dropping-heads). For a model transformers loads with its QA head, fine-tune "
                         f"with \"head\": \"hf\" (with a \"run_name\" to keep both).")
        return notes

    # ----------------------------------------------------------------- reading
    def get_examples(self, split: str) -> List[Example]:
        if split not in self._examples:
            path = self.split_path(split)
            self._examples[split] = self.reader.read(path, is_training=split == "train", what=split)
        return self._examples[split]

    def featurize(self, examples: List[Example], is_training: bool, for_eval: bool = False):
        return self.preprocessor.featurize(examples, is_training, for_eval=for_eval)

    # ----------------------------------------------------------------- model
    def build_head(self, model_config):
        from electra_tf.modeling.heads import HFQuestionAnsweringHead, OriginalQuestionAnsweringHead

        if self.options.head == "electra":
            cfg = model_config.replace(head="electra", head_options=dict(self.options.head_options))
            return OriginalQuestionAnsweringHead(cfg, name=head_layer_name(self.name))
        cfg = model_config.replace(num_labels=2, head="hf")
        return HFQuestionAnsweringHead(cfg, name=head_layer_name(self.name))

    def head_outputs(self, head, sequence_output, features, training):
        if self.options.head == "electra":
            return head(sequence_output, features["input_mask"], features["segment_ids"],
                        start_positions=features[f"{self.name}_start_positions"], training=training)
        return head(sequence_output)

    def per_example_loss(self, head, outputs, features):
        n = self.name
        starts, ends = features[f"{n}_start_positions"], features[f"{n}_end_positions"]
        if self.options.head == "electra":
            return head.per_example_loss(outputs, starts, ends, features[f"{n}_is_impossible"])
        return span_cross_entropy(outputs["start_logits"], outputs["end_logits"], starts, ends)

    def export_info(self) -> ExportInfo:
        return ExportInfo(self.model_type, self.head_prefix, 2)

    family = "qa"

    def metadata_settings(self):
        o = self.options
        return QASettings(max_query_length=o.max_query_length, doc_stride=o.doc_stride, n_best_size=o.n_best_size,
                          max_answer_length=o.max_answer_length, qa_na_threshold=o.qa_na_threshold, v2=bool(self.v2),
                          answer_mode=self.settings["answer_mode"], head=o.head,
                          head_options=dict(o.head_options)).to_dict()

    # ----------------------------------------------------------------- decoding and scoring
    def decoder(self) -> QADecoder:
        """The decoder of this task's head (its options come from the hparams)."""
        o = self.options
        return QADecoder.for_head(self.name, o.head, o.head_options, n_best_size=o.n_best_size,
                                  max_answer_length=o.max_answer_length, v2=self.v2,
                                  answer_mode=self.settings["answer_mode"], do_lower_case=o.do_lower_case)

    def get_scorer(self, split: str, head_state=None):
        examples = self.get_examples(split)
        return QAScorer(self.decoder(), examples, lambda: self.featurize(examples, is_training=False, for_eval=True),
                        metric=self.metric, na_threshold=self.options.qa_na_threshold)

    def update_scorer(self, scorer, outputs, features, loss):
        scorer.update({k: np.asarray(v) for k, v in outputs.items()}, int(features[f"{self.name}_eid"]), float(loss))

    def write_predictions(self, split: str, scorer: QAScorer, path: str) -> None:
        """<task>_<split>_preds.json, _null_odds.json (v2) and _nbest.json under results/<tasks>_qa/."""
        scorer.get_results()
        prefix = os.path.join(os.path.dirname(path), f"{self.name}_{split}")
        atomic_write_json(prefix + "_preds.json", scorer.predictions)
        atomic_write_json(prefix + "_nbest.json", scorer.nbest)
        if self.v2:
            atomic_write_json(prefix + "_null_odds.json", scorer.null_odds)
