"""Token classification: chunking, NER and POS tagging (``finetune/tagging/tagging_tasks.py``).

As the original: words are tokenized one by one (no CJK splitting), the first sub-token of each
word is labelled and gathered by the head (a dense layer, no dropout), the loss is the per-word
cross-entropy summed over the sentence, span tasks are trained on BIOES tags and scored with
span F1. Beyond the original (options in ``task_config.<task>``; defaults in brackets):

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

import dataclasses
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from keras import ops

from electra_tf.errors import ConfigError, DataError, closest
from electra_tf.finetuning.tagging import schemes
from electra_tf.finetuning.tasks.base import Example, Task, gc_paused, pad_sequence, register
from electra_tf.io_utils import atomic_write_text

logger = logging.getLogger("electra_tf")

OPTION_DEFAULTS = {
    "truncation": "window", "lowercase": "auto", "label_all_tokens": False, "use_crf": False,
    "crf_learning_rate": None, "constrained_decoding": False, "metric": None, "strict": False,
    "segment_id": 1, "skip_malformed_lines": False, "window_overlap": None,
    # generic tagging tasks
    "type": "tagging", "format": "conll", "files": None, "separator": None, "word_column": 0, "tag_column": -1,
    "doc_separator": "-DOCSTART-", "scheme": "iob2", "labels": None, "encoding": None, "token_level": False,
}


@dataclasses.dataclass
class TaggingSpec:
    files: Dict[str, Sequence[str]]
    fmt: str = "conll"  # "conll" (one word per line) or "naver" (words<TAB>tags per line)
    separator: Optional[str] = None  # None: any whitespace
    word_column: int = 0
    tag_column: int = -1
    doc_separator: Optional[str] = "-DOCSTART-"
    scheme: str = "iob2"
    token_level: bool = False  # POS: labels are used as they are, metric accuracy
    labels: Optional[List[str]] = None
    encoding: str = "BIOES"  # what the model predicts for span tasks ("keep": the data's tags)
    metric: str = "seqeval"
    test_splits: Sequence[str] = ("test",)


class TaggingScorer:
    """Reassembles window predictions into sentences; entity P/R/F1, per-type F1, accuracy."""

    def __init__(self, task: "TaggingTask"):
        self.task = task
        self.words: Dict[int, Dict[int, Tuple[int, int]]] = {}  # eid -> word index -> (pred, gold)
        self.n_words: Dict[int, int] = {}
        self.total_loss = 0.0

    def update_word(self, eid: int, index: int, pred: int, gold: int) -> None:
        self.words.setdefault(eid, {})[index] = (pred, gold)

    def sentences(self) -> Tuple[List[int], List[List[str]], List[List[str]]]:
        eids, golds, preds = [], [], []
        labels = self.task.label_list
        for eid in sorted(self.n_words):
            words = self.words.get(eid, {})
            n = self.n_words[eid]
            missing = [i for i in range(n) if i not in words]
            if missing:
                raise DataError(f"{self.task.name}: sentence {eid} has no prediction for words {missing[:5]}.")
            eids.append(eid)
            preds.append([labels[words[i][0]] for i in range(n)])
            golds.append([labels[words[i][1]] for i in range(n)])
        return eids, golds, preds

    def get_results(self) -> Dict[str, float]:
        _, golds, preds = self.sentences()
        n = sum(len(g) for g in golds)
        correct = sum(int(a == b) for g, p in zip(golds, preds) for a, b in zip(g, p))
        results: Dict[str, float] = {}
        if not self.task.spec.token_level:
            extract = self.task.span_extractor()
            gold_spans = [set(extract(g)) for g in golds]
            pred_spans = [set(extract(p)) for p in preds]
            results.update(schemes.prf(gold_spans, pred_spans))
            for t, f1 in schemes.per_type_f1(gold_spans, pred_spans).items():
                results[f"f1_{t}"] = f1
        results["accuracy"] = 100.0 * correct / max(n, 1)
        results["loss"] = self.total_loss / max(n, 1)  # per word (the original printed it doubled)
        return results

    def results_str(self) -> str:
        return " - ".join(f"{k}: {v:.2f}" for k, v in self.get_results().items())


class TaggingTask(Task):
    """A sequence tagging task described by a TaggingSpec plus options."""

    head_prefix = "classifier"
    model_type = "token-classification"
    predictions_folder = "tagging"

    def __init__(self, config, name: str, tokenizer, spec: TaggingSpec, options: Optional[Dict] = None):
        super().__init__(config, name, tokenizer)
        self.spec = spec
        self.kind = "tagging"
        opts = dict(OPTION_DEFAULTS)
        user = options or {}
        unknown = set(user) - set(opts)
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"task_config.{name}: unknown tagging option {key!r}.{closest(key, opts)}")
        opts.update(user)
        self.options = opts
        if opts["truncation"] not in ("window", "original"):
            raise ConfigError(f"task_config.{name}.truncation must be 'window' or 'original'.")
        if spec.scheme not in schemes.SCHEMES:
            raise ConfigError(f"task_config.{name}.scheme must be one of {', '.join(schemes.SCHEMES)}, got {spec.scheme!r}.")
        if opts["metric"]:
            spec.metric = opts["metric"]
        if spec.token_level:
            spec.metric = "accuracy"
        lowercase = opts["lowercase"]
        self.lowercase = True if lowercase in ("original", True) else bool(config.do_lower_case) if lowercase == "auto" else bool(lowercase)
        self.word_tokenizer = self._word_tokenizer(tokenizer)
        self._label_list: Optional[List[str]] = None
        self.head = None

    def _word_tokenizer(self, tokenizer):
        """The original tokenizes each word without CJK splitting (tokenize_and_align)."""
        from electra_tf.text.tokenizer import FullTokenizer

        if isinstance(tokenizer, FullTokenizer):
            return FullTokenizer(tokenizer.vocab_file, do_lower_case=self.lowercase, tokenize_chinese_chars=False)
        return tokenizer

    @property
    def checkpoint_metric(self) -> str:
        return "accuracy" if self.spec.token_level else "f1"

    # ----------------------------------------------------------------- reading
    def _files_for(self, split: str):
        return self.spec.files.get(split, [f"{split}.txt"])

    def has_split(self, split: str) -> bool:
        return self.split_file(split, self._files_for(split), required=False) is not None

    def data_files(self, split: str) -> List[str]:
        files = [self.split_file(split, self._files_for(split))]
        if self.spec.labels is None:  # the label mapping is read from every split
            files += [f for s in ("train", "dev", "test") if s != split and self.has_split(s)
                      for f in [self.split_file(s, self._files_for(s))]]
        return files

    def test_splits(self) -> List[str]:
        return list(self.spec.test_splits)

    def _malformed(self, path: str, line_no: int, message: str) -> None:
        text = f"{path}, line {line_no}: {message}"
        if self.options["skip_malformed_lines"]:
            logger.warning("Skipping: %s", text)
            return
        raise DataError(text + f" (set task_config.{self.name}.skip_malformed_lines to skip such lines)")

    def read_sentences(self, split: str) -> List[Tuple[List[str], List[str], str]]:
        """(words, tags, source) per sentence, with clear errors for malformed lines."""
        path = self.split_file(split, self._files_for(split))
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: byte {e.start} is not valid UTF-8; convert the file to UTF-8.") from None
        sentences: List[Tuple[List[str], List[str], str]] = []
        if self.spec.fmt == "naver":
            for line_no, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) != 2:
                    self._malformed(path, line_no, f"expected 'words<TAB>tags', found {len(parts)} tab-separated fields")
                    continue
                words, tags = parts[0].split(), parts[1].split()
                if len(words) != len(tags):
                    self._malformed(path, line_no, f"{len(words)} words but {len(tags)} tags")
                    continue
                sentences.append((words, tags, f"{path}:{line_no}"))
        else:
            words, tags, start = [], [], 1
            need = max(self.spec.word_column, self.spec.tag_column if self.spec.tag_column >= 0 else -self.spec.tag_column - 1) + 1
            for line_no, line in enumerate(lines + [""], 1):
                fields = line.split(self.spec.separator) if self.spec.separator else line.split()
                if not line.strip():
                    if words:
                        sentences.append((words, tags, f"{path}:{start}"))
                    words, tags, start = [], [], line_no + 1
                    continue
                if self.spec.doc_separator and fields[0] == self.spec.doc_separator:
                    continue
                if len(fields) < max(need, 2):
                    self._malformed(path, line_no, f"expected a word and a tag column, found {len(fields)} column(s): {line!r}")
                    continue
                word, tag = fields[self.spec.word_column].strip(), fields[self.spec.tag_column].strip()
                if not tag:
                    self._malformed(path, line_no, "empty tag")
                    continue
                if not words:
                    start = line_no
                words.append(word)
                tags.append(tag)
        if not sentences:
            raise DataError(f"{path}: no sentences found (is it the right file and format?).")
        if self.config.debug:
            sentences = sentences[:100]
        return sentences

    def _encode_tags(self, tags: Sequence[str]) -> List[str]:
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

    # ----------------------------------------------------------------- features
    def feature_spec(self):
        L, n = self.config.max_seq_length, self.name
        return {f"{n}_eid": ((), "int64"), f"{n}_labels": ((L,), "int64"), f"{n}_labels_mask": ((L,), "float32"),
                f"{n}_labeled_positions": ((L,), "int64"), f"{n}_score_mask": ((L,), "float32"),
                f"{n}_word_offset": ((), "int64"), f"{n}_n_words": ((), "int64")}

    def _windows(self, lengths: List[int]) -> List[Tuple[int, int]]:
        """Word windows [start, end) whose sub-tokens fit max_seq_length - 2, overlapping."""
        budget = self.config.max_seq_length - 2
        if sum(lengths) <= budget:
            return [(0, len(lengths))]
        windows, start = [], 0
        while True:
            end, total = start, 0
            while end < len(lengths) and total + lengths[end] <= budget:
                total += lengths[end]
                end += 1
            end = max(end, start + 1)  # a single word longer than the budget gets its own window
            windows.append((start, end))
            if end >= len(lengths):
                return windows
            overlap = self.options["window_overlap"]
            overlap = (end - start) // 2 if overlap is None else min(int(overlap), end - start - 1)
            start = max(end - overlap, start + 1)

    @staticmethod
    def _owner(windows, index) -> int:
        """The window that scores word ``index``: the one giving it the most context."""
        best, best_score = 0, -1
        for w, (s, e) in enumerate(windows):
            if s <= index < e:
                score = min(index - s, e - 1 - index)
                if score > best_score:
                    best, best_score = w, score
        return best

    @gc_paused
    def featurize(self, examples: List[Example], is_training: bool):
        tok = self.word_tokenizer
        all_words = [w for e in examples for w in e.fields["words"]]
        tokenized = tok.tokenize_batch(all_words) if all_words else []
        cls_id, sep_id = tok.special_id("[CLS]"), tok.special_id("[SEP]")
        unk = "[UNK]"
        L = self.config.max_seq_length
        label_list = self.label_list
        b_to_i = {i: label_list.index("I-" + l[2:]) for i, l in enumerate(label_list)
                  if l.startswith("B-") and "I-" + l[2:] in label_list}
        features, cursor, dropped = [], 0, 0
        for ex in examples:
            words = ex.fields["words"]
            word_tokens = [t or [unk] for t in tokenized[cursor:cursor + len(words)]]  # empty word -> [UNK]
            cursor += len(words)
            labels = ex.fields["labels"]
            if self.options["truncation"] == "original":
                windows = [self._original_window(word_tokens)]
                dropped += len(words) - windows[0][1]
            else:
                windows = self._windows([len(t) for t in word_tokens])
            owners = [self._owner(windows, i) for i in range(len(words))] if len(windows) > 1 else [0] * len(words)
            for w, (start, end) in enumerate(windows):
                ids, positions, win_labels, score = [cls_id], [], [], []
                for i in range(start, end):
                    pieces = tok.convert_tokens_to_ids(word_tokens[i][: L - 2])
                    if len(ids) + len(pieces) > L - 1:
                        pieces = pieces[: L - 1 - len(ids)]
                    if not pieces:
                        break
                    if is_training and self.options["label_all_tokens"]:
                        for k in range(len(pieces)):
                            positions.append(len(ids) + k)
                            win_labels.append(labels[i] if k == 0 else b_to_i.get(labels[i], labels[i]))
                            score.append(1.0 if k == 0 and owners[i] == w else 0.0)
                    else:
                        positions.append(len(ids))
                        win_labels.append(labels[i])
                        score.append(1.0 if owners[i] == w else 0.0)
                    ids.extend(pieces)
                ids.append(sep_id)
                n = self.name
                features.append({
                    "input_ids": pad_sequence(ids, L), "input_mask": pad_sequence([1] * len(ids), L),
                    "segment_ids": pad_sequence([int(self.options["segment_id"])] * len(ids), L),
                    f"{n}_eid": ex.eid, f"{n}_labels": pad_sequence(win_labels, L),
                    f"{n}_labels_mask": pad_sequence([1.0] * len(positions), L, 0.0),
                    f"{n}_labeled_positions": pad_sequence(positions, L),
                    f"{n}_score_mask": pad_sequence(score, L, 0.0),
                    f"{n}_word_offset": start,
                    f"{n}_n_words": end if self.options["truncation"] == "original" else len(words),
                })
        if dropped:
            logger.warning("%s: the original truncation leaves %d words unscored.", self.name, dropped)
        return features

    def _original_window(self, word_tokens: List[List[str]]) -> Tuple[int, int]:
        """The words the original's featurize keeps: its loop over [CLS] + words + [SEP] stops
        when ``len(words_to_tokens) + len(input_ids) + 1 > max_seq_length``, i.e. it compares the
        *number of words* plus the ids so far with the limit, and the words after the stop are
        never scored."""
        n = len(word_tokens) + 2  # len(words_to_tokens), [CLS] and [SEP] included
        if n + 0 + 1 > self.config.max_seq_length:  # checked before [CLS] is added
            return (0, 0)
        length = 1
        for i, tokens in enumerate(word_tokens):
            if n + length + 1 > self.config.max_seq_length:
                return (0, i)
            length += len(tokens)
        return (0, len(word_tokens))

    # ----------------------------------------------------------------- model
    def build_head(self, model_config, head_type: str):
        from electra_tf.finetuning.tagging.head import TaggingHead

        constraints = None
        if self.options["use_crf"] and self.options["constrained_decoding"]:
            encoding = "keep" if self.spec.token_level else (self.spec.encoding if self.spec.encoding != "keep" else self.spec.scheme)
            enc = {"iob2": "BIO", "iob1": "IO", "suffix": "BIO", "bioes": "BIOES", "io": "IO"}.get(encoding, encoding)
            constraints = schemes.allowed_transitions(self.label_list, enc)
        cfg = model_config.replace(num_labels=self.num_labels, head=head_type)
        self.head = TaggingHead(cfg, use_crf=bool(self.options["use_crf"]), constraints=constraints,
                                name=f"task_specific_{self.name.replace('-', '_')}")
        return self.head

    def head_outputs(self, head, sequence_output, features, training):
        logits = head(sequence_output, features[f"{self.name}_labeled_positions"], training=training)
        return {"logits": logits}

    def per_example_loss(self, head, outputs, features):
        n = self.name
        mask = ops.cast(features[f"{n}_labels_mask"], "float32")
        labels = features[f"{n}_labels"]
        if head.crf is not None:
            return head.crf.negative_log_likelihood(outputs["logits"], labels, mask)
        one_hot = ops.one_hot(ops.cast(labels, "int32"), self.num_labels)
        losses = -ops.sum(one_hot * ops.log_softmax(outputs["logits"], axis=-1), axis=-1)
        return ops.sum(losses * mask, axis=-1)

    def lr_multiplier_overrides(self, base_lr: float) -> Dict[str, float]:
        rate = self.options["crf_learning_rate"]
        if not (self.options["use_crf"] and rate):
            return {}
        return {f"task_specific.{self.name}.crf.{w}": float(rate) / base_lr for w in ("transitions", "start", "end")}

    # ----------------------------------------------------------------- scoring
    def span_extractor(self):
        if self.spec.metric == "original":
            return schemes.original_spans
        if self.options["strict"]:
            scheme = "bioes" if self.spec.encoding == "BIOES" else "iob2"
            return lambda tags: schemes.strict_spans(tags, scheme)
        return schemes.spans

    def get_scorer(self, split: str):
        return TaggingScorer(self)

    def update_scorer(self, scorer, outputs, features, loss):
        n = self.name
        mask = features[f"{n}_labels_mask"]
        valid = int(round(float(np.sum(mask))))
        logits = np.asarray(outputs["logits"], dtype=np.float32)[:valid]
        if self.head is not None and self.head.crf is not None:
            trans, start, end = (np.asarray(x) for x in self.head.crf.masked_params())
            from electra_tf.finetuning.tagging.crf import viterbi

            preds = viterbi(logits, trans, start, end)
        else:
            preds = np.argmax(logits, axis=-1).tolist()
        eid, offset = int(features[f"{n}_eid"]), int(features[f"{n}_word_offset"])
        scorer.n_words[eid] = int(features[f"{n}_n_words"])
        scorer.total_loss += float(loss)
        score_mask = features[f"{n}_score_mask"]
        for j in range(valid):  # evaluation features have one position per word
            if score_mask[j] > 0:
                scorer.update_word(eid, offset + j, int(preds[j]), int(features[f"{n}_labels"][j]))

    def to_input_scheme(self, tags: List[str]) -> List[str]:
        """Predicted tags back in the data's scheme (for CoNLL prediction files)."""
        if self.spec.token_level or self.spec.encoding == "keep":
            return tags
        scheme = self.spec.scheme
        if scheme == "bioes":
            return schemes.convert(tags, "BIOES")
        if scheme == "io":
            return schemes.convert(tags, "IO")
        out = schemes.convert(tags, "BIO")  # iob1 data is written as IOB2
        if scheme == "suffix":
            out = [t if t == "O" else f"{t[2:]}-{t[0]}" for t in out]
        return out

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


