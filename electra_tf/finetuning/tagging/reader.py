"""Reading tagging data: CoNLL-style files (one word per line) and Naver's one-sentence-per-line
format (``words<TAB>tags``), with errors naming file and line."""

from __future__ import annotations

import dataclasses
import logging
from typing import Dict, List, Optional, Sequence, Tuple

from electra_tf.errors import DataError
from electra_tf.finetuning.task import debug_subset
from electra_tf.utils.files import invalid_utf8_message

logger = logging.getLogger("electra_tf")

Sentence = Tuple[List[str], List[str], str]  # words, tags, source


@dataclasses.dataclass
class TaggingSpec:
    """Files, format, tag scheme and labels of one tagging task."""

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


class TaggingReader:
    """(words, tags, source) per sentence of a file in the spec's format (a ``task.FileReader``)."""

    def __init__(self, spec: TaggingSpec, task_name: str, debug: bool = False, skip_malformed: bool = False):
        self.spec, self.task_name, self.debug, self.skip_malformed = spec, task_name, debug, skip_malformed

    def files_for(self, split: str):
        return self.spec.files.get(split, [f"{split}.txt"])

    def _malformed(self, path: str, line_no: int, message: str) -> None:
        text = f"{path}, line {line_no}: {message}"
        if self.skip_malformed:
            logger.warning("Skipping: %s", text)
            return
        raise DataError(text + f" (set task_config.{self.task_name}.skip_malformed_lines to skip such lines)")

    def read(self, path: str) -> List[Sentence]:
        """The sentences of ``path``, with clear errors for malformed lines."""
        try:
            with open(path, encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
        except UnicodeDecodeError as e:
            raise DataError(invalid_utf8_message(path, e)) from None
        sentences = self._naver(path, lines) if self.spec.fmt == "naver" else self._conll(path, lines)
        if not sentences:
            raise DataError(f"{path}: no sentences found (is it the right file and format?).")
        return debug_subset(sentences, self.debug)

    def _naver(self, path: str, lines: List[str]) -> List[Sentence]:
        sentences: List[Sentence] = []
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
        return sentences

    def _conll(self, path: str, lines: List[str]) -> List[Sentence]:
        spec = self.spec
        sentences: List[Sentence] = []
        words, tags, start = [], [], 1
        need = max(spec.word_column, spec.tag_column if spec.tag_column >= 0 else -spec.tag_column - 1) + 1
        for line_no, line in enumerate(lines + [""], 1):
            fields = line.split(spec.separator) if spec.separator else line.split()
            if not line.strip():
                if words:
                    sentences.append((words, tags, f"{path}:{start}"))
                words, tags, start = [], [], line_no + 1
                continue
            if spec.doc_separator and fields[0] == spec.doc_separator:
                continue
            if len(fields) < max(need, 2):
                self._malformed(path, line_no, f"expected a word and a tag column, found {len(fields)} column(s): {line!r}")
                continue
            word, tag = fields[spec.word_column].strip(), fields[spec.tag_column].strip()
            if not tag:
                self._malformed(path, line_no, "empty tag")
                continue
            if not words:
                start = line_no
            words.append(word)
            tags.append(tag)
        return sentences
