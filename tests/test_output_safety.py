"""Where the commands that write may write (issue #24 items 1, 2, 4 and 11; electra_tf/utils/output_targets.py).

Run as a user runs them, on real files, links, FIFOs and /dev/null: no command writes over what
it reads or over a folder it did not write, a symlink stays a link (its target is written), a
device stays a device, ``-`` is standard output, and every refusal is one ``error:`` line with
the user's files byte-identical afterwards. Refusals happen before TensorFlow starts, so their
subprocesses are cheap; the runs that do the work are in-process where the command is the same.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import threading

import keras
import pytest

import electra_tf as et
from electra_tf.checkpoints.hf import write_tokenizer_files
from tests.conftest import ROOT
from tests.test_write_failures import assert_clean_failure, limited_run, temporary_files, tree

VOCAB = f"{ROOT}/examples/data/models/electra-tiny/vocab.txt"
TINY_TF1 = f"{ROOT}/examples/data/models/electra-tiny"
CORPUS = f"{ROOT}/examples/pretraining_corpus"
SHORT = ["--max-seq-length", "16"]


def _config(**changes):
    return et.ElectraConfig(vocab_size=81, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, **changes)


def _env():
    """A user's shell: none of the test run's logging settings."""
    return {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ELECTRA_TF_VERBOSE", "PYTHONPATH")}


def run(*args, **kwargs):
    return subprocess.run([sys.executable, *args], capture_output=True, cwd=ROOT, timeout=300, env=_env(), **kwargs)


def one_error_line(done, *parts):
    """The run failed with exit code 2 and its whole stderr is one ``error:`` line holding ``parts``."""
    err = done.stderr.decode() if isinstance(done.stderr, bytes) else done.stderr
    lines = [line for line in err.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with a classifier and a QA model directory (Keras format, with vocab.txt), an
    input file, a user's folder with notes, and a copy of the shipped pre-training corpus."""
    root = tmp_path_factory.mktemp("outputs")
    keras.utils.set_random_seed(0)
    for name, model in (("cls", et.TFElectraForSequenceClassification(
            _config(num_labels=2, id2label={0: "neg", 1: "pos"}, head="electra"))),
            ("qa", et.TFElectraForQuestionAnswering(_config(head="electra", head_options={"beam_size": 4})))):
        model.build_with_dummy_inputs().save_pretrained(str(root / name), format="keras")
        write_tokenizer_files(str(root / name), VOCAB, do_lower_case=True)
    (root / "in.txt").write_text("the movie was good\nbad film\tgood plot\n", encoding="utf-8")
    squad = {"data": [{"paragraphs": [{"context": "the movie was good and the acting was great",
                                       "qas": [{"id": "q1", "question": "what was good"}]}]}]}
    (root / "in.json").write_text(json.dumps(squad), encoding="utf-8")
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("a user's notes\n")
    shutil.copytree(CORPUS, root / "corpus")
    return root


# ------------------------------------------------------------------ item 1: export


def test_export_never_writes_over_its_model_or_a_folder_it_did_not_write(work, tmp_path):
    model = work / "cls"
    before, mine = tree(model), tree(work / "mine")
    export = ["-m", "electra_tf.cli.export", "--model", str(model), "--output"]
    one_error_line(run(*export, str(model)), "is the --model directory")  # the README's line without --format
    one_error_line(run(*export, str(work)), "holds the --model directory")  # replacing it would delete the model
    one_error_line(run(*export, str(model / "config.json"), "--format", "onnx"), "a file of the --model directory")
    one_error_line(run(*export, str(work / "mine")), "holds other files (e.g. notes.txt)", "--overwrite")
    other_model = tmp_path / "other_model"
    shutil.copytree(model, other_model)
    # --overwrite allows replacing a user's folder, but never a model directory
    one_error_line(run(*export, str(other_model), "--overwrite"), "is a model directory", "even with --overwrite")
    assert tree(model) == before and tree(work / "mine") == mine and tree(other_model) == before

    # A symlink to a folder is followed (the link stays a link); an earlier export is ours to replace.
    from electra_tf.cli import export as export_command

    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    for _ in range(2):
        assert export_command.main(["--model", str(model), "--output", str(tmp_path / "link")] + SHORT) == 0
        assert os.path.islink(tmp_path / "link") and (tmp_path / "real" / "saved_model.pb").is_file()
    assert tree(model) == before