CONLL2000_FILES = {"train": ["train.txt"], "dev": ["dev.txt"], "test": ["test.txt"]}
NAVER_LABELS = ["O"] + [f"{t}-{p}" for t in ("PER", "FLD", "AFW", "ORG", "LOC", "CVL", "DAT", "TIM", "NUM", "EVT",
                                             "ANM", "PLT", "MAT", "TRM") for p in ("B", "I")]


def _register(name: str, spec_factory):
    def factory(config, task_name, tokenizer):
        options = config.task_config.get(task_name, {}) if isinstance(config.task_config, dict) else {}
        return TaggingTask(config, task_name, tokenizer, spec_factory(), options)

    register(name, factory)


# The original chunking task: CoNLL-2000, BIOES, the original's span F1 (reported on test).
_register("chunk", lambda: TaggingSpec(CONLL2000_FILES, scheme="iob2", metric="original"))
# CoNLL-2003 NER (word POS chunk NER columns; IOB1 or IOB2 tags both read correctly).
_register("conll2003", lambda: TaggingSpec(
    {"train": ["train.txt", "eng.train"], "dev": ["dev.txt", "valid.txt", "eng.testa"], "test": ["test.txt", "eng.testb"]},
    scheme="iob1"))
# Naver NER as distributed with KoELECTRA: one sentence per line, suffix tags (PER-B).
_register("naver-ner", lambda: TaggingSpec(
    {"train": ["train.tsv"], "dev": ["dev.tsv", "test.tsv"], "test": ["test.tsv"]}, fmt="naver", scheme="suffix",
    labels=list(NAVER_LABELS), test_splits=()))


