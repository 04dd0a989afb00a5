"""The registered QA tasks: SQuAD 2.0 / 1.1, MRQA, CMRC 2018, DRCD and KorQuAD 1.0."""

from __future__ import annotations

from electra_tf.finetuning.qa.task import QATask
from electra_tf.finetuning.registry import register


def _register(name, files, fmt="squad", v2=False, metric="squad", test_splits=()):
    register(name, lambda options, task_name, tokenizer: QATask(options, task_name, tokenizer, files, fmt, v2, metric,
                                                                test_splits))


_register("squad", {"train": ["train-v2.0.json"], "dev": ["dev-v2.0.json"]}, v2=True, metric="squad2", test_splits=("test",))
_register("squadv1", {"train": ["train-v1.1.json"], "dev": ["dev-v1.1.json"]}, metric="squad")
for _mrqa in ("newsqa", "naturalqs", "triviaqa", "searchqa"):
    _register(_mrqa, {}, fmt="mrqa", metric="mrqa")
_register("cmrc2018", {"train": ["cmrc2018_train.json"], "dev": ["cmrc2018_dev.json"], "eval": ["cmrc2018_test.json", "test.json"],
                       "test": ["cmrc2018_test.json"]}, metric="cmrc2018")
_register("drcd", {"train": ["DRCD_training.json"], "dev": ["DRCD_dev.json"], "eval": ["DRCD_test.json", "test.json"],
                   "test": ["DRCD_test.json"]}, metric="cmrc2018")
_register("korquad", {"train": ["KorQuAD_v1.0_train.json"], "dev": ["KorQuAD_v1.0_dev.json"]}, metric="korquad")
