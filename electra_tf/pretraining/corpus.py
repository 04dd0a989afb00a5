"""The pre-training corpus: which files a corpus folder holds and their lines, streamed.

Input contract of the original builder (#43): UTF-8 text, one sentence per line, a blank line
between documents. Files are read as the original's ``tf.io.gfile.GFile`` read them: lines end
at ``\\n`` only, and every ``\\r`` is deleted (TensorFlow's ``ReadLine`` drops them, so
``"x\\ry"`` is the word ``"xy"``, not two words); no BOM handling. Lines are decoded in blocks,
never the whole file at once; a byte that is not UTF-8 is reported with the file and line instead of the original's ``UnicodeDecodeError``.
"""

from __future__ import annotations

import itertools
import os
from typing import Iterator, List

from electra_tf.errors import DataError

LINES_PER_BLOCK = 4096  # lines decoded and tokenized together


def list_corpus_files(corpus_dir: str) -> List[str]:
    """File names of ``corpus_dir``, sorted, as the original's ``sorted(listdir)``.

    Unlike the original, sub-folders (which it crashed on) and hidden files (``.DS_Store``-like
    metadata, never text) are left out.
    """
    if not os.path.isdir(corpus_dir):
        raise DataError(f"Corpus folder not found: {corpus_dir}")
    names = sorted(n for n in os.listdir(corpus_dir)
                   if not n.startswith(".") and os.path.isfile(os.path.join(corpus_dir, n)))
    if not names:
        raise DataError(f"{corpus_dir}: no text files in the corpus folder (one sentence per line, a blank line "
                        "between documents).")
    return names


def iter_line_blocks(path: str, lines_per_block: int = LINES_PER_BLOCK) -> Iterator[List[str]]:
    """The lines of a UTF-8 file in lists of up to ``lines_per_block``, each line stripped of its
    ``\\n`` only (callers ``strip()`` as the original does)."""
    try:
        f = open(path, "rb")  # binary lines end at b"\n" only, like GFile's readline
    except OSError as e:
        raise DataError(f"Cannot read {path}: {e.strerror}") from None
    with f:
        first_line = 1
        while True:
            raw = list(itertools.islice(f, lines_per_block))
            if not raw:
                return
            data = b"".join(raw)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                line = first_line + data.count(b"\n", 0, e.start)
                raise DataError(f"{path}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); the corpus must be "
                                "UTF-8.") from None
            if "\r" in text:
                text = text.replace("\r", "")  # as GFile's ReadLine
            lines = text.split("\n")  # a "\n" byte is always the character "\n" in UTF-8
            if raw[-1].endswith(b"\n"):
                lines.pop()  # the empty string after the block's last "\n"
            yield lines
            first_line += len(raw)


def iter_corpus_lines(corpus_dir: str) -> Iterator[List[str]]:
    """Blocks of lines of every corpus file, in listing order (for vocabulary training)."""
    for name in list_corpus_files(corpus_dir):
        yield from iter_line_blocks(os.path.join(corpus_dir, name))
