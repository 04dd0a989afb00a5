"""Extractive QA (``finetune/qa/qa_tasks.py`` and ``qa_metrics.py``): SQuAD 1.1/2.0, MRQA,
CMRC 2018, DRCD and KorQuAD 1.0.

Featurization is the original's: whitespace doc tokens (U+202F counts as whitespace), per-token
WordPiece, the query cut to ``max_query_length``, windows of ``max_seq_length - len(query) - 3``
tokens advanced by ``min(length, doc_stride)``, the max-context rule, eid = 1000 * example +
window, ``[CLS]`` as the target of windows without the answer. Decoding is the original's
(joint beam or n-best starts/ends, the same filters, n-best of unique texts, v2 null odds).

Two differences, each with the original behaviour behind ``task_config.<task>.answer_mode:
"original"``:

* Training answers are placed by their ``answer_start`` character offset. The original first
  maps the answer to whitespace tokens and then picks the *first* occurrence of the tokenized
  answer inside them; a Chinese paragraph is one whitespace token, so an answer that occurs
  earlier in the paragraph was labelled at the wrong place. The number of training answers
  whose position differs between the two methods is logged and stored in the feature metadata.
* Predicted spans are mapped back to the context through character offsets. The original
  re-tokenized the whitespace tokens and aligned characters, and fell back to the *whole*
  whitespace token (for Chinese, the whole paragraph) when the tokenizer had dropped or changed
  characters (zero-width, full-width or no-break spaces).
"""

from __future__ import annotations

import collections
import gzip
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from keras import ops

from electra_tf.errors import ConfigError, DataError, closest
from electra_tf.evaluation import qa_metrics
from electra_tf.finetuning.tasks.base import Example, Task, gc_paused, pad_sequence, register
from electra_tf.io_utils import atomic_write_json, read_jsonl

logger = logging.getLogger("electra_tf")

OPTION_DEFAULTS = {"answer_mode": "offset", "skip_unmatched_answers": False}


def is_qa_whitespace(c: str) -> bool:
    return c in (" ", "\t", "\r", "\n") or ord(c) == 0x202F


def split_doc_tokens(context: str):
    """Whitespace doc tokens with their character starts and each character's token index."""
    tokens, starts, char_to_word = [], [], []
    prev_ws = True
    for i, c in enumerate(context):
        if is_qa_whitespace(c):
            prev_ws = True
        else:
            if prev_ws:
                tokens.append(c)
                starts.append(i)
            else:
                tokens[-1] += c
            prev_ws = False
        char_to_word.append(len(tokens) - 1)
    return tokens, starts, char_to_word


class QAScorer:
    """Collects raw results per feature eid; decodes, writes prediction files and scores."""

    def __init__(self, task: "QATask", split: str):
        self.task = task
        self.split = split
        self.results: Dict[int, Dict[str, np.ndarray]] = {}
        self.total_loss = 0.0
        self.predictions: Dict[str, str] = {}
        self.null_odds: Dict[str, float] = {}
        self.nbest: Dict[str, list] = {}
        self._results_cache = None

    def update(self, outputs, eid: int, loss: float) -> None:
        self.results[eid] = outputs
        self.total_loss += loss

    def get_results(self) -> Dict[str, float]:
        if self._results_cache is None:
            self.task.decode(self)
            self._results_cache = self.task.score(self)
            self._results_cache["loss"] = self.total_loss / max(len(self.results), 1)
        return dict(self._results_cache)

    def results_str(self) -> str:
        return " - ".join(f"{k}: {v:.2f}" for k, v in self.get_results().items() if isinstance(v, (int, float)))


def first_matching_span(pieces: Sequence[str], tok_start: int, tok_end: int,
                        answer_pieces: Sequence[str]) -> Tuple[int, int]:
    """The original's answer-span improvement, in linear time.

    The original (``_improve_answer_span``) tries every (start, end) inside [tok_start, tok_end],
    starts ascending and ends descending, and returns the first whose " "-joined pieces equal the
    " "-joined tokenized answer, else (tok_start, tok_end). Word pieces never contain a space and
    are never empty, so the joined strings are equal exactly when the piece lists are; for a
    given start only one end can match (start + len(answer) - 1). The result is the same, but a
    Chinese paragraph (one whitespace token, so the search covers the whole paragraph) costs
    O(n * len(answer)) instead of O(n^3): 10,000 CMRC questions no longer take half an hour.
    """
    n = len(answer_pieces)
    if n:
        answer = list(answer_pieces)
        first = answer[0]
        for new_start in range(tok_start, tok_end - n + 2):
            if pieces[new_start] == first and list(pieces[new_start:new_start + n]) == answer:
                return new_start, new_start + n - 1
    return tok_start, tok_end


