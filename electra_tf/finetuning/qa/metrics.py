"""Official extractive-QA metrics, re-implemented for Python 3 and offline use.

* ``squad_v1``: SQuAD v1.1 (exact match and token F1 after lowercasing, removing punctuation and
  the articles a/an/the; max over references; unanswered questions score 0).
* ``squad_v2``: SQuAD v2.0, every key of the official script (HasAns/NoAns splits, and with a
  no-answer probability file the best thresholds) and the null-odds threshold the original
  ELECTRA applies (``qa_na_threshold``).
* ``mrqa``: the MRQA 2019 script (SQuAD normalisation; ``skip_no_answer`` as ELECTRA calls it).
* ``korquad_v1``: KorQuAD 1.0 (extra symbol removal, character-level F1).
* ``cmrc2018`` (also DRCD): HFL's script: mixed segmentation (CJK characters and listed
  punctuation one by one, other runs by an offline re-implementation of NLTK's Treebank word
  tokenizer), LCS-based F1 and EM after punctuation removal, max over references, AVERAGE,
  TOTAL and SKIP. The official script is Python 2 and needs NLTK data downloads.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# ---------------------------------------------------------------------------- SQuAD
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and the articles a/an/the, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _overlap_f1(pred: Sequence[str], gold: Sequence[str]) -> float:
    """F1 of the bag-of-items overlap (tokens for SQuAD, characters for KorQuAD)."""
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    p, r = same / len(pred), same / len(gold)
    return 2 * p * r / (p + r)


def _token_f1(prediction: str, ground_truth: str) -> float:
    return _overlap_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def _exact(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def _questions(dataset: Sequence[Mapping]) -> Iterable[Mapping]:
    for article in dataset:
        for paragraph in article["paragraphs"]:
            yield from paragraph["qas"]


def squad_v1(dataset: Sequence[Mapping], predictions: Mapping[str, str]) -> Dict[str, float]:
    """SQuAD v1.1 exact match and F1 (percentages) of ``predictions`` (question id -> answer) over a SQuAD
    ``dataset``."""
    em = f1 = total = 0.0
    for qa in _questions(dataset):
        total += 1
        if qa["id"] not in predictions:
            continue  # unanswered: scores 0
        golds = [a["text"] for a in qa["answers"]]
        pred = predictions[qa["id"]]
        em += max(_exact(pred, g) for g in golds)
        f1 += max(_token_f1(pred, g) for g in golds)
    return {"exact_match": 100.0 * em / max(total, 1), "f1": 100.0 * f1 / max(total, 1)}


def _v2_scores(gold: str, pred: str) -> Tuple[float, float]:
    g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
    exact = float(normalize_answer(gold) == normalize_answer(pred))
    if not g or not p:
        return exact, float(g == p)
    common = collections.Counter(g) & collections.Counter(p)
    same = sum(common.values())
    if same == 0:
        return exact, 0.0
    prec, rec = same / len(p), same / len(g)
    return exact, 2 * prec * rec / (prec + rec)


def _best_threshold(preds, scores, na_probs, has_answer) -> Tuple[float, float]:
    """Threshold on the no-answer probability that maximises the score (official algorithm)."""
    current = best = sum(1 for q in scores if not has_answer[q])
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            delta = scores[qid]
        else:
            delta = -1 if preds[qid] else 0
        current += delta
        if current > best:
            best, threshold = current, na_probs[qid]
    return 100.0 * best / max(len(scores), 1), threshold


def squad_v2(dataset: Sequence[Mapping], predictions: Mapping[str, str],
             na_probs: Optional[Mapping[str, float]] = None, na_prob_thresh: float = 1.0) -> Dict[str, float]:
    """Every key of the official v2.0 script. A missing prediction counts as wrong (the
    official script would crash on it)."""
    has_answer, exact_raw, f1_raw = {}, {}, {}
    for qa in _questions(dataset):
        qid = qa["id"]
        golds = [a["text"] for a in qa.get("answers", []) if normalize_answer(a["text"])]
        has_answer[qid] = bool(golds)
        if qid not in predictions:
            exact_raw[qid], f1_raw[qid] = 0.0, 0.0
            continue
        golds = golds or [""]
        pairs = [_v2_scores(g, predictions[qid]) for g in golds]
        exact_raw[qid], f1_raw[qid] = max(p[0] for p in pairs), max(p[1] for p in pairs)
    probs = dict(na_probs) if na_probs is not None else {q: 0.0 for q in has_answer}
    probs = {q: probs.get(q, 0.0) for q in has_answer}

    def thresholded(raw):
        return {q: (float(not has_answer[q]) if probs[q] > na_prob_thresh else s) for q, s in raw.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)

    def block(qids):
        n = len(qids)
        return {"exact": 100.0 * sum(exact[q] for q in qids) / max(n, 1),
                "f1": 100.0 * sum(f1[q] for q in qids) / max(n, 1), "total": n}

    out = block(list(has_answer))
    has = [q for q in has_answer if has_answer[q]]
    no = [q for q in has_answer if not has_answer[q]]
    if has:
        out.update({f"HasAns_{k}": v for k, v in block(has).items()})
    if no:
        out.update({f"NoAns_{k}": v for k, v in block(no).items()})
    if na_probs is not None:
        preds = {q: predictions.get(q, "") for q in has_answer}
        out["best_exact"], out["best_exact_thresh"] = _best_threshold(preds, exact_raw, probs, has_answer)
        out["best_f1"], out["best_f1_thresh"] = _best_threshold(preds, f1_raw, probs, has_answer)
    return dict(sorted(out.items()))


def mrqa(answers: Mapping[str, Sequence[str]], predictions: Mapping[str, str], skip_no_answer: bool = True) -> Dict[str, float]:
    """MRQA 2019 exact match and F1 (percentages) of ``predictions`` against each question's gold answers."""
    em = f1 = total = 0.0
    for qid, golds in answers.items():
        if qid not in predictions:
            if not skip_no_answer:
                total += 1
            continue
        total += 1
        em += max(_exact(predictions[qid], g) for g in golds)
        f1 += max(_token_f1(predictions[qid], g) for g in golds)
    return {"exact_match": 100.0 * em / max(total, 1), "f1": 100.0 * f1 / max(total, 1)}


