"""Tasks from tensorflow-datasets (TFDS mock data, no download) and SentencePiece vocabularies."""

import json

import pytest

from tests.conftest import copy_tiny_model

import run_finetuning

MODEL = "electra-tiny"


@pytest.fixture()
def data_dir(tmp_path):
    copy_tiny_model(tmp_path)
    return tmp_path


def _run(data_dir, hparams):
    base = {"train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 24, "num_train_epochs": 1, "seed": 2,
            "log_every_steps": 1000}
    base.update(hparams)
    return run_finetuning.main(["--data-dir", str(data_dir), "--model-name", MODEL, "--hparams", json.dumps(base)])


TFDS_SST2 = {"sst2": {"type": "tfds", "name": "glue/sst2", "text_a": "sentence", "label": "label",
                      "splits": {"train": "train", "dev": "validation"}}}


def test_tfds_task_with_mock_data(data_dir):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE):
        assert _run(data_dir, {"task_names": ["sst2"], "task_config": TFDS_SST2}) == 0
    results = json.loads((data_dir / "models" / MODEL / "results" / "sst2_results.json").read_text())
    assert "accuracy" in results["trials"][0]["results"]["sst2"]
    meta = json.loads((data_dir / "models" / MODEL / "finetuning_tfrecords" / "sst2_tfrecords" / "sst2_dev.tfrecord.metadata").read_text())
    assert meta["n_real"] == 20


def test_tfds_task_without_prepared_data_is_a_clear_error(data_dir, tmp_path, capsys):
    code = _run(data_dir, {"task_names": ["sst2"], "task_config": TFDS_SST2, "tfds_data_dir": str(tmp_path / "empty_tfds")})
    assert code == 2
    err = capsys.readouterr().err
    assert "without downloading" in err and "tfds build glue/sst2" in err


def _train_spm(tmp_path, vocab_size=40):
    import sentencepiece as spm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["good movie great story", "bad film awful plot", "the acting was very good",
                                 "not a great film", "ไทย ภาษา ดี มาก", "good bad great awful"] * 20))
    prefix = tmp_path / "spm"
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=vocab_size, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece="[PAD]", unk_piece="[UNK]",
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]", "<_>"], hard_vocab_limit=False)
    return str(prefix) + ".model"


def test_sentencepiece_tokenizer_options(tmp_path):
    from electra_tf.text.tokenizer import SentencePieceTokenizer, build_tokenizer

    path = _train_spm(tmp_path)
    tok = build_tokenizer(path)
    assert isinstance(tok, SentencePieceTokenizer)
    pieces = tok.tokenize("good movie")
    assert pieces and "[UNK]" not in pieces
    assert tok.convert_tokens_to_ids(["[CLS]", "[SEP]"]) == [tok.special_id("[CLS]"), tok.special_id("[SEP]")]
    assert tok.special_id("[PAD]") == 0
    lower = SentencePieceTokenizer(path, do_lower_case=True)
    assert lower.tokenize("GOOD Movie") == tok.tokenize("good movie")
    spaced = SentencePieceTokenizer(path, space_token="<_>")
    assert "<_>" in spaced.tokenize("ไทย ภาษา")  # thai2transformers' space token


def test_sentencepiece_vocabulary_end_to_end(data_dir, tmp_path):
    path = _train_spm(tmp_path)
    task_dir = data_dir / "finetuning_data" / "sst"
    task_dir.mkdir(parents=True)
    for split in ("train", "dev"):
        (task_dir / f"{split}.tsv").write_text("sentence\tlabel\n" + "".join(
            f"{'good movie great' if i % 2 else 'bad film awful'}\t{i % 2}\n" for i in range(16)))
    assert _run(data_dir, {"task_names": ["sst"], "vocab_file": path, "do_lower_case": False}) == 0
    results = json.loads((data_dir / "models" / MODEL / "results" / "sst_results.json").read_text())
    assert "accuracy" in results["trials"][0]["results"]["sst"]
