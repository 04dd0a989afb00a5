"""Tagging decoding and scoring: per-window predictions (argmax, or Viterbi with a CRF's
parameters) reassembled into sentences; entity P/R/F1, per-type F1 and word accuracy."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from electra_tf.errors import DataError
from electra_tf.finetuning.scoring import Scorer
from electra_tf.finetuning.tagging import schemes
from electra_tf.modeling.crf import viterbi

CrfParams = Tuple[np.ndarray, np.ndarray, np.ndarray]  # (masked) transitions, start, end


def decode_tags(logits: np.ndarray, crf: Optional[CrfParams] = None) -> List[int]:
    """Best label ids of one window's word positions: Viterbi under ``crf``, else argmax."""
    if crf is not None:
        return viterbi(logits, *crf)
    return np.argmax(logits, axis=-1).tolist()


class TaggingScorer(Scorer):
    """Reassembles window predictions into sentences and scores them.

    ``span_extractor`` turns a tag sequence into spans (None: a token-level task, accuracy
    only); ``crf`` holds the trained CRF's parameters as NumPy arrays when the head has one.
    """

    def __init__(self, task_name: str, label_list: Sequence[str], span_extractor: Optional[Callable] = None,
                 crf: Optional[CrfParams] = None):
        self.task_name = task_name
        self.label_list = list(label_list)
        self.span_extractor = span_extractor
        self.crf = crf
        self.words: Dict[int, Dict[int, Tuple[int, int]]] = {}  # eid -> word index -> (pred, gold)
        self.n_words: Dict[int, int] = {}
        self.total_loss = 0.0

    def update_word(self, eid: int, index: int, pred: int, gold: int) -> None:
        self.words.setdefault(eid, {})[index] = (pred, gold)

    def update(self, logits, features, loss: float) -> None:
        """Add one window: its emission ``logits`` and its (unbatched) features."""
        n = self.task_name
        mask = features[f"{n}_labels_mask"]
        valid = int(round(float(np.sum(mask))))
        preds = decode_tags(np.asarray(logits, dtype=np.float32)[:valid], self.crf)
        eid, offset = int(features[f"{n}_eid"]), int(features[f"{n}_word_offset"])
        self.n_words[eid] = int(features[f"{n}_n_words"])
        self.total_loss += float(loss)
        score_mask = features[f"{n}_score_mask"]
        for j in range(valid):  # evaluation features have one position per word
            if score_mask[j] > 0:
                self.update_word(eid, offset + j, int(preds[j]), int(features[f"{n}_labels"][j]))

    def sentences(self) -> Tuple[List[int], List[List[str]], List[List[str]]]:
        eids, golds, preds = [], [], []
        labels = self.label_list
        for eid in sorted(self.n_words):
            words = self.words.get(eid, {})
            n = self.n_words[eid]
            missing = [i for i in range(n) if i not in words]
            if missing:
                raise DataError(f"{self.task_name}: sentence {eid} has no prediction for words {missing[:5]}.")
            eids.append(eid)
            preds.append([labels[words[i][0]] for i in range(n)])
            golds.append([labels[words[i][1]] for i in range(n)])
        return eids, golds, preds

    def get_results(self) -> Dict[str, float]:
        _, golds, preds = self.sentences()
        n = sum(len(g) for g in golds)
        correct = sum(int(a == b) for g, p in zip(golds, preds) for a, b in zip(g, p))
        results: Dict[str, float] = {}
        if self.span_extractor is not None:
            gold_spans = [set(self.span_extractor(g)) for g in golds]
            pred_spans = [set(self.span_extractor(p)) for p in preds]
            results.update(schemes.prf(gold_spans, pred_spans))
            for t, f1 in schemes.per_type_f1(gold_spans, pred_spans).items():
                results[f"f1_{t}"] = f1
        results["accuracy"] = 100.0 * correct / max(n, 1)
        results["loss"] = self.total_loss / max(n, 1)  # per word (the original printed it doubled)
        return results