# ---------------------------------------------------------------------------- KorQuAD 1.0
_KORQUAD_SYMBOLS = re.compile("['\"《》<>〈〉()‘’]")


def normalize_korquad(s: str) -> str:
    """KorQuAD 1.0 normalisation: remove its extra symbols, lowercase, drop punctuation, collapse whitespace."""
    s = _KORQUAD_SYMBOLS.sub(" ", s).lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    return " ".join(s.split())


def _char_f1(prediction: str, ground_truth: str) -> float:
    return _overlap_f1(list("".join(normalize_korquad(prediction).split())),
                       list("".join(normalize_korquad(ground_truth).split())))


def korquad_v1(dataset: Sequence[Mapping], predictions: Mapping[str, str]) -> Dict[str, float]:
    """KorQuAD 1.0 exact match and character-level F1 (percentages) over a SQuAD-format ``dataset``."""
    em = f1 = total = 0.0
    for qa in _questions(dataset):
        total += 1
        if qa["id"] not in predictions:
            continue
        golds = [a["text"] for a in qa["answers"]]
        pred = predictions[qa["id"]]
        em += max(float(normalize_korquad(pred) == normalize_korquad(g)) for g in golds)
        f1 += max(_char_f1(pred, g) for g in golds)
    return {"exact_match": 100.0 * em / max(total, 1), "f1": 100.0 * f1 / max(total, 1)}


# ---------------------------------------------------------------------------- CMRC 2018 / DRCD
CMRC_PUNCTUATION = ["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：", "？", "！", "“", "”",
                    "；", "’", "《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～", "『", "』"]
_CJK = re.compile("[\u4e00-\u9fa5]")

