"""Tag schemes, spans and the metrics built on them.

* ``original_spans``: the original's ``get_span_labels`` (``finetune/tagging/tagging_utils.py``),
  used for the ``chunk`` task's span F1 exactly as the original computes it. On ill-formed
  sequences it differs from conlleval (an ``I-Y`` right after ``I-X`` continues the span).
* ``spans``: conlleval / seqeval's default-mode chunking (any scheme), the number NER papers
  report. ``strict_spans``: seqeval's strict mode (only well-formed chunks of the scheme count).
* ``tags_from_spans``: the original's ``get_tags`` (IOB2, BIOES or IO encodings).

Suffix tags (Naver NER's ``PER-B``) are normalised to prefix form (``B-PER``) first.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Set, Tuple

from electra_tf.finetuning.tagging.settings import TaggingSettings

Span = Tuple[int, int, str]  # (start, end inclusive, type)
SCHEMES = ("iob1", "iob2", "bioes", "suffix", "io")


def to_prefix(tag: str) -> str:
    """'PER-B' -> 'B-PER' (suffix form); prefix tags and 'O' are returned unchanged."""
    if tag == "O" or len(tag) < 2:
        return tag
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESO":
        return tag
    if tag[-2] == "-" and tag[-1] in "BIES":
        return f"{tag[-1]}-{tag[:-2]}"
    return tag


def split_tag(tag: str) -> Tuple[str, str]:
    """(prefix, entity type) of a tag: ("O", "") for O, ("B", "PER") for B-PER, ("I", tag) for a bare type (IO
    data)."""
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[1] == "-":
        return tag[0], tag[2:]
    return "I", tag  # a bare type (IO-style data)


def spans(tags: Sequence[str]) -> List[Span]:
    """conlleval chunking (seqeval's default mode): lenient about ill-formed sequences."""
    out: List[Span] = []
    prev_prefix, prev_type, start = "O", "", None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = split_tag(to_prefix(tag))
        end_chunk = (
            prev_prefix in ("E", "S")
            or (prev_prefix in ("B", "I") and prefix in ("B", "S", "O"))
            or (prev_prefix != "O" and prefix in ("I", "E") and type_ != prev_type)
        )
        begin_chunk = (
            prefix in ("B", "S")
            or (prev_prefix in ("E", "S", "O") and prefix in ("I", "E"))
            or (prefix in ("I", "E") and type_ != prev_type)
        )
        if end_chunk and start is not None:
            out.append((start, i - 1, prev_type))
            start = None
        if begin_chunk and prefix != "O":
            start = i
        prev_prefix, prev_type = prefix, type_
    return out


def strict_spans(tags: Sequence[str], scheme: str) -> List[Span]:
    """Only chunks that are well formed in ``scheme`` (seqeval's strict mode)."""
    tags = [to_prefix(t) for t in tags]
    out: List[Span] = []
    i, n = 0, len(tags)
    while i < n:
        prefix, type_ = split_tag(tags[i])
        if scheme == "bioes":
            if prefix == "S":
                out.append((i, i, type_))
            elif prefix == "B":
                j = i + 1
                while j < n and split_tag(tags[j]) == ("I", type_):
                    j += 1
                if j < n and split_tag(tags[j]) == ("E", type_):
                    out.append((i, j, type_))
                    i = j
        elif prefix == "B":  # iob2
            j = i + 1
            while j < n and split_tag(tags[j]) == ("I", type_):
                j += 1
            out.append((i, j - 1, type_))
            i = j - 1
        i += 1
    return out


def original_spans(tags: Sequence[str]) -> List[Span]:
    """The original get_span_labels, verbatim in behaviour (types must not contain '-')."""
    result: List[Span] = []
    last, start = "O", -1
    for i, tag in enumerate(tags):
        pos = None if tag == "O" else tag.split("-")[0]
        if (pos in ("S", "B") or tag == "O") and last != "O":
            result.append((start, i - 1, last.split("-")[-1]))
        if pos in ("B", "S") or last == "O":
            start = i
        last = tag
    if tags and tags[-1] != "O":
        result.append((start, len(tags) - 1, tags[-1].split("-")[-1]))
    return result


def tags_from_spans(span_list: Sequence[Span], length: int, encoding: str) -> List[str]:
    """The original get_tags: 'BIOES', 'BIO' (IOB2) or 'IO'."""
    tags = ["O"] * length
    for s, e, t in span_list:
        for i in range(s, e + 1):
            tags[i] = "I-" + t
        if "E" in encoding:
            tags[e] = "E-" + t
        if "B" in encoding:
            tags[s] = "B-" + t
        if "S" in encoding and s == e:
            tags[s] = "S-" + t
    return tags


def convert(tags: Sequence[str], encoding: str) -> List[str]:
    """Re-encode a tag sequence (any scheme) through its conlleval spans."""
    return tags_from_spans(spans(tags), len(tags), encoding)


def prf(gold: Sequence[Set[Span]], pred: Sequence[Set[Span]]) -> Dict[str, float]:
    """Micro precision/recall/F1 (x100) over per-sentence span sets, as EntityLevelF1Scorer."""
    n_correct = sum(len(g & p) for g, p in zip(gold, pred))
    n_gold = sum(len(g) for g in gold)
    n_pred = sum(len(p) for p in pred)
    if n_correct == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    p, r = 100.0 * n_correct / n_pred, 100.0 * n_correct / n_gold
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r)}


def per_type_f1(gold: Sequence[Set[Span]], pred: Sequence[Set[Span]]) -> Dict[str, float]:
    """Span F1 of each entity type found in ``gold`` or ``pred``."""
    types = sorted({s[2] for g in gold for s in g} | {s[2] for p in pred for s in p})
    out = {}
    for t in types:
        g = [{s for s in x if s[2] == t} for x in gold]
        p = [{s for s in x if s[2] == t} for x in pred]
        out[t] = prf(g, p)["f1"]
    return out


