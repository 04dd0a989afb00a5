"""Continued pre-training from any checkpoint without restating it (#27): init_checkpoint (an HF
directory or an original TF1 checkpoint) gives the vocabulary, vocab_size and the sizes of both
networks; an explicit hparam that contradicts the checkpoint is one error naming both values."""

import os
import shutil

import numpy as np
import pytest

from tests.test_pretraining import E2E, VOCAB, data_dir  # noqa: F401
from tests.tf1_fixtures import original_variables, write_checkpoint

from electra_tf.errors import ConfigError
from electra_tf.pretraining.config import PretrainingConfig

# Only what has nothing to do with the architecture or the vocabulary.
NO_SIZES = {"max_seq_length": 32, "train_batch_size": 8, "eval_batch_size": 8, "learning_rate": 1e-3,
            "num_warmup_steps": 0, "seed": 5, "progress": False}


@pytest.fixture(scope="module")
def records_only(data_dir, tmp_path_factory):  # noqa: F811
    """A <data-dir> with the records and NO vocab.txt: the vocabulary must come from the checkpoint."""
    root = tmp_path_factory.mktemp("records_only")
    shutil.copytree(data_dir / "pretrain_tfrecords", root / "pretrain_tfrecords")
    return root


@pytest.fixture(scope="module")
def tf1_checkpoint(tmp_path_factory):
    """An original-layout pre-training checkpoint (generator included, Adam slots, no config file)
    with sizes that are none of the defaults, and its vocab.txt."""
    directory = tmp_path_factory.mktemp("tf1_release")
    variables = original_variables(V=2000, E=16, H=32, L=2, I=48, P=40, gen_H=16, seed=7)
    write_checkpoint(str(directory), variables)
    shutil.copyfile(VOCAB, directory / "vocab.txt")
    return directory, variables


def test_tf1_checkpoint_gives_vocabulary_and_both_architectures(records_only, tf1_checkpoint):
    from electra_tf.pretraining.runner import PretrainingRunner
    from electra_tf.pretraining.warm_start import load_pretrained_weights

    directory, variables = tf1_checkpoint
    config = PretrainingConfig("from_tf1", str(records_only), init_checkpoint=str(directory), **NO_SIZES)
    runner = PretrainingRunner(config)
    disc, gen = runner.disc_config, runner.gen_config
    assert (disc.vocab_size, disc.embedding_size, disc.hidden_size, disc.num_hidden_layers, disc.intermediate_size,
            disc.max_position_embeddings) == (2000, 16, 32, 2, 48, 40)
    assert (gen.hidden_size, gen.num_hidden_layers, gen.intermediate_size, gen.embedding_size) == (16, 2, 64, 16)
    assert config.vocab_file == str(directory / "vocab.txt") and config.vocab_size == 2000
    model = runner.build_model(3)
    load_pretrained_weights(model, str(directory))
    names = dict(model.tf1_weights())
    assert set(names) == {n for n in variables if not n.endswith(("adam_m", "adam_v"))}
    for name, variable in names.items():
        np.testing.assert_array_equal(variable.numpy(), variables[name], err_msg=name)


def test_hf_directory_continues_pretraining_without_size_hparams(records_only, data_dir, tmp_path):  # noqa: F811
    """The discriminator and vocabulary come from the HF folder; the generator (not in an HF
    ElectraForPreTraining folder) is built from the fractions of those sizes; one step trains."""
    from electra_tf.pretraining.export import write_hf_pretrained
    from electra_tf.pretraining.runner import PretrainingRunner

    sizes = dict(E2E, model_hparam_overrides={"hidden_size": 48, "num_hidden_layers": 1}, embedding_size=24)
    source = PretrainingRunner(PretrainingConfig("source", str(data_dir), **sizes)).build_model(11)
    hf_dir = write_hf_pretrained(source, str(tmp_path), vocab_file=VOCAB)["discriminator"]
    config = PretrainingConfig("from_hf", str(records_only), init_checkpoint=hf_dir,
                               **dict(NO_SIZES, num_train_steps=1))
    runner = PretrainingRunner(config)
    disc, gen = runner.disc_config, runner.gen_config
    assert (disc.hidden_size, disc.num_hidden_layers, disc.embedding_size, disc.vocab_size) == (48, 1, 24, 2000)
    assert (gen.hidden_size, gen.num_hidden_layers, gen.embedding_size) == (12, 1, 24)  # 0.25 x 48, shared E
    assert config.vocab_file == os.path.join(hf_dir, "vocab.txt")
    assert runner.train() == 1
    assert (records_only / "models" / "from_hf" / "model.ckpt-1.index").is_file()


@pytest.mark.parametrize("hparams, names", [
    ({"model_hparam_overrides": {"hidden_size": 64}}, ("model_hparam_overrides.hidden_size", "hidden_size=64",
                                                        "hidden_size=32")),
    ({"vocab_size": 30522}, ("vocab_size=30522", "vocab_size=2000")),
    ({"generator_hidden_size": 0.25}, ("generator_hidden_size=0.25", "hidden_size=8", "hidden_size=16")),
], ids=["hidden", "vocab", "generator"])
def test_a_conflicting_size_is_one_error_naming_both(records_only, tf1_checkpoint, hparams, names, capsys):
    import json

    import run_pretraining

    directory, _ = tf1_checkpoint
    from electra_tf.pretraining.runner import PretrainingRunner

    config = PretrainingConfig("conflict", str(records_only), init_checkpoint=str(directory),
                               **dict(NO_SIZES, **hparams))
    with pytest.raises(ConfigError) as error:
        PretrainingRunner(config)
    for name in names:
        assert name in str(error.value), (name, str(error.value))
    capsys.readouterr()
    code = run_pretraining.main(["--data-dir", str(records_only), "--model-name", "conflict_cli", "--hparams",
                                 json.dumps(dict(NO_SIZES, init_checkpoint=str(directory), **hparams))])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and names[-1] in errors[0], errors
