"""The registered tagging tasks (CoNLL-2000 chunking, CoNLL-2003 NER, Naver NER) and the generic
``task_config`` type "tagging"."""

from __future__ import annotations

from electra_tf.finetuning.registry import register, register_type
from electra_tf.finetuning.tagging.reader import TaggingSpec
from electra_tf.finetuning.tagging.task import TaggingTask, build_generic_tagging_task

CONLL2000_FILES = {"train": ["train.txt"], "dev": ["dev.txt"], "test": ["test.txt"]}
NAVER_LABELS = ["O"] + [f"{t}-{p}" for t in ("PER", "FLD", "AFW", "ORG", "LOC", "CVL", "DAT", "TIM", "NUM", "EVT",
                                             "ANM", "PLT", "MAT", "TRM") for p in ("B", "I")]


def _register(name: str, spec_factory):
    def factory(options, task_name, tokenizer):
        return TaggingTask(options, task_name, tokenizer, spec_factory(), options.task_config)

    register(name, factory)


# The original chunking task: CoNLL-2000, BIOES, the original's span F1 (reported on test).
_register("chunk", lambda: TaggingSpec(CONLL2000_FILES, scheme="iob2", metric="original"))
# CoNLL-2003 NER (word POS chunk NER columns; IOB1 or IOB2 tags both read correctly).
_register("conll2003", lambda: TaggingSpec(
    {"train": ["train.txt", "eng.train"], "dev": ["dev.txt", "valid.txt", "eng.testa"], "test": ["test.txt", "eng.testb"]},
    scheme="iob1"))
# Naver NER as distributed with KoELECTRA: one sentence per line, suffix tags (PER-B).
_register("naver-ner", lambda: TaggingSpec(
    {"train": ["train.tsv"], "dev": ["dev.tsv", "test.tsv"], "test": ["test.tsv"]}, fmt="naver", scheme="suffix",
    labels=list(NAVER_LABELS), test_splits=()))
register_type("tagging", build_generic_tagging_task)
