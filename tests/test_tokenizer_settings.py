"""Tokenizer settings come from the checkpoint, and a run warns about [UNK]-heavy training data
(issue #24 item 9: a cased Korean checkpoint fine-tuned lower-cased turned 85% of the tokens into [UNK])."""

import json
import logging
import random

import pytest

import electra_tf as et
import predict
import run_finetuning
from electra_tf.finetuning.tokenizer_settings import checkpoint_tokenizer_settings, resolve_tokenizer_settings
from electra_tf.errors import ConfigError
from electra_tf.finetuning.features import warn_unknown_tokens
from electra_tf.finetuning.hparams import FinetuningConfig
from electra_tf.text import reference_tokenizer as ref
from electra_tf.text.tokenizer import FullTokenizer

KOREAN = ["서울", "부산", "한국", "회사", "사람", "에서", "갔다", "만났다", "은", "는", "김", "이"]
TAGGED = [("김", "PER-B"), ("이", "PER-I"), ("서울", "LOC-B"), ("부산", "LOC-B"), ("회사", "ORG-B")]


@pytest.fixture(scope="module")
def cased_korean(tmp_path_factory):
    """A data folder with a cased HF checkpoint (tokenizer_config.json: do_lower_case false) whose
    vocabulary holds composed Hangul syllables, and a small tagging set."""
    data_dir = tmp_path_factory.mktemp("data")
    model_dir = data_dir / "models" / "ko-tiny"
    model_dir.mkdir(parents=True)
    vocab = data_dir / "vocab_source.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + KOREAN) + "\n", encoding="utf-8")
    config = et.ElectraConfig(vocab_size=5 + len(KOREAN), embedding_size=16, hidden_size=32, num_hidden_layers=1,
                              num_attention_heads=2, intermediate_size=37, max_position_embeddings=32)
    et.TFElectraModel(config).build_with_dummy_inputs().save_pretrained(str(model_dir), format="hf", vocab_file=str(vocab),
                                                                      do_lower_case=False)
    rng = random.Random(5)
    folder = data_dir / "finetuning_data" / "ner"
    folder.mkdir(parents=True)
    for split in ("train", "dev"):
        sentences = [[rng.choice(TAGGED + [(w, "O") for w in KOREAN[5:]]) for _ in range(rng.randint(2, 6))]
                     for _ in range(16)]
        (folder / f"{split}.txt").write_text("".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in sentences),
                                             encoding="utf-8")
    return data_dir


def _config(data_dir, **hparams):
    return FinetuningConfig("ko-tiny", str(data_dir), task_names=["ner"], max_seq_length=12, train_batch_size=8,
                            task_config={"ner": {"type": "tagging", "scheme": "suffix"}}, **hparams)


# ---------------------------------------------------------------------------- reading the checkpoint
def test_settings_are_read_from_tokenizer_config_and_task_json(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": False, "strip_accents": False, "tokenize_chinese_chars": False, "model_max_length": 512}))
    found, source = checkpoint_tokenizer_settings(str(tmp_path))
    assert found == {"do_lower_case": False, "strip_accents": False, "tokenize_chinese_chars": False}
    assert source.endswith("tokenizer_config.json")
    # an electra-tf model directory: task.json's tokenizer section comes first
    (tmp_path / "task.json").write_text(json.dumps({"tokenizer": {"file": "vocab.txt", "do_lower_case": True}}))
    found, source = checkpoint_tokenizer_settings(str(tmp_path / "model.safetensors"))
    assert found["do_lower_case"] is True and found["strip_accents"] is False and source.endswith("task.json")


def test_an_original_checkpoint_records_nothing(tmp_path):
    (tmp_path / "model.ckpt.index").write_bytes(b"")
    assert checkpoint_tokenizer_settings(str(tmp_path)) == ({}, None)
    assert checkpoint_tokenizer_settings(str(tmp_path / "model.ckpt")) == ({}, None)


@pytest.mark.parametrize("content,message", [
    ("{not json", r"tokenizer_config.json: not a readable JSON file"),
    ('{"do_lower_case": "false"}', r"tokenizer_config.json: do_lower_case must be true or false, got 'false'"),
    ('{"strip_accents": 1}', r"strip_accents must be true, false or null"),
    ("[]", r"tokenizer_config.json: expected a JSON object"),
])
def test_a_broken_tokenizer_config_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "tokenizer_config.json").write_text(content)
    with pytest.raises(ConfigError, match=message):
        checkpoint_tokenizer_settings(str(tmp_path))