class QATask(Task):
    """A span-extraction QA task. ``fmt`` is "squad" (JSON) or "mrqa" (jsonl)."""

    kind = "qa"
    head_prefix = "qa_head"
    model_type = "question-answering"
    predictions_folder = "qa"

    def __init__(self, config, name: str, tokenizer, files: Dict[str, Sequence[str]], fmt: str = "squad",
                 v2: bool = False, metric: str = "squad", test_splits: Sequence[str] = ()):
        super().__init__(config, name, tokenizer)
        self.files, self.fmt, self.v2, self.metric = files, fmt, v2, metric
        self._test_splits = list(test_splits)
        options = dict(OPTION_DEFAULTS)
        user = config.task_config.get(name, {}) if isinstance(config.task_config, dict) else {}
        unknown = set(user) - set(options)
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"task_config.{name}: unknown QA option {key!r}.{closest(key, options)}")
        options.update(user)
        if options["answer_mode"] not in ("offset", "original"):
            raise ConfigError(f"task_config.{name}.answer_mode must be 'offset' or 'original'.")
        self.options = options
        self._examples: Dict[str, List[Example]] = {}
        self.head = None
        if config.head == "electra":
            self.head_prefix = "qa_head"
        else:
            self.head_prefix = "qa_outputs"
        self.answer_position_differences = 0

    @property
    def checkpoint_metric(self) -> str:
        return {"cmrc2018": "F1", "squad2": "f1"}.get(self.metric, "f1")

    def test_splits(self) -> List[str]:
        return self._test_splits

    # ----------------------------------------------------------------- reading
    def _files_for(self, split: str):
        ext = "jsonl" if self.fmt == "mrqa" else "json"
        return list(self.files.get(split, [])) + [f"{split}.{ext}", f"{split}.{ext}.gz"]

    def has_split(self, split: str) -> bool:
        return self.split_file(split, self._files_for(split), required=False) is not None

    def data_files(self, split: str) -> List[str]:
        return [self.split_file(split, self._files_for(split))]

    def _load(self, path: str):
        if self.fmt == "mrqa":
            records = []
            for line_no, record in read_jsonl(path):
                if not isinstance(record, dict):
                    raise DataError(f"{path}, line {line_no}: expected a JSON object (an MRQA paragraph), got {type(record).__name__}.")
                if "header" not in record:
                    records.append((line_no, record))
            return records
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                data = json.load(f)
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: byte {e.start} is not valid UTF-8.") from None
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise DataError(f"{path}: expected SQuAD-format JSON with a top-level 'data' list.")
        return data

    def paragraphs(self, split: str):
        """(source, paragraph dict) pairs, normalised to SQuAD's schema."""
        path = self.split_file(split, self._files_for(split))
        loaded = self._load(path)
        if self.fmt == "mrqa":
            for line_no, record in loaded:
                yield f"{path}:{line_no}", record
        else:
            for a, article in enumerate(loaded["data"]):
                if not isinstance(article, dict) or not isinstance(article.get("paragraphs", []), list):
                    raise DataError(f"{path} (data[{a}]): expected an object with a 'paragraphs' list.")
                for p, paragraph in enumerate(article.get("paragraphs", [])):
                    yield f"{path} (data[{a}].paragraphs[{p}])", paragraph

    def get_examples(self, split: str) -> List[Example]:
        if split in self._examples:
            return self._examples[split]
        examples: List[Example] = []
        self._skipped = 0
        is_training = split == "train"
        seen_ids = set()
        for source, paragraph in self.paragraphs(split):
            try:
                self._add_paragraph(examples, paragraph, source, is_training, seen_ids)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
                raise DataError(f"{source}: malformed record ({type(e).__name__}: {e}); expected SQuAD-style "
                                f"{{'context': str, 'qas': [{{'id', 'question', 'answers': [{{'text', 'answer_start'}}]}}]}}.") from None
        if self._skipped:
            logger.warning("%s %s: %d training answers could not be found in their context and were skipped.", self.name, split, self._skipped)
        if not examples:
            raise DataError(f"{self.name} {split}: no questions found.")
        if self.config.debug:
            examples = examples[:100]
        self._examples[split] = examples
        return examples

    def _add_paragraph(self, examples, paragraph, source, is_training, seen_ids):
        """Add the questions of one paragraph (SQuAD schema) to ``examples``."""
        if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str) or not isinstance(paragraph.get("qas"), list):
            raise DataError(f"{source}: a paragraph needs a 'context' string and a 'qas' list.")
        context = paragraph["context"]
        doc_tokens, starts, char_to_word = split_doc_tokens(context)
        for qa in paragraph["qas"]:
            qid = qa.get("id", qa.get("qid"))
            if qid is None or "question" not in qa:
                raise DataError(f"{source}: every question needs an 'id' (or MRQA 'qid') and a 'question'.")
            qid = str(qid)
            if qid in seen_ids:
                raise DataError(f"{source}: question id {qid!r} appears twice.")
            seen_ids.add(qid)
            impossible = bool(qa.get("is_impossible", False)) if (is_training and self.v2) else False
            answer_text, answer_start = "", None
            if is_training and not impossible:
                if "detected_answers" in qa:  # MRQA
                    answer = qa["detected_answers"][0]
                    answer_text, answer_start = answer["text"], answer["char_spans"][0][0]
                else:
                    if not qa.get("answers"):
                        raise DataError(f"{source}: training question {qid!r} has no answers.")
                    answer_text, answer_start = qa["answers"][0]["text"], qa["answers"][0]["answer_start"]
                if not isinstance(answer_text, str) or isinstance(answer_start, bool) or not isinstance(answer_start, int):
                    raise DataError(f"{source}: question {qid!r}: answer 'text' must be a string and 'answer_start' an integer.")
                located = self._locate_answer(context, answer_text, answer_start)
                if located is None:
                    if not self.options["skip_unmatched_answers"]:
                        raise DataError(
                            f"{source}: the answer {answer_text!r} of question {qid!r} does not occur in its context "
                            f"(answer_start {answer_start}); fix the data, or set task_config.{self.name}."
                            f"skip_unmatched_answers to skip such questions as the original did.")
                    self._skipped += 1
                    logger.info("Could not find answer %r of %s in its context; skipped.", answer_text, qid)
                    continue
                answer_start = located
            golds = [a["text"] if isinstance(a, dict) else a for a in qa.get("answers", [])]
            if not all(isinstance(g, str) for g in golds) or not isinstance(qa["question"], str):
                raise DataError(f"{source}: question {qid!r}: the question and answer texts must be strings.")
            examples.append(Example(eid=len(examples), task_name=self.name, source=source, fields={
                "qid": qid, "question": qa["question"], "context": context, "doc_tokens": doc_tokens,
                "doc_starts": starts, "char_to_word": char_to_word, "answer_text": answer_text,
                "answer_start": answer_start, "is_impossible": impossible, "gold_answers": golds}))

    @staticmethod
    def _locate_answer(context: str, text: str, start: int) -> Optional[int]:
        """The answer's character start: answer_start if the text is there, else the nearest
        occurrence (annotation offsets are sometimes off by a few characters)."""
        if not text or start < 0 or start + len(text) > len(context) + 0:
            if text and text in context:
                return context.find(text)
            return None
        if context[start:start + len(text)] == text:
            return start
        if context[start:start + len(text)].lower() == text.lower():
            return start
        positions = [i for i in range(len(context)) if context.startswith(text, i)]
        if not positions:
            return None
        return min(positions, key=lambda i: abs(i - start))

    # ----------------------------------------------------------------- features
    def feature_spec(self):
        n = self.name
        return {f"{n}_eid": ((), "int64"), f"{n}_start_positions": ((), "int64"),
                f"{n}_end_positions": ((), "int64"), f"{n}_is_impossible": ((), "int64")}

    def _subtokens(self, examples: List[Example]):
        """Per example: query tokens, and doc sub-tokens with their doc-token index and char span.

        The original re-tokenized the paragraph for every question; each distinct paragraph is
        tokenized once here (CMRC 2018 and SQuAD have about five questions per paragraph), with
        the same result.
        """
        tok = self.tokenizer
        queries = tok.tokenize_batch([e.fields["question"] for e in examples])
        paragraphs: Dict[str, Example] = {}
        for ex in examples:
            paragraphs.setdefault(ex.fields["context"], ex)
        flat_docs = [t for e in paragraphs.values() for t in e.fields["doc_tokens"]]
        tokenized = tok.tokenize_with_offsets_batch(flat_docs) if flat_docs else []
        documents, cursor = {}, 0
        for context, ex in paragraphs.items():
            words = ex.fields["doc_tokens"]
            pieces, to_orig, spans, orig_to_tok = [], [], [], []
            for i, (word_pieces, base) in enumerate(zip(tokenized[cursor:cursor + len(words)], ex.fields["doc_starts"])):
                orig_to_tok.append(len(pieces))
                for token, s, e in word_pieces:
                    pieces.append(token)
                    to_orig.append(i)
                    spans.append((base + s, base + e))
            cursor += len(words)
            documents[context] = (pieces, to_orig, spans, orig_to_tok)
        return [(query[: self.config.max_query_length],) + documents[ex.fields["context"]]
                for ex, query in zip(examples, queries)]

    def _original_answer_span(self, ex: Example, pieces, orig_to_tok, answer_pieces) -> Tuple[int, int]:
        """The original: doc-token start/end, then the first sub-span equal to the tokenized answer."""
        f = ex.fields
        start_word = f["char_to_word"][f["answer_start"]]
        end_word = f["char_to_word"][f["answer_start"] + len(f["answer_text"]) - 1]
        tok_start = orig_to_tok[start_word]
        tok_end = orig_to_tok[end_word + 1] - 1 if end_word < len(f["doc_tokens"]) - 1 else len(pieces) - 1
        return first_matching_span(pieces, tok_start, tok_end, answer_pieces)

    @staticmethod
    def _offset_answer_span(ex: Example, spans) -> Optional[Tuple[int, int]]:
        start_char = ex.fields["answer_start"]
        end_char = start_char + len(ex.fields["answer_text"])
        inside = [i for i, (s, e) in enumerate(spans) if s < end_char and e > start_char]
        return (inside[0], inside[-1]) if inside else None

    def doc_windows(self, n_pieces: int, n_query: int):
        max_tokens = self.config.max_seq_length - n_query - 3
        if max_tokens <= 0:
            raise ConfigError(f"max_seq_length {self.config.max_seq_length} leaves no room for the document after "
                              f"max_query_length {self.config.max_query_length}; raise max_seq_length.")
        windows, start = [], 0
        while start < n_pieces:
            length = min(n_pieces - start, max_tokens)
            windows.append((start, length))
            if start + length == n_pieces:
                break
            start += min(length, self.config.doc_stride)
        return windows or [(0, 0)]

    @staticmethod
    def max_context_windows(windows, n_pieces: int) -> np.ndarray:
        """Per document piece, the index of the window that gives it the most context.

        The original's ``_check_is_max_context``: score = min(left, right context) + 0.01 *
        window length, the first window winning ties (``np.argmax`` keeps the first maximum).
        Computed once per example instead of once per (window, piece).
        """
        positions = np.arange(n_pieces)
        scores = np.full((len(windows), n_pieces), -np.inf)
        for index, (start, length) in enumerate(windows):
            end = start + length - 1
            inside = (positions >= start) & (positions <= end)
            score = np.minimum(positions - start, end - positions) + 0.01 * length
            scores[index] = np.where(inside, score, -np.inf)
        return np.argmax(scores, axis=0) if n_pieces else np.zeros(0, dtype=np.int64)

    @gc_paused
    def featurize(self, examples: List[Example], is_training: bool, for_eval: bool = False):
        tok = self.tokenizer
        cls_id, sep_id = tok.special_id("[CLS]"), tok.special_id("[SEP]")
        L = self.config.max_seq_length
        features = []
        differences = 0
        answerable = [is_training and not ex.fields["is_impossible"] for ex in examples]
        answers = iter(tok.tokenize_batch([ex.fields["answer_text"] for ex, a in zip(examples, answerable) if a]))
        for ex, has_answer, (query, pieces, to_orig, spans, orig_to_tok) in zip(examples, answerable, self._subtokens(examples)):
            tok_start = tok_end = None
            if has_answer:
                original = self._original_answer_span(ex, pieces, orig_to_tok, next(answers))
                by_offset = self._offset_answer_span(ex, spans)
                if by_offset is not None and by_offset != original:
                    differences += 1
                tok_start, tok_end = original if (self.options["answer_mode"] == "original" or by_offset is None) else by_offset
            windows = self.doc_windows(len(pieces), len(query))
            best_window = self.max_context_windows(windows, len(pieces)) if for_eval else None
            head = [cls_id] + tok.convert_tokens_to_ids(query) + [sep_id]
            offset = len(head)  # first document position in every window
            piece_ids = tok.convert_tokens_to_ids(pieces)
            for w, (start, length) in enumerate(windows):
                n = offset + length + 1  # [CLS] query [SEP] doc [SEP]
                ids = head + piece_ids[start:start + length] + [sep_id]
                feature = {"input_ids": pad_sequence(ids, L), "input_mask": pad_sequence([1] * n, L),
                           "segment_ids": [0] * offset + [1] * (length + 1) + [0] * (L - n),
                           f"{self.name}_eid": 1000 * ex.eid + w}
                if is_training:
                    if ex.fields["is_impossible"] or not (tok_start >= start and tok_end <= start + length - 1):
                        s_pos = e_pos = 0  # [CLS]: no answer in this window
                    else:
                        s_pos, e_pos = tok_start - start + offset, tok_end - start + offset
                    feature.update({f"{self.name}_start_positions": s_pos, f"{self.name}_end_positions": e_pos,
                                    f"{self.name}_is_impossible": int(ex.fields["is_impossible"])})
                if for_eval:
                    doc = range(start, start + length)
                    feature.update(tokens=["[CLS]"] + query + ["[SEP]"] + pieces[start:start + length] + ["[SEP]"],
                                   token_to_orig_map={offset + i: to_orig[p] for i, p in enumerate(doc)},
                                   token_is_max_context={offset + i: bool(best_window[p] == w) for i, p in enumerate(doc)},
                                   char_spans={offset + i: spans[p] for i, p in enumerate(doc)}, example=ex)
                features.append(feature)
        if is_training:
            self.answer_position_differences = differences
            logger.info("%s: %d of %d training answers are placed differently by answer_start offsets than by the "
                        "original's first-occurrence search (answer_mode=%s).", self.name, differences, len(examples),
                        self.options["answer_mode"])
        return features

    # ----------------------------------------------------------------- model
    def build_head(self, model_config, head_type: str):
        from electra_tf.modeling.heads import HFQuestionAnsweringHead, OriginalQuestionAnsweringHead

        c = self.config
        if head_type == "electra":
            options = {"joint_prediction": c.joint_prediction, "beam_size": c.beam_size,
                       "answerable_classifier": c.answerable_classifier,
                       "answerable_uses_start_logits": c.answerable_uses_start_logits,
                       "answerable_weight": c.answerable_weight}
            cfg = model_config.replace(head="electra", head_options=options)
            self.head = OriginalQuestionAnsweringHead(cfg, name=f"task_specific_{self.name.replace('-', '_')}")
        else:
            cfg = model_config.replace(num_labels=2, head="hf")
            self.head = HFQuestionAnsweringHead(cfg, name=f"task_specific_{self.name.replace('-', '_')}")
        return self.head

    def head_outputs(self, head, sequence_output, features, training):
        from electra_tf.modeling.heads import OriginalQuestionAnsweringHead

        if isinstance(head, OriginalQuestionAnsweringHead):
            return head(sequence_output, features["input_mask"], features["segment_ids"],
                        start_positions=features[f"{self.name}_start_positions"], training=training)
        return head(sequence_output)

    def per_example_loss(self, head, outputs, features):
        from electra_tf.modeling.heads import OriginalQuestionAnsweringHead

        n = self.name
        starts, ends = features[f"{n}_start_positions"], features[f"{n}_end_positions"]
        if isinstance(head, OriginalQuestionAnsweringHead):
            return head.per_example_loss(outputs, starts, ends, features[f"{n}_is_impossible"])
        length = ops.shape(outputs["start_logits"])[1]

        def ce(logits, positions):
            return -ops.sum(ops.one_hot(ops.cast(positions, "int32"), length) * ops.log_softmax(logits, axis=-1), axis=-1)

        return (ce(outputs["start_logits"], starts) + ce(outputs["end_logits"], ends)) / 2.0

    # ----------------------------------------------------------------- decoding
    def get_scorer(self, split: str):
        return QAScorer(self, split)

    def update_scorer(self, scorer, outputs, features, loss):
        scorer.update({k: np.asarray(v) for k, v in outputs.items()}, int(features[f"{self.name}_eid"]), float(loss))

    @staticmethod
    def _best_indexes(logits, n):
        return [i for i, _ in sorted(enumerate(logits), key=lambda x: x[1], reverse=True)[:n]]

    def decode(self, scorer: QAScorer) -> None:
        """The original write_predictions: candidates, filters, n-best, null odds."""
        c = self.config
        joint = self.head is not None and getattr(self.head, "joint_prediction", False)
        answerable = self.head is not None and getattr(self.head, "answerable", None) is not None
        examples = self.get_examples(scorer.split)
        all_features = self.featurize(examples, is_training=False, for_eval=True)
        by_example = collections.defaultdict(list)
        for f in all_features:
            by_example[f["example"].eid].append(f)
        for ex in examples:
            qid = ex.fields["qid"]
            candidates = []
            score_null = 1000000.0
            features = by_example[ex.eid]
            for fi, feature in enumerate(features):
                result = scorer.results.get(feature[f"{self.name}_eid"])
                if result is None:
                    raise DataError(f"{self.name}: no model output for question {qid} window {fi} (eid {feature[f'{self.name}_eid']}).")
                if joint:
                    starts, ends = result["start_top_index"], result["end_top_index"]
                else:
                    starts = self._best_indexes(result["start_logits"], c.n_best_size)
                    ends = self._best_indexes(result["end_logits"], c.n_best_size)
                if self.v2:
                    null = float(result["answerable_logit"]) if answerable else float(result["start_logits"][0] + result["end_logits"][0])
                    score_null = min(score_null, null)
                tokens = feature["tokens"]
                for i, s in enumerate(starts):
                    for j, e in enumerate(ends[i] if joint else ends):
                        s, e = int(s), int(e)
                        if s >= len(tokens) or e >= len(tokens) or s == 0:
                            continue
                        if s not in feature["token_to_orig_map"] or e not in feature["token_to_orig_map"]:
                            continue
                        if not feature["token_is_max_context"].get(s, False) or e < s:
                            continue
                        if e - s + 1 > c.max_answer_length:
                            continue
                        start_score = float(result["start_top_log_probs"][i]) if joint else float(result["start_logits"][s])
                        end_score = float(result["end_top_log_probs"][i, j]) if joint else float(result["end_logits"][e])
                        candidates.append((start_score + end_score, fi, s, e, start_score, end_score))
            candidates.sort(key=lambda x: x[0], reverse=True)
            nbest, seen = [], set()
            for _, fi, s, e, start_score, end_score in candidates:
                if len(nbest) >= c.n_best_size:
                    break
                text = self.span_text(features[fi], ex, s, e)
                if text in seen:
                    continue
                seen.add(text)
                nbest.append({"text": text, "start_logit": start_score, "end_logit": end_score})
            if not nbest:
                nbest.append({"text": "empty", "start_logit": 0.0, "end_logit": 0.0})
            totals = np.array([n["start_logit"] + n["end_logit"] for n in nbest])
            probs = np.exp(totals - totals.max())
            probs /= probs.sum()
            for entry, p in zip(nbest, probs):
                entry["probability"] = float(p)
            best = next((n for n in nbest if n["text"]), nbest[0])
            scorer.nbest[qid] = nbest
            if self.v2:
                diff = score_null if answerable else score_null - best["start_logit"] - best["end_logit"]
                scorer.null_odds[qid] = float(diff)
                scorer.predictions[qid] = best["text"]
            else:
                scorer.predictions[qid] = nbest[0]["text"]

    def span_text(self, feature, ex: Example, s: int, e: int) -> str:
        if self.options["answer_mode"] == "original":
            return self._original_final_text(feature, ex, s, e)
        start_char = feature["char_spans"][s][0]
        end_char = feature["char_spans"][e][1]
        return ex.fields["context"][start_char:end_char]

    def _original_final_text(self, feature, ex: Example, s: int, e: int) -> str:
        """The original's get_final_text (it returns the whole whitespace token on failure)."""
        from electra_tf.text.reference_tokenizer import basic_tokenize

        orig_start, orig_end = feature["token_to_orig_map"][s], feature["token_to_orig_map"][e]
        orig_text = " ".join(ex.fields["doc_tokens"][orig_start:orig_end + 1])
        tok_text = " ".join(feature["tokens"][s:e + 1]).replace(" ##", "").replace("##", "")
        tok_text = " ".join(tok_text.strip().split())
        basic = " ".join(basic_tokenize(orig_text, self.config.do_lower_case))
        position = basic.find(tok_text)
        if position == -1:
            return orig_text

        def strip(text):
            chars, mapping = [], {}
            for i, ch in enumerate(text):
                if ch != " ":
                    mapping[len(chars)] = i
                    chars.append(ch)
            return "".join(chars), mapping

        orig_ns, orig_map = strip(orig_text)
        tok_ns, tok_map = strip(basic)
        if len(orig_ns) != len(tok_ns):
            return orig_text
        inverse = {v: k for k, v in tok_map.items()}
        start_ns, end_ns = inverse.get(position), inverse.get(position + len(tok_text) - 1)
        if start_ns is None or end_ns is None or start_ns not in orig_map or end_ns not in orig_map:
            return orig_text
        return orig_text[orig_map[start_ns]:orig_map[end_ns] + 1]

    # ----------------------------------------------------------------- scoring
    def score(self, scorer: QAScorer) -> Dict[str, float]:
        examples = self.get_examples(scorer.split)
        if self.metric == "mrqa":
            answers = {e.fields["qid"]: e.fields["gold_answers"] for e in examples}
            return qa_metrics.mrqa(answers, scorer.predictions, skip_no_answer=True)
        dataset = [{"paragraphs": [{"qas": [{"id": e.fields["qid"], "answers": [{"text": t} for t in e.fields["gold_answers"]]}
                                            for e in examples]}]}]
        if self.metric == "squad2":
            return qa_metrics.squad_v2(dataset, scorer.predictions, scorer.null_odds, self.config.qa_na_threshold)
        if self.metric == "korquad":
            return qa_metrics.korquad_v1(dataset, scorer.predictions)
        if self.metric == "cmrc2018":
            return qa_metrics.cmrc2018(dataset, scorer.predictions)
        return qa_metrics.squad_v1(dataset, scorer.predictions)

    def write_predictions(self, split: str, scorer: QAScorer, path: str) -> None:
        """<task>_<split>_preds.json, _null_odds.json (v2) and _nbest.json under results/<tasks>_qa/."""
        scorer.get_results()
        folder = os.path.dirname(path)
        prefix = os.path.join(folder, f"{self.name}_{split}")
        atomic_write_json(prefix + "_preds.json", scorer.predictions)
        atomic_write_json(prefix + "_nbest.json", scorer.nbest)
        if self.v2:
            atomic_write_json(prefix + "_null_odds.json", scorer.null_odds)


