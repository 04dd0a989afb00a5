"""A UTF-8 byte-order mark (as Windows editors write) at the start of any input is ignored."""

import json
import os

from electra_tf.finetuning.builtin_tasks import get_task
from electra_tf.finetuning.hparams import FinetuningConfig
from electra_tf.finetuning.options import TaskOptions
from electra_tf.text.tokenizer import build_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "examples", "data", "models", "electra-tiny", "vocab.txt")
BOM = "\ufeff"


def _write(tmp_path, task, name, text):
    folder = tmp_path / "finetuning_data" / task
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(BOM + text, encoding="utf-8")


def _task(tmp_path, name, task_config=None):
    config = FinetuningConfig("m", str(tmp_path), task_names=[name], task_config=task_config or {})
    return get_task(TaskOptions.from_config(config, name), name, build_tokenizer(VOCAB, True))


def test_csv_header_with_bom_finds_its_first_column(tmp_path):
    _write(tmp_path, "topics", "train.csv", "sentence,label\nthe cat,a\nthe dog,b\n")
    task = _task(tmp_path, "topics", {"topics": {"type": "csv", "text_a": "sentence", "label": "label",
                                                 "files": {"train": "train.csv"}}})
    examples = task.get_examples("train")
    assert [e.fields["text_a"] for e in examples] == ["the cat", "the dog"]


def test_tsv_first_line_has_no_bom(tmp_path):
    _write(tmp_path, "sst", "train.tsv", "sentence\tlabel\nthe cat\t1\nthe dog\t0\n")
    examples = _task(tmp_path, "sst").get_examples("train")
    assert [e.fields["text_a"] for e in examples] == ["the cat", "the dog"]


def test_conll_first_word_and_squad_json_with_bom(tmp_path):
    _write(tmp_path, "conll2003", "train.txt", "EU B-ORG\nrejects O\n\nthe O\n")
    examples = _task(tmp_path, "conll2003").get_examples("train")
    assert examples[0].fields["words"][0] == "EU"
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "the cat sat", "qas": [
        {"id": "q1", "question": "who sat", "answers": [{"text": "the cat", "answer_start": 0}]}]}]}]}
    _write(tmp_path, "squadv1", "train.json", json.dumps(data))
    (example,) = _task(tmp_path, "squadv1").get_examples("train")
    assert (example.fields["qid"], example.fields["question"], example.fields["answer_text"]) == ("q1", "who sat", "the cat")