def test_the_checkpoint_decides_unless_the_user_does(cased_korean, caplog):
    config = _config(cased_korean)
    with caplog.at_level(logging.INFO, logger="electra_tf"):
        settings = resolve_tokenizer_settings(config)
    assert config.do_lower_case is False and settings.do_lower_case is False
    assert "do_lower_case=False" in caplog.text and "tokenizer_config.json" in caplog.text  # the decision is logged
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    caplog.clear()
    config = _config(cased_korean, do_lower_case=True)
    with caplog.at_level(logging.INFO, logger="electra_tf"):
        settings = resolve_tokenizer_settings(config)
    assert config.do_lower_case is True and settings.do_lower_case is True  # the user's choice wins
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "do_lower_case=true" in warnings[0] and "do_lower_case=false" in warnings[0]

    config = _config(cased_korean, do_lower_case=False)  # agreeing: no warning
    caplog.clear()
    resolve_tokenizer_settings(config)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_wrong_casing_warns_about_unknown_tokens(cased_korean, caplog):
    from electra_tf.finetuning.runner import FinetuningRunner

    runner = FinetuningRunner(_config(cased_korean, do_lower_case=True, preprocessed_data_dir=str(cased_korean / "feat1")))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="electra_tf"):
        runner.check_inputs()
    unknown = [r.getMessage() for r in caplog.records if "[UNK]" in r.getMessage()]
    # lowercasing decomposes Hangul syllables (NFD), so every word of this vocabulary is [UNK]
    assert len(unknown) == 1 and unknown[0].startswith("ner: 100.0% of the training tokens")
    assert "do_lower_case" in unknown[0] and "another language" in unknown[0]

    runner = FinetuningRunner(_config(cased_korean, preprocessed_data_dir=str(cased_korean / "feat2")))
    assert runner.tokenizer.do_lower_case is False
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="electra_tf"):
        runner.check_inputs()
    assert not [r for r in caplog.records if "[UNK]" in r.getMessage()]


def test_unknown_share_threshold():
    counts = {"a": {"tokens": 100, "unknown_tokens": 5}, "b": {"tokens": 100, "unknown_tokens": 6}, "c": {"examples": 3}}
    warnings = warn_unknown_tokens({"tokens": counts})
    assert len(warnings) == 1 and warnings[0].startswith("b: 6.0% of the training tokens (6 of 100)")


def test_a_run_and_predict_use_the_checkpoints_casing(cased_korean):
    hparams = {"task_names": ["ner"], "task_config": {"ner": {"type": "tagging", "scheme": "suffix"}},
               "train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 12, "num_train_epochs": 1, "seed": 1,
               "log_every_steps": 1000}
    assert run_finetuning.main(["--data-dir", str(cased_korean), "--model-name", "ko-tiny", "--hparams",
                                json.dumps(hparams)]) == 0
    model = cased_korean / "models" / "ko-tiny" / "finetuning_models" / "ner_model_1" / "model"
    assert json.loads((model / "task.json").read_text())["tokenizer"]["do_lower_case"] is False
    assert json.loads((model / "tokenizer_config.json").read_text())["do_lower_case"] is False
    (cased_korean / "in.txt").write_text("김\n서울\n회사\n", encoding="utf-8")
    assert predict.main(["--model", str(model), "--input", str(cased_korean / "in.txt"),
                         "--output", str(cased_korean / "out.txt")]) == 0
    assert [line.split("\t")[0] for line in (cased_korean / "out.txt").read_text(encoding="utf-8").split("\n") if line] \
        == ["김", "서울", "회사"]


# ---------------------------------------------------------------------------- strip_accents apart from casing
def test_strip_accents_apart_from_lowercasing_equals_the_python_reading(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "tres", "très", "Tres", "Très", "cafe",
                                "café", "Cafe", "Café", "ας", "ΑΣ", "한국", "北", "##s"]) + "\n", encoding="utf-8")
    rng = random.Random(0)
    alphabet = "aeéÉΣσΑ한국北 .\u0301\u0000\U0001FAE8"  # accents, final sigma, deleted and recent characters
    texts = ["Très Café", "ΑΣ. café"] + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
                                         for _ in range(200)]
    for lower, strip, first in ((True, False, ["très", "café"]), (False, True, ["Tres", "Cafe"]),
                                (False, False, ["Très", "Café"]), (True, None, ["tres", "cafe"])):
        tok = FullTokenizer(str(vocab), do_lower_case=lower, strip_accents=strip)
        fast = tok.tokenize_batch(texts)
        assert fast[0] == first
        for text, tokens in zip(texts, fast):
            words = ref.clean_text(text)
            words = [w.lower() if lower else w for w in ref.pad_cjk(words).split()]
            words = [ref.remove_accents(w) if (lower if strip is None else strip) else w for w in words]
            words = " ".join(p for w in words for p in ref.split_punctuation(w)).split()
            assert tokens == [piece for w in words for piece in ref.wordpiece(w, tok.vocab)], text
        assert tok.for_words(lower).strip_accents == strip


