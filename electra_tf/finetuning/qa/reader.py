"""Reading QA data: SQuAD-format JSON (.json, .json.gz) and MRQA jsonl, normalised to SQuAD's
schema, with whitespace doc tokens (U+202F counts as whitespace, as the original).

Training answers are located by their ``answer_start`` offset (the nearest occurrence when the
offset is off by a few characters); answers that do not occur in their context are an error,
or skipped with ``skip_unmatched_answers`` as the original did.
"""

from __future__ import annotations

import gzip
import json
import logging
from typing import Dict, List, Optional, Sequence

from electra_tf.errors import DataError
from electra_tf.finetuning.task import Example, debug_subset
from electra_tf.utils.files import invalid_utf8_message, read_jsonl

logger = logging.getLogger("electra_tf")


def is_qa_whitespace(c: str) -> bool:
    """Whitespace as the original SQuAD reader splits on: space, tab, CR, LF and U+202F."""
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


def locate_answer(context: str, text: str, start: int) -> Optional[int]:
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


class QAReader:
    """Examples (one per question) of a SQuAD ("squad") or MRQA ("mrqa") file (a ``task.FileReader``)."""

    def __init__(self, task_name: str, fmt: str = "squad", v2: bool = False, skip_unmatched_answers: bool = False,
                 debug: bool = False, files: Optional[Dict[str, Sequence[str]]] = None):
        self.task_name, self.fmt, self.v2 = task_name, fmt, v2
        self.skip_unmatched_answers, self.debug = skip_unmatched_answers, debug
        self.files = files or {}

    def files_for(self, split: str) -> List[str]:
        """Candidate file names of ``split``: the task's own, then ``<split>.json[l]`` and its ``.gz``."""
        ext = "jsonl" if self.fmt == "mrqa" else "json"
        return list(self.files.get(split, [])) + [f"{split}.{ext}", f"{split}.{ext}.gz"]

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
            with opener(path, "rt", encoding="utf-8-sig") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise DataError(f"Input file not found: {path}") from None
        except UnicodeDecodeError as e:
            raise DataError(invalid_utf8_message(path, e)) from None
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise DataError(f"{path}: expected SQuAD-format JSON with a top-level 'data' list.")
        return data

    def paragraphs(self, path: str):
        """(source, paragraph dict) pairs, normalised to SQuAD's schema."""
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

    def read(self, path: str, is_training: bool, what: str = "") -> List[Example]:
        """The questions of ``path``; ``what`` names the split in messages."""
        examples: List[Example] = []
        self._skipped = 0
        seen_ids = set()
        for source, paragraph in self.paragraphs(path):
            try:
                self._add_paragraph(examples, paragraph, source, is_training, seen_ids)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
                raise DataError(f"{source}: malformed record ({type(e).__name__}: {e}); expected SQuAD-style "
                                f"{{'context': str, 'qas': [{{'id', 'question', 'answers': [{{'text', 'answer_start'}}]}}]}}.") from None
        if self._skipped:
            logger.warning("%s %s: %d training answers could not be found in their context and were skipped.",
                           self.task_name, what, self._skipped)
        if not examples:
            raise DataError(f"{self.task_name} {what}: no questions found.")
        return debug_subset(examples, self.debug)

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
                located = locate_answer(context, answer_text, answer_start)
                if located is None:
                    if not self.skip_unmatched_answers:
                        raise DataError(
                            f"{source}: the answer {answer_text!r} of question {qid!r} does not occur in its context "
                            f"(answer_start {answer_start}); fix the data, or set task_config.{self.task_name}."
                            f"skip_unmatched_answers to skip such questions as the original did.")
                    self._skipped += 1
                    logger.info("Could not find answer %r of %s in its context; skipped.", answer_text, qid)
                    continue
                answer_start = located
            golds = [a["text"] if isinstance(a, dict) else a for a in qa.get("answers", [])]
            if not all(isinstance(g, str) for g in golds) or not isinstance(qa["question"], str):
                raise DataError(f"{source}: question {qid!r}: the question and answer texts must be strings.")
            examples.append(Example(eid=len(examples), task_name=self.task_name, source=source, fields={
                "qid": qid, "question": qa["question"], "context": context, "doc_tokens": doc_tokens,
                "doc_starts": starts, "char_to_word": char_to_word, "answer_text": answer_text,
                "answer_start": answer_start, "is_impossible": impossible, "gold_answers": golds}))
