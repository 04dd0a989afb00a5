"""QAScorer: collects model outputs per feature eid, then decodes and scores the questions."""

from __future__ import annotations

from typing import Callable, Dict, List

import numpy as np

from electra_tf.finetuning.qa import metrics as qa_metrics
from electra_tf.finetuning.qa.decoding import QADecoder, QAPredictions
from electra_tf.finetuning.qa.settings import DEFAULTS as QA
from electra_tf.finetuning.scoring import Scorer
from electra_tf.finetuning.task import Example


def score_predictions(metric: str, examples: List[Example], predictions: QAPredictions,
                      na_threshold: float = QA.qa_na_threshold) -> Dict[str, float]:
    """The official metric ``metric`` (squad, squad2, mrqa, korquad, cmrc2018) of the predictions."""
    if metric == "mrqa":
        answers = {e.fields["qid"]: e.fields["gold_answers"] for e in examples}
        return qa_metrics.mrqa(answers, predictions.predictions, skip_no_answer=True)
    dataset = [{"paragraphs": [{"qas": [{"id": e.fields["qid"], "answers": [{"text": t} for t in e.fields["gold_answers"]]}
                                        for e in examples]}]}]
    if metric == "squad2":
        return qa_metrics.squad_v2(dataset, predictions.predictions, predictions.null_odds, na_threshold)
    if metric == "korquad":
        return qa_metrics.korquad_v1(dataset, predictions.predictions)
    if metric == "cmrc2018":
        return qa_metrics.cmrc2018(dataset, predictions.predictions)
    return qa_metrics.squad_v1(dataset, predictions.predictions)


class QAScorer(Scorer):
    """Results per feature eid; on ``get_results`` the questions are decoded (``decoder``) over
    ``examples`` and their evaluation features (``eval_features()``, computed then) and scored
    with ``metric`` (None: no gold answers, decode only)."""

    def __init__(self, decoder: QADecoder, examples: List[Example], eval_features: Callable[[], List[Dict]],
                 metric: str = None, na_threshold: float = QA.qa_na_threshold):
        self.decoder = decoder
        self.examples = examples
        self.eval_features = eval_features
        self.metric = metric
        self.na_threshold = na_threshold
        self.results: Dict[int, Dict[str, np.ndarray]] = {}
        self.total_loss = 0.0
        self.decoded: QAPredictions = None
        self._results_cache = None

    def update(self, outputs, eid: int, loss: float) -> None:
        self.results[eid] = outputs
        self.total_loss += loss

    def decode(self) -> QAPredictions:
        if self.decoded is None:
            self.decoded = self.decoder.decode(self.examples, self.eval_features(), self.results)
        return self.decoded

    @property
    def predictions(self) -> Dict[str, str]:
        return self.decode().predictions

    @property
    def null_odds(self) -> Dict[str, float]:
        return self.decode().null_odds

    @property
    def nbest(self) -> Dict[str, list]:
        return self.decode().nbest

    def get_results(self) -> Dict[str, float]:
        if self._results_cache is None:
            results = score_predictions(self.metric, self.examples, self.decode(), self.na_threshold) if self.metric else {}
            results["loss"] = self.total_loss / max(len(self.results), 1)
            self._results_cache = results
        return dict(self._results_cache)