def test_export_onnx_to_stdout_is_quiet_and_names_its_dimensions(work):
    """`--format onnx --output -`: the model on stdout, the summary (and nothing of TensorFlow's
    start-up, such as the cuInit line) on stderr; the graph's dynamic axes are batch/sequence."""
    import onnx

    done = run("-m", "electra_tf.export", "--model", str(work / "cls"), "--output", "-", "--format", "onnx")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert [line for line in done.stderr.decode().splitlines() if line.strip()] == ["ONNX model written to -"]
    graph = onnx.load_from_string(done.stdout).graph

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert {v.name: dims(v) for v in graph.input} == {n: ["batch", "sequence"] for n in
                                                      ("input_ids", "attention_mask", "token_type_ids")}
    assert {v.name: dims(v) for v in graph.output} == {"logits": ["batch", 2]}


def test_onnx_dimension_names_follow_what_each_output_tracks(work):
    """A tagger's logits follow labeled_positions; QA start/end logits follow the sequence."""
    import onnx

    from electra_tf.export.onnx import export_onnx

    keras.utils.set_random_seed(0)
    tagger = et.TFElectraForTokenClassification(_config(num_labels=3, head="electra")).build_with_dummy_inputs()
    qa = et.TFElectraForQuestionAnswering.from_pretrained(str(work / "qa"))
    names = {}
    for key, model in (("tagger", tagger), ("qa", qa)):
        fifo = work / f"{key}.fifo"
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
        reader.start()
        export_onnx(model, str(fifo))  # a FIFO is written in place, not replaced
        reader.join(60)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        graph = onnx.load_from_string(got[0]).graph
        names[key] = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                      for v in list(graph.input) + list(graph.output)}
    assert names["tagger"]["labeled_positions"] == ["batch", "positions"]
    assert names["tagger"]["logits"] == ["batch", "positions", 3]
    assert names["qa"]["start_logits"] == names["qa"]["end_logits"] == ["batch", "sequence"]
    assert names["qa"]["answerable_logit"] == ["batch"] and names["qa"]["start_top_index"] == ["batch", 4]
    assert not any(str(d).startswith("unk__") for dims in names["qa"].values() for d in dims)


# ------------------------------------------------------------------ item 2: predict


def test_predict_never_writes_over_its_inputs(work, tmp_path):
    source = work / "in.txt"
    before, model_files = source.read_bytes(), tree(work / "cls")
    os.symlink(source, tmp_path / "link_to_input")
    predict = ["predict.py", "--model", str(work / "cls"), "--input", str(source), "--output"]
    one_error_line(run(*predict, str(source)), "is the --input file")
    one_error_line(run(*predict, str(tmp_path / "link_to_input")), f"resolves to {source}", "the --input file")
    one_error_line(run(*predict, str(work / "cls" / "vocab.txt")), "a file of the --model directory")
    one_error_line(run(*predict, str(work / "mine")), "is a folder")
    one_error_line(run(*predict, str(tmp_path / "out.tsv")), ".tsv", "classification", ".jsonl")
    assert source.read_bytes() == before and tree(work / "cls") == model_files
    assert os.path.islink(tmp_path / "link_to_input")


def test_predict_dash_is_stdout_with_the_summary_on_stderr(work):
    done = run("predict.py", "--model", str(work / "cls"), "--input", str(work / "in.txt"), "--output", "-", *SHORT)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r["line"] for r in records] == [1, 2] and records[1]["text_b"] == "good plot"
    assert done.stderr.decode().strip().splitlines() == ["Wrote 2 predictions to -"]
    assert not os.path.exists(os.path.join(ROOT, "-"))


def _predict(work, output, model="cls", source="in.txt"):
    import predict

    return predict.main(["--model", str(work / model), "--input", str(work / source), "--output", str(output),
                         "--max-query-length", "8", "--doc-stride", "8"] + SHORT)


def test_predict_writes_through_links_devices_and_fifos(work, tmp_path, capfd):
    expected = tmp_path / "plain.jsonl"
    assert _predict(work, expected) == 0
    want = expected.read_bytes()
    # a symlink: its target gets the predictions and the link stays
    os.symlink("target.jsonl", tmp_path / "link.jsonl")
    assert _predict(work, tmp_path / "link.jsonl") == 0
    assert os.path.islink(tmp_path / "link.jsonl") and (tmp_path / "target.jsonl").read_bytes() == want
    # a character device is written, never replaced by a regular file
    assert _predict(work, "/dev/null") == 0
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    # a FIFO: a reader gets the predictions, the FIFO stays
    os.mkfifo(tmp_path / "pipe")
    got = []
    reader = threading.Thread(target=lambda: got.append(open(tmp_path / "pipe", "rb").read()), daemon=True)
    reader.start()
    assert _predict(work, tmp_path / "pipe") == 0
    reader.join(60)
    assert got == [want] and stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)
    # a file with a second hard link: written in place, so both names see the new predictions
    (tmp_path / "old.jsonl").write_text("old\n")
    os.link(tmp_path / "old.jsonl", tmp_path / "other_name.jsonl")
    assert _predict(work, tmp_path / "old.jsonl") == 0
    assert (tmp_path / "other_name.jsonl").read_bytes() == want
    # a regular file keeps its permission bits when it is replaced
    (tmp_path / "private.jsonl").write_text("old\n")
    os.chmod(tmp_path / "private.jsonl", 0o600)
    assert _predict(work, tmp_path / "private.jsonl") == 0
    assert stat.S_IMODE(os.stat(tmp_path / "private.jsonl").st_mode) == 0o600
    capfd.readouterr()


