"""Bad input: one clear message and exit code 2, and nothing previously written lost or changed.

Also a property test: random bytes and random malformed records fed to every reader raise only
electra-tf's own errors (never an unhandled exception).
"""

import hashlib
import json
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, copy_tiny_model

import run_finetuning
from electra_tf.errors import ElectraError

MODEL = "electra-tiny"
BASE = {"train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 24, "num_train_epochs": 1, "seed": 2,
        "log_every_steps": 1000}


def _snapshot(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[path] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A data dir with one finished sst run whose outputs must survive every bad run."""
    root = tmp_path_factory.mktemp("bad")
    copy_tiny_model(root)
    shutil.copytree(os.path.join(ROOT, "examples", "data", "finetuning_data", "sst"), root / "finetuning_data" / "sst")
    assert run_finetuning.main(["--data-dir", str(root), "--model-name", MODEL, "--hparams",
                                json.dumps({**BASE, "task_names": ["sst"]})]) == 0
    return root


def _write(path, content, binary=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
        f.write(content)


def _squad(context, text, start):
    return json.dumps({"data": [{"paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "what", "answers": [{"text": text, "answer_start": start}]}]}]}]})


def setup_missing_task_folder(root):
    return {"task_names": ["rte"]}, "data folder"


def setup_empty_file(root):
    _write(root / "finetuning_data" / "cola" / "train.tsv", "")
    return {"task_names": ["cola"]}, "the file is empty"


def setup_malformed_json(root):
    _write(root / "finetuning_data" / "squadv1" / "train.json", '{"data": [ {"paragraphs": ]}')
    return {"task_names": ["squadv1"]}, "not valid JSON (line 1"


def setup_wrong_column_count(root):
    _write(root / "finetuning_data" / "mrpc" / "train.tsv", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t2\t3\tonly three\n")
    return {"task_names": ["mrpc"]}, "train.tsv, line 2: expected at least 5 tab-separated columns, found 4"


def setup_malformed_conll(root):
    _write(root / "finetuning_data" / "chunk" / "train.txt", "good B-NP\nmovie\n")
    return {"task_names": ["chunk"]}, "train.txt, line 2: expected a word and a tag column"


def setup_label_outside_list(root):
    _write(root / "finetuning_data" / "qnli" / "train.tsv", "index\tq\ts\tlabel\n0\ta\tb\tmaybe\n")
    return {"task_names": ["qnli"]}, "train.tsv, line 2: label 'maybe' is not in the label list"


def setup_answer_not_in_context(root):
    _write(root / "finetuning_data" / "drcd" / "train.json", _squad("the movie was good", "excellent", 4))
    return {"task_names": ["drcd"]}, "the answer 'excellent' of question 'q1' does not occur in its context"


def setup_non_utf8(root):
    _write(root / "finetuning_data" / "sts" / "train.tsv", b"index\tgenre\n\xff\xfe bad bytes\n", binary=True)
    return {"task_names": ["sts"]}, "is not valid UTF-8"


def setup_too_long_for_positions(root):
    return {"task_names": ["sst"], "max_seq_length": 200}, "exceeds the model's 128 position embeddings"


def setup_vocab_too_big(root):
    vocab = root / "big_vocab.txt"
    _write(vocab, "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"w{i}" for i in range(200)]) + "\n")
    return {"task_names": ["sst"], "vocab_file": str(vocab)}, "has 204 tokens but the model's vocab_size is 81"


def setup_bad_task_name(root):
    return {"task_names": ["my_task"]}, "use '-' instead"


def setup_unknown_task(root):
    return {"task_names": ["sst2x"]}, "Unknown task 'sst2x'"


CASES = [setup_missing_task_folder, setup_empty_file, setup_malformed_json, setup_wrong_column_count, setup_malformed_conll,
         setup_label_outside_list, setup_answer_not_in_context, setup_non_utf8, setup_too_long_for_positions,
         setup_vocab_too_big, setup_bad_task_name, setup_unknown_task]


@pytest.mark.parametrize("setup", CASES, ids=[c.__name__[len("setup_"):] for c in CASES])
def test_bad_input_gives_one_clear_error_and_loses_nothing(workspace, setup, capsys):
    before = _snapshot(workspace / "models" / MODEL)
    hparams, message = setup(workspace)
    code = run_finetuning.main(["--data-dir", str(workspace), "--model-name", MODEL, "--hparams", json.dumps({**BASE, **hparams})])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err and err[-1].startswith("error: ") and message in err[-1], err[-3:]
    after = _snapshot(workspace / "models" / MODEL)
    assert {p: h for p, h in after.items() if p in before} == before  # nothing written before changed or vanished


def test_missing_model_and_corrupt_checkpoint(tmp_path, capsys):
    shutil.copytree(os.path.join(ROOT, "examples", "data", "finetuning_data", "sst"), tmp_path / "finetuning_data" / "sst")
    (tmp_path / "vocab.txt").write_text(open(os.path.join(ROOT, "examples", "data", "models", MODEL, "vocab.txt")).read())
    code = run_finetuning.main(["--data-dir", str(tmp_path), "--model-name", "nothere", "--hparams", json.dumps({**BASE, "task_names": ["sst"]})])
    assert code == 2 and "Pre-trained model not found" in capsys.readouterr().err
    copy_tiny_model(tmp_path)
    data = tmp_path / "models" / MODEL / "model.ckpt.data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 3)
    code = run_finetuning.main(["--data-dir", str(tmp_path), "--model-name", MODEL, "--hparams", json.dumps({**BASE, "task_names": ["sst"]})])
    assert code == 2 and "corrupt or truncated" in capsys.readouterr().err.strip().splitlines()[-1]


def test_existing_finished_model_is_reused_not_deleted(workspace):
    model_dir = workspace / "models" / MODEL / "finetuning_models" / "sst_model_1"
    before = _snapshot(model_dir)
    assert run_finetuning.main(["--data-dir", str(workspace), "--model-name", MODEL, "--hparams",
                                json.dumps({**BASE, "task_names": ["sst"]})]) == 0
    after = _snapshot(model_dir)
    assert {p: h for p, h in after.items() if "/ckpt-" in p} == {p: h for p, h in before.items() if "/ckpt-" in p}


# ---------------------------------------------------------------------------- fuzzing the readers
def _reader_config(tmp, task, **extra):
    from electra_tf.finetuning.hparams import FinetuningConfig

    return FinetuningConfig(MODEL, str(tmp), task_names=[task], vocab_file=os.path.join(ROOT, "examples", "data", "models", MODEL, "vocab.txt"),
                            max_seq_length=24, **extra)


def _read(tmp, task, filename, content, **extra):
    from electra_tf.finetuning.builtin_tasks import get_task
    from electra_tf.finetuning.options import TaskOptions
    from electra_tf.text.tokenizer import FullTokenizer

    folder = tmp / "finetuning_data" / task
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / filename).write_bytes(content)
    config = _reader_config(tmp, task, **extra)
    try:
        task_obj = get_task(TaskOptions.from_config(config, task), task, FullTokenizer(config.vocab_file))  # may read the data (label lists)
        examples = task_obj.get_examples("train")
        task_obj.featurize(examples, is_training=True)
    except ElectraError:
        pass


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                       lambda children: st.lists(children, max_size=3) | st.dictionaries(
                           st.sampled_from(["data", "paragraphs", "context", "qas", "id", "question", "answers", "text",
                                            "answer_start", "is_impossible", "qid", "detected_answers", "char_spans"]),
                           children, max_size=4), max_leaves=12)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(content=st.binary(max_size=200))
def test_fuzz_tsv_conll_and_naver_readers_with_random_bytes(tmp_path, content):
    _read(tmp_path, "sst", "train.tsv", content)
    _read(tmp_path, "chunk", "train.txt", content)
    _read(tmp_path, "naver-ner", "train.tsv", content)


@FUZZ
@given(rows=st.lists(st.lists(st.text(alphabet=st.sampled_from(list("ab \t01-BIO\u3000中")), max_size=6), max_size=5), max_size=6))
def test_fuzz_malformed_records(tmp_path, rows):
    text = "\n".join("\t".join(r) for r in rows).encode("utf-8")
    _read(tmp_path, "mrpc", "train.tsv", text)
    _read(tmp_path, "chunk", "train.txt", text.replace(b"\t", b" "))
    _read(tmp_path, "topics", "train.csv", text.replace(b"\t", b","), task_config={
        "topics": {"type": "csv", "problem": "multi_label", "text_a": 0, "label": 1, "header": False}})


@FUZZ
@given(record=JSONISH)
def test_fuzz_qa_readers_with_random_json(tmp_path, record):
    payload = json.dumps(record).encode("utf-8")
    _read(tmp_path, "squad", "train.json", payload)
    _read(tmp_path, "newsqa", "train.jsonl", payload + b"\n" + payload)


@FUZZ
@given(content=st.binary(max_size=120) | JSONISH.map(lambda r: json.dumps(r).encode("utf-8")))
def test_fuzz_config_and_hparams(tmp_path, content):
    from electra_tf.config import ElectraConfig
    from electra_tf.cli.hparams import parse_hparams
    from electra_tf.finetuning.hparams import FinetuningConfig

    path = tmp_path / "config.json"
    path.write_bytes(content)
    try:
        ElectraConfig.from_json_file(str(path))
    except ElectraError:
        pass
    try:
        FinetuningConfig("m", str(tmp_path), **parse_hparams(str(path)))
    except ElectraError:
        pass