# NLTK's TreebankWordTokenizer rules (the part of word_tokenize that matters for answer spans:
# CMRC/DRCD answers are one sentence, so punkt sentence splitting changes nothing).
_TB_STARTING_QUOTES = [(re.compile(r'^"'), "``"), (re.compile(r"(``)"), r" \1 "), (re.compile(r'([ (\[{<])(")'), r"\1 `` ")]
_TB_PUNCTUATION = [
    (re.compile(r"([:,])([^\d])"), r" \1 \2"), (re.compile(r"([:,])$"), r" \1 "), (re.compile(r"\.\.\."), r" ... "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "), (re.compile(r'([^\.])(\.)([\]\)}>"\']*)\s*$'), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "), (re.compile(r"([^'])' "), r"\1 ' "),
]
_TB_PARENS = (re.compile(r"[\]\[\(\)\{\}<>]"), r" \g<0> ")
_TB_DASHES = (re.compile(r"--"), r" -- ")
_TB_ENDING_QUOTES = [(re.compile(r'"'), " '' "), (re.compile(r"(\S)('')"), r"\1 \2 "),
                     (re.compile(r"([^' ])('[sS]|'[mM]|'[dD]|') "), r"\1 \2 "),
                     (re.compile(r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r"\1 \2 ")]
_TB_CONTRACTIONS = [re.compile(p, re.I) for p in (r"(?i)\b(can)(?#X)(not)\b", r"(?i)\b(d)(?#X)('ye)\b", r"(?i)\b(gim)(?#X)(me)\b",
                                                 r"(?i)\b(gon)(?#X)(na)\b", r"(?i)\b(got)(?#X)(ta)\b", r"(?i)\b(lem)(?#X)(me)\b",
                                                 r"(?i)\b(more)(?#X)('n)\b", r"(?i)\b(wan)(?#X)(na)(?=\s)")]


def treebank_word_tokenize(text: str) -> List[str]:
    """An offline stand-in for nltk.word_tokenize (Treebank rules) on one sentence."""
    for regexp, sub in _TB_STARTING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp, sub in _TB_PUNCTUATION:
        text = regexp.sub(sub, text)
    text = _TB_PARENS[0].sub(_TB_PARENS[1], text)
    text = _TB_DASHES[0].sub(_TB_DASHES[1], text)
    text = " " + text + " "
    for regexp, sub in _TB_ENDING_QUOTES:
        text = regexp.sub(sub, text)
    for regexp in _TB_CONTRACTIONS:
        text = regexp.sub(r" \1 \2 ", text)
    return text.split()


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> List[str]:
    """CJK characters and the listed punctuation one by one; other runs word-tokenized."""
    text = str(text).lower().strip()
    out: List[str] = []
    run = ""
    for ch in text:
        if remove_punctuation and ch in CMRC_PUNCTUATION:
            continue
        if _CJK.search(ch) or ch in CMRC_PUNCTUATION:
            if run:
                out.extend(treebank_word_tokenize(run))
                run = ""
            out.append(ch)
        else:
            run += ch
    if run:
        out.extend(treebank_word_tokenize(run))
    return out


def remove_cmrc_punctuation(text: str) -> str:
    """The text lowercased and stripped, without the punctuation the CMRC 2018 script removes."""
    return "".join(ch for ch in str(text).lower().strip() if ch not in CMRC_PUNCTUATION)


def longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common contiguous run (the official find_lcs)."""
    best = 0
    previous = [0] * (len(b) + 1)
    for i in range(len(a)):
        current = [0] * (len(b) + 1)
        for j in range(len(b)):
            if a[i] == b[j]:
                current[j + 1] = previous[j] + 1
                best = max(best, current[j + 1])
        previous = current
    return best


def _cmrc_f1(answers: Sequence[str], prediction: str) -> float:
    scores = []
    pred_segs = mixed_segmentation(prediction, remove_punctuation=True)
    for answer in answers:
        ans_segs = mixed_segmentation(answer, remove_punctuation=True)
        lcs = longest_common_substring(ans_segs, pred_segs)
        if lcs == 0:
            scores.append(0.0)
            continue
        p, r = lcs / len(pred_segs), lcs / len(ans_segs)
        scores.append(2 * p * r / (p + r))
    return max(scores)


def _cmrc_em(answers: Sequence[str], prediction: str) -> float:
    pred = remove_cmrc_punctuation(prediction)
    return float(any(remove_cmrc_punctuation(a) == pred for a in answers))


def cmrc2018(dataset: Sequence[Mapping], predictions: Mapping[str, str]) -> Dict[str, float]:
    """AVERAGE, F1, EM, TOTAL, SKIP as the official CMRC 2018 / DRCD script computes them."""
    f1 = em = 0.0
    total = skip = 0
    for qa in _questions(dataset):
        total += 1
        qid = str(qa["id"]).strip()
        if qid not in predictions:
            skip += 1
            continue
        answers = [a["text"] for a in qa["answers"]]
        prediction = str(predictions[qid])
        f1 += _cmrc_f1(answers, prediction)
        em += _cmrc_em(answers, prediction)
    f1_score = 100.0 * f1 / max(total, 1)
    em_score = 100.0 * em / max(total, 1)
    return {"AVERAGE": (em_score + f1_score) * 0.5, "F1": f1_score, "EM": em_score, "TOTAL": total, "SKIP": skip}