def test_predict_format_follows_the_extension(work, tmp_path, capfd):
    assert _predict(work, tmp_path / "out.jsonl") == 0
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert _predict(work, tmp_path / "out.json") == 0
    assert json.loads((tmp_path / "out.json").read_text()) == lines  # one JSON list of the same records
    # QA answers are one JSON object: .jsonl contradicts it (refused before the model runs)
    assert _predict(work, tmp_path / "answers.jsonl", model="qa", source="in.json") == 2
    assert "a .jsonl file, but a qa model writes one JSON object" in capfd.readouterr().err
    assert not (tmp_path / "answers.jsonl").exists()


def test_predict_qa_side_files_follow_the_output_rules(work, tmp_path, capfd):
    # `-`: answers on stdout; the n-best lists and null odds have no "beside", and stderr says so
    assert _predict(work, "-", model="qa", source="in.json") == 0
    out, err = capfd.readouterr()
    assert set(json.loads(out)) == {"q1"} and "N-best lists and null odds not written" in err
    # a side file that would land on an input is refused before anything is written
    source = work / "in.json"
    before = source.read_bytes()
    os.symlink(source, tmp_path / "answers_nbest.json")
    assert _predict(work, tmp_path / "answers.json", model="qa", source="in.json") == 2
    assert "the --input file" in capfd.readouterr().err
    assert source.read_bytes() == before and not (tmp_path / "answers.json").exists()


def test_predict_write_failure_keeps_the_earlier_predictions(work, tmp_path):
    out = tmp_path / "preds.jsonl"
    out.write_text("earlier predictions\n")
    args = ["predict.py", "--model", str(work / "cls"), "--input", str(work / "in.txt"), "--output", str(out)] + SHORT
    done = limited_run(args, limit=100)
    assert_clean_failure(done, str(out))
    assert out.read_text() == "earlier predictions\n" and temporary_files(tmp_path) == []


# ------------------------------------------------------------------ item 4 and 11: build_vocab


def test_build_vocab_never_writes_into_its_corpus_and_says_why_the_size_differs(work, tmp_path):
    corpus = work / "corpus"
    before = tree(corpus)
    name = sorted(os.listdir(corpus))[0]
    os.symlink(corpus / name, tmp_path / "vocab_link.txt")
    build = ["build_vocab.py", "--corpus-dir", str(corpus), "--vocab-file"]
    one_error_line(run(*build, str(corpus / name)), "a file of the --corpus-dir")
    one_error_line(run(*build, str(tmp_path / "vocab_link.txt")), f"resolves to {corpus / name}")
    one_error_line(run(*build, str(corpus / "vocab.txt")), "inside the --corpus-dir", "read it as corpus text")
    one_error_line(run(*build, "-", "--type", "sentencepiece"), "cannot hold a SentencePiece model")
    assert tree(corpus) == before and os.path.islink(tmp_path / "vocab_link.txt")

    # The WordPiece trainer keeps the whole alphabet: more tokens than asked, and the console says why.
    done = run(*build, "-", "--vocab-size", "30", text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    tokens = done.stdout.splitlines()
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(tokens) > 30
    chars = sum(1 for t in tokens[5:] if len(t) == 1)
    note = [line for line in done.stderr.splitlines() if line.startswith("Note: ")]
    assert note == [f"Note: {len(tokens)} tokens, not the 30 asked: the WordPiece trainer keeps every character of the "
                    f"corpus ({chars} characters and {len(tokens) - 5 - chars} ##-forms, besides the 5 special tokens), "
                    f"so the vocabulary cannot be smaller. Pass --limit-alphabet N to keep only the N most frequent "
                    f"characters (the others become [UNK])."]
    assert tree(corpus) == before


def test_vocab_size_note_for_a_small_corpus():
    from electra_tf.pretraining.vocab import SPECIAL_TOKENS, size_note

    tokens = list(SPECIAL_TOKENS) + ["a", "b", "##a", "ab"]
    assert size_note(tokens, 9, 2) is None
    assert size_note(tokens, 100, 3) == ("9 tokens, fewer than the 100 asked: the corpus has no more pieces seen at "
                                         "least --min-frequency 3 times (lower it, or add text).")


# ------------------------------------------------------------------ convert


def test_convert_never_writes_over_its_input_and_reruns_into_its_own_folder(tmp_path, capsys):
    source = tmp_path / "tiny"
    shutil.copytree(TINY_TF1, source)
    before = tree(source)
    convert = ["convert/convert_checkpoint.py", "--skip-generator", "--to", "keras", "--input"]
    one_error_line(run(*convert, str(source), "--output", str(source)), "is the --input")
    one_error_line(run(*convert, str(source / "model.ckpt"), "--output", str(source)), "the --input")
    one_error_line(run(*convert, str(source), "--output", str(tmp_path)), "holds the --input")
    one_error_line(run(*convert, str(source), "--output", "-"), "standard output")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "config.json").write_text("{\"mine\": 1}\n")
    one_error_line(run(*convert, str(source), "--output", str(tmp_path / "mine")), "holds other files", "--overwrite")
    assert tree(source) == before and (tmp_path / "mine" / "config.json").read_text() == "{\"mine\": 1}\n"

    from electra_tf.cli import convert as convert_command

    args = ["--input", str(source), "--skip-generator", "--output", str(tmp_path / "out")]
    assert convert_command.main(args + ["--to", "keras"]) == 0
    assert convert_command.main(args + ["--to", "keras"]) == 0  # a rerun writes its own folder again
    capsys.readouterr()
    assert convert_command.main(args + ["--to", "hf"]) == 2  # not over a conversion to another format...
    assert "holds other files" in capsys.readouterr().err
    assert convert_command.main(args + ["--to", "hf", "--overwrite"]) == 0  # ...unless asked
    assert tree(source) == before


