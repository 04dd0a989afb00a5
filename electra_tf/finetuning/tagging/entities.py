"""Entity spans of a tagged sentence, with character offsets into the text the words came from.

``entities`` is the one Python definition (predict.py's JSON records use it);
``export/serving_decode.entity_spans`` is its in-graph twin (the SavedModel's ``serve_words``),
fed by ``entity_tables``.

An entity is a chunk of the predicted tag sequence as conlleval reads it (``schemes.spans``: an
I- or E- without its B- starts a chunk, a type change ends one), i.e. exactly the chunks that
``schemes.output_tags`` writes in the data's scheme, so the entities and the written tags agree
in every scheme. (One place where the written tags say less: in the ``io`` scheme two adjacent
entities of one type are written as one run of ``I-`` tags; the entities keep them apart, as
the model predicted them.) Token-level tasks (POS tags) have no entities.

Offsets are Python ``str`` indices (code points), end exclusive: ``text[start:end] == entity
text``. ``word_offsets`` gives the words of a line exactly as ``str.split()`` does, with where
each starts; CoNLL-style input (one word per line) has no sentence line, so its text is the
words joined by single spaces (``joined_text``).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

from electra_tf.finetuning.tagging.schemes import OUTPUT_DEFAULTS, spans, split_tag, to_prefix

#: the conlleval prefixes a label may have for its entities to be read in the graph (codes as
#: ``schemes.OUTSIDE`` ... ``schemes.SINGLE``)
_KINDS = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}


def word_offsets(line: str) -> Tuple[List[str], List[int]]:
    """The words of ``line`` as ``line.split()`` gives them, and the index where each starts."""
    words, starts = [], []
    start = None
    for i, ch in enumerate(line + " "):
        if ch.isspace():
            if start is not None:
                words.append(line[start:i])
                starts.append(start)
                start = None
        elif start is None:
            start = i
    return words, starts


def joined_text(words: Sequence[str]) -> Tuple[str, List[int]]:
    """The words joined by single spaces (the text of a CoNLL-style sentence) and where each starts."""
    starts, at = [], 0
    for word in words:
        starts.append(at)
        at += len(word) + 1
    return " ".join(words), starts


def entities(text: str, words: Sequence[str], starts: Sequence[int], tags: Sequence[str]) -> List[Dict]:
    """``{"type", "start", "end", "text"}`` of every chunk of ``tags`` (conlleval's reading,
    ``schemes.spans``; tags of any scheme, also invalid sequences), in order. ``words[i]``
    starts at ``starts[i]`` in ``text``; words beyond the tags (a sentence tagged only in part)
    are ignored."""
    out = []
    for first, last, type_ in spans(list(tags)[:len(words)]):
        start, end = starts[first], starts[last] + len(words[last])
        out.append({"type": type_, "start": start, "end": end, "text": text[start:end]})
    return out


@dataclasses.dataclass(frozen=True)
class EntityTables:
    """``entities`` as lookup tables for the graph (``serving_decode.entity_spans``):
    ``prefix[c]`` is label ``c``'s conlleval prefix as a kind code (O, B, I, E, S = 0..4),
    ``type_id[c]`` its entity type's index in ``types``."""

    prefix: List[int]
    type_id: List[int]
    types: List[str]


def entity_tables(labels: Sequence[str], settings: Dict) -> Optional[EntityTables]:
    """The tables of a model's ``labels`` under its tagging ``settings`` (task.json's section);
    None when its predictions have no entities: a token-level task, or (encoding "keep") a
    label whose prefix is none of O/B/I/E/S, which conlleval would not read as a chunk tag."""
    s = {**OUTPUT_DEFAULTS, **{k: v for k, v in (settings or {}).items() if k in OUTPUT_DEFAULTS}}
    if s["token_level"]:
        return None
    prefix, type_id, types = [], [], {}
    for label in labels:
        kind, type_ = split_tag(to_prefix(label))
        if kind not in _KINDS:
            return None
        prefix.append(_KINDS[kind])
        type_id.append(types.setdefault(type_, len(types)))
    return EntityTables(prefix, type_id, list(types))