def allowed_transitions(labels: Sequence[str], encoding: str):
    """(start_ok [C], end_ok [C], trans_ok [C, C]) boolean lists for constrained decoding."""
    parsed = [split_tag(to_prefix(l)) for l in labels]
    n = len(labels)

    def can_follow(prev, cur) -> bool:
        (pp, pt), (cp, ct) = prev, cur
        if encoding.upper() == "BIOES":
            if pp in ("B", "I"):
                return cp in ("I", "E") and ct == pt
            return cp in ("O", "B", "S")
        if encoding.upper() in ("BIO", "IOB2"):
            if cp == "I":
                return pp in ("B", "I") and pt == ct
            return True
        return True

    start_ok = [p[0] in ("O", "B", "S") if encoding.upper() in ("BIOES", "BIO", "IOB2") else True for p in parsed]
    end_ok = [p[0] in ("O", "E", "S") if encoding.upper() == "BIOES" else True for p in parsed]
    trans_ok = [[can_follow(parsed[i], parsed[j]) for j in range(n)] for i in range(n)]
    return start_ok, end_ok, trans_ok


def write_spans(span_list: Sequence[Span], length: int, scheme: str) -> List[str]:
    """Spans written as tags of the data's ``scheme`` (iob1 data is written as IOB2)."""
    if scheme == "bioes":
        return tags_from_spans(span_list, length, "BIOES")
    if scheme == "io":
        return tags_from_spans(span_list, length, "IO")
    out = tags_from_spans(span_list, length, "BIO")
    if scheme == "suffix":
        out = [t if t == "O" else f"{t[2:]}-{t[0]}" for t in out]
    return out


def to_input_scheme(tags: List[str], scheme: str, encoding: str, token_level: bool = False) -> List[str]:
    """Tags predicted in the training ``encoding`` written back in the data's ``scheme`` (iob1
    data is written as IOB2); token-level tasks and encoding "keep" are returned as they are.

    The predicted sequence is read as conlleval reads it (``spans``), which repairs invalid
    sequences (an I- or E- without its B- starts a chunk, a type change ends one), and its
    chunks are written in the data's scheme. ``serving_decode.scheme_tags`` is the in-graph twin.
    """
    if token_level or encoding == "keep":
        return list(tags)
    return write_spans(spans(tags), len(tags), scheme)


# ------------------------------------------------------------------ one decoder for every consumer
#: the metadata settings (task.json's tagging section) that choose how predictions are written,
#: with the defaults of a model directory that has none
OUTPUT_DEFAULTS = {name: TaggingSettings.default(name) for name in ("scheme", "encoding", "token_level")}


def output_tags(tags: Sequence[str], settings: Dict) -> List[str]:
    """Predicted tags (label strings of the training encoding) as predict.py and the SavedModel's
    ``serve_words`` write them: ``to_input_scheme`` under a model directory's tagging
    ``settings`` (its task.json section; missing keys take ``OUTPUT_DEFAULTS``)."""
    s = {**OUTPUT_DEFAULTS, **{k: v for k, v in (settings or {}).items() if k in OUTPUT_DEFAULTS}}
    return to_input_scheme(list(tags), s["scheme"], s["encoding"], bool(s["token_level"]))


#: position kinds of a word in the repaired chunks (columns of ``OutputTables.written``)
OUTSIDE, BEGIN, INSIDE, END, SINGLE = range(5)
_PREFIX_CODES = {"O": OUTSIDE, "B": BEGIN, "I": INSIDE, "E": END, "S": SINGLE}


@dataclasses.dataclass(frozen=True)
class OutputTables:
    """``output_tags`` as lookup tables, for the in-graph decoder (``serving_decode.scheme_tags``).

    ``prefix[c]``: the conlleval prefix of label ``c`` as a position kind (O, B, I, E, S);
    ``type_id[c]``: its entity type's row in ``written``; ``written[t][k]``: what a word of type
    ``t`` at position kind ``k`` of a chunk is written as in the data's scheme (derived from
    ``write_spans`` itself, so the two cannot drift apart).
    """

    prefix: List[int]
    type_id: List[int]
    written: List[List[str]]


def output_tables(labels: Sequence[str], settings: Dict) -> Optional[OutputTables]:
    """The tables of ``output_tags`` for a model's ``labels``; None when tags are written as
    predicted (token-level tasks, encoding "keep"). A label whose prefix is none of O/B/I/E/S
    (never produced by training's encodings; a hand-edited task.json) is a ConfigError."""
    from electra_tf.errors import ConfigError

    s = {**OUTPUT_DEFAULTS, **{k: v for k, v in (settings or {}).items() if k in OUTPUT_DEFAULTS}}
    if s["token_level"] or s["encoding"] == "keep":
        return None
    prefixes, type_ids, types = [], [], {}
    for label in labels:
        prefix, type_ = split_tag(to_prefix(label))
        if prefix not in _PREFIX_CODES:
            raise ConfigError(f"tagging label {label!r}: prefix {prefix!r} is not one of O, B, I, E, S, so its chunks "
                              f"cannot be re-encoded in the data's scheme {s['scheme']!r}; fix the labels in task.json.")
        prefixes.append(_PREFIX_CODES[prefix])
        type_ids.append(types.setdefault(type_, len(types)))
    written = []
    for type_ in types:
        b, i, e = write_spans([(0, 2, type_)], 3, s["scheme"])
        written.append(["O", b, i, e, write_spans([(0, 0, type_)], 1, s["scheme"])[0]])
    return OutputTables(prefixes, type_ids, written)