def build_generic_tagging_task(config, name: str, tokenizer, options: Dict):
    """A tagging task described entirely in task_config (files, columns, scheme, labels)."""
    unknown = set(options) - set(OPTION_DEFAULTS)
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"task_config.{name}: unknown tagging option {key!r}.{closest(key, OPTION_DEFAULTS)}")
    files = options.get("files") or {"train": "train.txt", "dev": "dev.txt", "test": "test.txt"}
    files = {split: [f] if isinstance(f, str) else list(f) for split, f in files.items()}
    token_level = bool(options.get("token_level", False))
    encoding = options.get("encoding") or ("keep" if token_level else "BIOES")
    if encoding not in ("BIOES", "BIO", "keep"):
        raise ConfigError(f"task_config.{name}.encoding must be BIOES, BIO or keep, got {encoding!r}.")
    spec = TaggingSpec(files, fmt=options.get("format", "conll"), separator=options.get("separator"),
                       word_column=int(options.get("word_column", 0)), tag_column=int(options.get("tag_column", -1)),
                       doc_separator=options.get("doc_separator", "-DOCSTART-"), scheme=options.get("scheme", "iob2"),
                       token_level=token_level, labels=options.get("labels"), encoding=encoding,
                       metric="accuracy" if token_level else (options.get("metric") or "seqeval"),
                       test_splits=("test",))
    if spec.fmt not in ("conll", "naver"):
        raise ConfigError(f"task_config.{name}.format must be 'conll' or 'naver', got {spec.fmt!r}.")
    passthrough = {k: v for k, v in options.items() if k in ("truncation", "lowercase", "label_all_tokens", "use_crf",
                                                              "crf_learning_rate", "constrained_decoding", "strict",
                                                              "segment_id", "skip_malformed_lines", "window_overlap")}
    return TaggingTask(config, name, tokenizer, spec, passthrough)