def _register(name, files, fmt="squad", v2=False, metric="squad", test_splits=()):
    register(name, lambda config, task_name, tokenizer: QATask(config, task_name, tokenizer, files, fmt, v2, metric, test_splits))


_register("squad", {"train": ["train-v2.0.json"], "dev": ["dev-v2.0.json"]}, v2=True, metric="squad2", test_splits=("test",))
_register("squadv1", {"train": ["train-v1.1.json"], "dev": ["dev-v1.1.json"]}, metric="squad")
for _mrqa in ("newsqa", "naturalqs", "triviaqa", "searchqa"):
    _register(_mrqa, {}, fmt="mrqa", metric="mrqa")
_register("cmrc2018", {"train": ["cmrc2018_train.json"], "dev": ["cmrc2018_dev.json"], "eval": ["cmrc2018_test.json", "test.json"],
                       "test": ["cmrc2018_test.json"]}, metric="cmrc2018")
_register("drcd", {"train": ["DRCD_training.json"], "dev": ["DRCD_dev.json"], "eval": ["DRCD_test.json", "test.json"],
                   "test": ["DRCD_test.json"]}, metric="cmrc2018")
_register("korquad", {"train": ["KorQuAD_v1.0_train.json"], "dev": ["KorQuAD_v1.0_dev.json"]}, metric="korquad")