def test_offsets_follow_strip_accents_apart_from_lowercasing(tmp_path):
    """QA's (token, start, end) spans give the same tokens as ``tokenize_batch`` for every
    lowercasing x accent setting, also for the rare texts the reference implementation handles
    (deleted, recent or final-sigma characters): it used to strip accents exactly when lowercasing."""
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "tres", "très", "Tres", "Très", "cafe",
                                "café", "Cafe", "Café", "ας", "ΑΣ", "북", "##s"]) + "\n", encoding="utf-8")
    rng = random.Random(1)
    alphabet = "aeéÉΣσΑ북 .\u0301\u0000\U0001FAE8"
    texts = ["Très\u0000 Café", "ΑΣ Très"] + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
                                             for _ in range(200)]
    for lower, strip in ((True, False), (False, True), (False, False), (True, None), (False, None)):
        tok = FullTokenizer(str(vocab), do_lower_case=lower, strip_accents=strip)
        spans = tok.tokenize_with_offsets_batch(texts)
        for text, tokens, with_offsets in zip(texts, tok.tokenize_batch(texts), spans):
            assert [t for t, _, _ in with_offsets] == tokens, (lower, strip, text)
            assert all(0 <= s < e <= len(text) for _, s, e in with_offsets), (lower, strip, text)
        if strip:
            assert spans[0][0] == (("tres" if lower else "Tres"), 0, 4)


def test_recorded_accent_and_chinese_settings_reach_the_model_directory_and_predict(cased_korean, tmp_path):
    """strip_accents / tokenize_chinese_chars recorded by the checkpoint are used in training and
    written to the run's task.json and tokenizer_config.json, and predict.py tokenizes with them."""
    import shutil

    data_dir = tmp_path / "data"
    shutil.copytree(cased_korean / "models" / "ko-tiny", data_dir / "models" / "ko-tiny",
                    ignore=shutil.ignore_patterns("finetuning_*", "results"))
    shutil.copytree(cased_korean / "finetuning_data", data_dir / "finetuning_data")
    tok_config = data_dir / "models" / "ko-tiny" / "tokenizer_config.json"
    recorded = json.loads(tok_config.read_text())
    tok_config.write_text(json.dumps({**recorded, "strip_accents": True, "tokenize_chinese_chars": False}))
    hparams = {"task_names": ["ner"], "task_config": {"ner": {"type": "tagging", "scheme": "suffix"}},
               "train_batch_size": 8, "eval_batch_size": 8, "max_seq_length": 12, "num_train_epochs": 1, "seed": 1}
    assert run_finetuning.main(["--data-dir", str(data_dir), "--model-name", "ko-tiny", "--hparams",
                                json.dumps(hparams)]) == 0
    model = data_dir / "models" / "ko-tiny" / "finetuning_models" / "ner_model_1" / "model"
    section = json.loads((model / "task.json").read_text())["tokenizer"]
    assert (section["do_lower_case"], section["strip_accents"], section["tokenize_chinese_chars"]) == (False, True, False)
    written = json.loads((model / "tokenizer_config.json").read_text())
    assert (written["strip_accents"], written["tokenize_chinese_chars"]) == (True, False)
    built = {}
    from electra_tf.text import tokenizer as tokenizer_module  # predict.py imports build_tokenizer when it runs

    original = tokenizer_module.build_tokenizer

    def recording_build(*args, **kwargs):
        built.update(kwargs)
        return original(*args, **kwargs)

    tokenizer_module.build_tokenizer = recording_build
    try:
        (data_dir / "in.txt").write_text("김\n서울\n", encoding="utf-8")
        assert predict.main(["--model", str(model), "--input", str(data_dir / "in.txt"),
                             "--output", str(data_dir / "out.txt")]) == 0
    finally:
        tokenizer_module.build_tokenizer = original
    assert (built["strip_accents"], built["tokenize_chinese_chars"]) == (True, False)
