"""Decoding QA model outputs into answer texts, as the original's write_predictions.

Joint beam (the original head's ``joint_prediction``) or n-best starts/ends, the same filters,
n-best of unique texts, and v2 null odds (from the answerable classifier when the head has one).
Predicted spans are mapped back to the context through character offsets; ``answer_mode
"original"`` keeps the original's re-tokenize-and-align, which fell back to the *whole*
whitespace token (for Chinese, the whole paragraph) when the tokenizer had dropped or changed
characters (zero-width, full-width or no-break spaces).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Dict, List

import numpy as np

from electra_tf.errors import DataError
from electra_tf.finetuning.task import Example
from electra_tf.finetuning.qa.settings import DEFAULTS as QA


@dataclasses.dataclass
class QAPredictions:
    """Best answer text, null odds (v2) and n-best list per question id."""

    predictions: Dict[str, str] = dataclasses.field(default_factory=dict)
    null_odds: Dict[str, float] = dataclasses.field(default_factory=dict)
    nbest: Dict[str, list] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class QADecoder:
    """Decoding settings: the head's options (``joint_prediction``, ``answerable``) are passed
    in (from the hparams, or a saved model's head_options), not read from a layer."""

    task_name: str
    n_best_size: int = QA.n_best_size
    max_answer_length: int = QA.max_answer_length
    v2: bool = False
    joint_prediction: bool = False
    answerable: bool = False
    answer_mode: str = QA.answer_mode
    do_lower_case: bool = True

    @classmethod
    def for_head(cls, task_name: str, head: str, head_options: Dict, **settings) -> "QADecoder":
        """The decoder of a QA head of type ``head`` ("electra" or "hf") with ``head_options``."""
        from electra_tf.modeling.heads import QA_HEAD_DEFAULTS

        options = {**QA_HEAD_DEFAULTS, **dict(head_options or {})}
        original = head == "electra"
        return cls(task_name, joint_prediction=original and bool(options["joint_prediction"]),
                   answerable=original and bool(options["answerable_classifier"]), **settings)

    @staticmethod
    def _best_indexes(logits, n):
        return [i for i, _ in sorted(enumerate(logits), key=lambda x: x[1], reverse=True)[:n]]

    def decode(self, examples: List[Example], features: List[Dict], results: Dict[int, Dict[str, np.ndarray]]) -> QAPredictions:
        """The original write_predictions: candidates, filters, n-best, null odds.

        ``features`` are the examples' evaluation features (``featurize(..., for_eval=True)``),
        ``results`` the model outputs per feature eid.
        """
        c = self
        joint, answerable = self.joint_prediction, self.answerable
        out = QAPredictions()
        by_example = collections.defaultdict(list)
        for f in features:
            by_example[f["example"].eid].append(f)
        for ex in examples:
            qid = ex.fields["qid"]
            candidates = []
            score_null = 1000000.0
            windows = by_example[ex.eid]
            for fi, feature in enumerate(windows):
                result = results.get(feature[f"{self.task_name}_eid"])
                if result is None:
                    raise DataError(f"{self.task_name}: no model output for question {qid} window {fi} (eid {feature[f'{self.task_name}_eid']}).")
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
                text = self.span_text(windows[fi], ex, s, e)
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
            out.nbest[qid] = nbest
            if self.v2:
                diff = score_null if answerable else score_null - best["start_logit"] - best["end_logit"]
                out.null_odds[qid] = float(diff)
                out.predictions[qid] = best["text"]
            else:
                out.predictions[qid] = nbest[0]["text"]
        return out

    def span_text(self, feature, ex: Example, s: int, e: int) -> str:
        if self.answer_mode == "original":
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
        basic = " ".join(basic_tokenize(orig_text, self.do_lower_case))
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