def test_an_interrupted_conversion_runs_again_as_it_was(tmp_path, monkeypatch, capsys):
    """Ctrl-C half-way through the writes: the rerun of the same command finishes the folder
    (no --overwrite needed); a conversion refused before writing leaves no folder."""
    from electra_tf.checkpoints import registry
    from electra_tf.cli import convert as convert_command

    out = tmp_path / "out"
    args = ["--input", TINY_TF1, "--skip-generator", "--to", "keras", "--output", str(out)]
    real_save = registry.save_model

    def interrupted(model, path, **kwargs):
        with open(os.path.join(path, "config.json"), "w") as f:
            f.write("{\"half\":")  # a file cut short by the interrupt
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "save_model", interrupted)
    assert convert_command.main(args) == 130
    monkeypatch.setattr(registry, "save_model", real_save)
    assert convert_command.main(args) == 0
    assert et.TFElectraModel.from_pretrained(str(out)).load_report.newly_initialized == []
    assert convert_command.main(["--input", TINY_TF1, "--skip-generator", "--to", "keras", "--model-type", "base",
                                 "--strict", "--output", str(tmp_path / "refused")]) == 2
    assert not (tmp_path / "refused").exists()
    capsys.readouterr()


# ------------------------------------------------------------------ the policy itself


def test_two_writers_of_one_folder_leave_one_complete_folder(tmp_path, monkeypatch):
    """save_directory_atomically: another writer puts its folder at the path between our two
    renames; ours still lands, whole, and nothing temporary stays behind."""
    from electra_tf.utils import files as io_utils

    target = tmp_path / "export"
    real_replace = os.replace
    raced = []

    def replace(src, dst):
        if str(dst) == str(target) and not raced:  # the other writer gets there first
            raced.append(True)
            os.makedirs(target)
            (target / "theirs").write_text("other writer\n")
        return real_replace(src, dst)

    def write(folder):
        os.makedirs(folder)
        with open(os.path.join(folder, "ours"), "w") as f:
            f.write("ours\n")

    monkeypatch.setattr(io_utils.os, "replace", replace)
    io_utils.save_directory_atomically(write, str(target))
    assert raced and sorted(os.listdir(target)) == ["ours"] and os.listdir(tmp_path) == ["export"]


def test_a_killed_folder_writer_leaves_nothing_the_rerun_keeps(tmp_path):
    """SIGKILL between the two renames of save_directory_atomically: the earlier folder sits
    aside as ``.tmp-<pid>-<name>-old`` and the new one as ``.tmp-<pid>-<name>``. The next write of
    that path (here, one that fails) puts the earlier folder back and removes the leftovers."""
    from electra_tf.utils import files as io_utils

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a process id that is gone
    (tmp_path / f".tmp-{dead}-export-old").mkdir()
    (tmp_path / f".tmp-{dead}-export-old" / "saved_model.pb").write_text("earlier\n")
    (tmp_path / f".tmp-{dead}-export").mkdir()
    (tmp_path / "other").mkdir()

    def fail(folder):
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError):
        io_utils.save_directory_atomically(fail, str(tmp_path / "export"))
    assert sorted(os.listdir(tmp_path)) == ["export", "other"]
    assert (tmp_path / "export" / "saved_model.pb").read_text() == "earlier\n"
