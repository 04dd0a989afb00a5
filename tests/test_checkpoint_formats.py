"""The checkpoint format registry: detection, bit-exact round trips, the training checkpoint,
the converter's choices, config reconciliation, and no import cycle between modeling and
checkpoints."""

import ast
import os

import numpy as np
import pytest
import tensorflow as tf

import electra_tf as et
from electra_tf.checkpoints import registry
from electra_tf.checkpoints.state import model_state
from electra_tf.checkpoints.tf1 import tf1_name_map, tf1_to_canonical
from electra_tf.errors import CheckpointError, ConfigError
from tests.conftest import ROOT, make_random_tf1_model, tiny_config

QA_OPTIONS = [
    {},
    {"answerable_classifier": False},
    {"answerable_uses_start_logits": False},
    {"joint_prediction": False},
]


def _model(model_type, **changes):
    cls = et.MODEL_CLASSES[model_type]
    return cls(tiny_config(**changes)).build_with_dummy_inputs()


def _variants():
    yield "base", {}
    yield "pretraining", {}
    yield "generator", {}
    yield "sequence-classification", {"num_labels": 3}
    yield "sequence-classification", {"num_labels": 3, "head": "electra"}
    yield "token-classification", {"num_labels": 5}
    yield "question-answering", {}
    for options in QA_OPTIONS:
        yield "question-answering", {"head": "electra", "head_options": options}


def _write_training_checkpoint(model, directory, task=None, with_optimizer=True):
    """A fine-tuning run's checkpoint of ``model`` as the runner writes it (optionally with the
    head named ``task_specific.<task>.*`` as in a FinetuningModel)."""
    from electra_tf.finetuning.runner import training_checkpoint
    from electra_tf.training.optimization import AdamWeightDecay

    refs = model.hf_weights()
    optimizer = AdamWeightDecay([r.variable for r in refs], [r.name for r in refs], base_lr=0.1,
                                num_train_steps=10) if with_optimizer else None
    checkpoint = training_checkpoint(model, optimizer)
    if task:
        checkpoint.weights.by_name = {(n if n.startswith("electra.") else f"task_specific.{task}.{n}"): v
                                      for n, v in checkpoint.weights.by_name.items()}
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=2)
    return manager.save(checkpoint_number=7)


def _assert_same_weights(got, want):
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


# ---------------------------------------------------------------------------- imports
def _imports(path):
    """(module-level imports, all imports) of a source file, as module names."""
    tree = ast.parse(open(path, encoding="utf-8").read())

    def names(nodes):
        out = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                out |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        return out

    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return names(top), names(ast.walk(tree))


def test_checkpoints_never_import_modeling_and_modeling_imports_checkpoints_only_in_functions():
    package = os.path.join(ROOT, "electra_tf")
    for name in sorted(os.listdir(os.path.join(package, "checkpoints"))):
        if name.endswith(".py"):
            _, everywhere = _imports(os.path.join(package, "checkpoints", name))
            assert not [m for m in everywhere if m.startswith("electra_tf.modeling")], name
    used_in_functions = False
    for name in sorted(os.listdir(os.path.join(package, "modeling"))):
        if name.endswith(".py"):
            top, everywhere = _imports(os.path.join(package, "modeling", name))
            assert not [m for m in top if m.startswith("electra_tf.checkpoints")], name
            used_in_functions |= any(m.startswith("electra_tf.checkpoints") for m in everywhere)
    assert used_in_functions  # from_pretrained / save_pretrained go through the registry


# ---------------------------------------------------------------------------- TF1 names
@pytest.mark.parametrize("model_type,changes", list(_variants()), ids=lambda v: str(v))
def test_tf1_names_map_back_to_the_canonical_names_without_a_model(model_type, changes):
    model = _model(model_type, **changes)
    names = list(model_state(model))
    forward = tf1_name_map(names, model_type, "mytask")
    assert len(set(forward.values())) == len(names)
    shapes = {tf1: None for tf1 in forward.values()}
    for canonical, tf1 in forward.items():
        assert tf1_to_canonical(tf1, model_type, "mytask", False, shapes) == canonical, tf1
        assert tf1_to_canonical(tf1 + "/adam_m", model_type, "mytask", False, shapes) is None


# ---------------------------------------------------------------------------- detection
def test_every_format_detects_its_own_output_and_no_others(tmp_path):
    model = _model("sequence-classification", num_labels=3)
    paths = {}
    for name in registry.writable_names():
        paths[name] = str(tmp_path / name)
        model.save_pretrained(paths[name], format=name)
    _write_training_checkpoint(model, str(tmp_path / "training"))
    paths["training"] = str(tmp_path / "training")
    assert set(paths) == set(registry.format_names())
    for written, path in paths.items():
        claimed = [fmt.name for fmt in registry.FORMATS if fmt.detect(path)]
        assert claimed == [written], (written, claimed)
        assert registry.detect_format(path).name == written
    assert not any(fmt.detect(str(tmp_path / "nothing")) for fmt in registry.FORMATS)
    with pytest.raises(CheckpointError, match="Checkpoint not found"):
        registry.detect_format(str(tmp_path / "nothing"))


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("format_name", registry.writable_names())
@pytest.mark.parametrize("model_type,changes", [
    ("pretraining", {}),
    ("sequence-classification", {"num_labels": 3, "head": "electra"}),
    ("question-answering", {"head": "electra", "head_options": {"answerable_uses_start_logits": False}}),
    ("generator", {}),
], ids=["pretraining", "classifier", "qa", "generator"])
def test_model_round_trips_through_each_writable_format_bit_exactly(tmp_path, format_name, model_type, changes):
    model = _model(model_type, **changes)
    want = model_state(model)
    path = str(tmp_path / format_name)
    if format_name == "hf" and model_type == "sequence-classification":
        # the original head is written as transformers' head with equal logits (tests/test_run_names.py)
        registry.get_format(format_name).write(model, path)
        again = type(model).from_pretrained(path, strict=True)
        assert again.config.head == "hf" and again.load_report.newly_initialized == []
        _assert_same_weights({n: v for n, v in model_state(again).items() if not n.startswith("classifier")},
                             {n: v for n, v in want.items() if not n.startswith("classifier")})
        return
    if format_name == "hf" and changes.get("head") == "electra":
        # the original heads have no transformers class: refused unless dropping them is asked for
        with pytest.raises(CheckpointError, match="allow-dropping-heads"):
            registry.get_format(format_name).write(model, path)
        assert not os.path.exists(path)
        registry.get_format(format_name).write(model, path, allow_dropping_heads=True)
        config, state, skipped, detected = registry.read_checkpoint(path, model_type="base")
        assert detected == "hf" and not [n for n in state if n.startswith(("classifier", "qa_head"))]
        _assert_same_weights(state, {n: v for n, v in want.items() if not n.startswith(("classifier", "qa_head"))})
        return
    registry.get_format(format_name).write(model, path)
    config, state, skipped, detected = registry.read_checkpoint(path, model_type=model_type,
                                                                 model_classes=et.MODEL_CLASSES)
    assert detected == format_name
    assert not [why for why in skipped.values() if why not in ("optimizer slot", "training step counter")]
    _assert_same_weights(state, want)
    again = type(model).from_pretrained(path, strict=True)
    assert again.load_report.newly_initialized == []
    assert again.config.head == model.config.head and again.config.num_labels == model.config.num_labels
    _assert_same_weights(model_state(again), want)


def test_unknown_and_read_only_formats_are_refused_on_write(tmp_path):
    model = _model("pretraining")
    with pytest.raises(ConfigError, match="Unknown checkpoint format 'onnx'; use one of keras, hf, tf1"):
        model.save_pretrained(str(tmp_path / "x"), format="onnx")
    with pytest.raises(CheckpointError, match="written only by run_finetuning"):
        model.save_pretrained(str(tmp_path / "x"), format="training")
    assert "training" not in registry.writable_names()


# ---------------------------------------------------------------------------- converter
def _converter():
    from electra_tf.cli import convert

    return convert


def test_converter_to_choices_are_the_registry_writable_formats():
    to = [a for a in _converter().build_parser()._actions if "--to" in a.option_strings][0]
    assert tuple(to.choices) == registry.writable_names()
    assert set(to.choices) == {"keras", "hf", "tf1"}


def test_converter_detects_a_training_checkpoint_input(tmp_path, capsys):
    model = _model("question-answering", head="electra")
    _write_training_checkpoint(model, str(tmp_path / "run"), task="squad")
    # No config beside it: the encoder and the original QA head's layers are read from the shapes.
    assert _converter().main(["--input", str(tmp_path / "run"), "--output", str(tmp_path / "out"), "--to", "keras"]) == 0
    assert "Model type: question-answering" in capsys.readouterr().out
    again = et.TFElectraForQuestionAnswering.from_pretrained(str(tmp_path / "out"), strict=True)
    assert again.config.head == "electra" and again.qa_head.answerable_uses_start_logits
    _assert_same_weights(model_state(again), model_state(model))


# ---------------------------------------------------------------------------- training checkpoint
def test_training_checkpoint_reads_back_to_the_model_weights(tmp_path):
    model = _model("sequence-classification", num_labels=3, head="electra")
    run = tmp_path / "finetuning_models" / "sst_model_1"
    prefix = _write_training_checkpoint(model, str(run), task="sst")
    assert os.path.basename(prefix) == "ckpt-7"
    fmt = registry.detect_format(str(run))
    assert fmt.name == "training"
    # No config.json beside it: the encoder config and the original head come from the shapes.
    config, state, skipped, _ = registry.read_checkpoint(str(run), model_type="sequence-classification")
    for field in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size", "num_labels", "head"):
        assert getattr(config, field) == getattr(model.config, field), field
    _assert_same_weights(state, model_state(model))
    reasons = set(skipped.values())
    assert {"dropout RNG state", "optimizer slot", "training step counter", "checkpoint save counter"} <= reasons
    # Through from_pretrained (prefix or directory), strictly: RNG and optimizer state are not weights.
    for path in (str(run), prefix):
        again = et.TFElectraForSequenceClassification.from_pretrained(path, strict=True)
        _assert_same_weights(model_state(again), model_state(model))
    with pytest.raises(CheckpointError, match="single-dense head"):
        registry.default_model_type(str(run))
    # A config.json beside it wins over the shapes (here: its head count and labels).
    model.config.replace(num_attention_heads=2).to_json_file(str(run / "config.json"),
                                                             architectures=[model.hf_architecture])
    assert registry.get_format("training").read_config(str(run)).num_attention_heads == 2
    assert registry.default_model_type(str(run)) == "sequence-classification"


def test_training_checkpoint_of_several_tasks_and_without_encoder(tmp_path):
    model = _model("question-answering", head="electra")
    prefix = _write_training_checkpoint(model, str(tmp_path / "run"), task="squad", with_optimizer=False)
    assert registry.default_model_type(prefix) == "question-answering"
    base = et.TFElectraModel.from_pretrained(prefix)  # the encoder of a fine-tuned run; its head is skipped
    _assert_same_weights(model_state(base), {k[len("electra."):]: v for k, v in model_state(model).items()
                                             if k.startswith("electra.")})
    with pytest.raises(CheckpointError, match="no head of task 'mrpc'"):
        et.TFElectraForQuestionAnswering.from_pretrained(prefix, task_name="mrpc")

    head_only = tf.train.Checkpoint(weights=tf.Module())
    head_only.weights.by_name = {"classifier.weight": tf.Variable(np.zeros((4, 2), np.float32))}
    path = head_only.write(str(tmp_path / "bare" / "ckpt-1"))
    with pytest.raises(CheckpointError, match="no config.json beside the training checkpoint"):
        registry.get_format("training").read_config(path)


# ---------------------------------------------------------------------------- reconciliation
@pytest.fixture()
def pretrained(tmp_path):
    """data_dir/models/m: a tiny TF1 checkpoint (vocab 13, embedding 32, hidden 64, 2 layers)."""
    make_random_tf1_model(tmp_path / "models" / "m", [f"w{i}" for i in range(8)])
    return tmp_path


def _finetuning_config(data_dir, **hparams):
    from electra_tf.finetuning.hparams import FinetuningConfig

    return FinetuningConfig("m", str(data_dir), task_names=["sst"], **hparams)


def test_reconciliation_takes_the_checkpoint_values_and_names_contradicting_hparams(pretrained):
    from electra_tf.finetuning.model_config import resolve_model_config
    from electra_tf.finetuning import runner

    assert runner.resolve_model_config is resolve_model_config  # the runner uses the moved function
    resolved = resolve_model_config(_finetuning_config(pretrained))
    assert (resolved.vocab_size, resolved.embedding_size, resolved.hidden_size, resolved.num_hidden_layers,
            resolved.intermediate_size, resolved.max_position_embeddings) == (13, 32, 64, 2, 128, 64)
    with pytest.raises(ConfigError, match=r"The hparam vocab_size gives vocab_size=30522, but the checkpoint .* "
                                          r"has vocab_size=13; change the hparam"):
        resolve_model_config(_finetuning_config(pretrained, vocab_size=30522))
    with pytest.raises(ConfigError, match=r"The hparam embedding_size gives embedding_size=128, .*has embedding_size=32"):
        resolve_model_config(_finetuning_config(pretrained, embedding_size=128))
    with pytest.raises(ConfigError, match=r"model_hparam_overrides.hidden_size gives hidden_size=256"):
        resolve_model_config(_finetuning_config(pretrained, model_hparam_overrides={"hidden_size": 256}))
    with pytest.raises(CheckpointError, match="Pre-trained model not found"):
        resolve_model_config(_finetuning_config(pretrained, init_checkpoint=str(pretrained / "missing")))


def test_reconciliation_reads_every_format_alike(pretrained, tmp_path):
    from electra_tf.checkpoints.registry import checkpoint_config, load_pretrained_encoder

    source = str(pretrained / "models" / "m")
    model = et.TFElectraForPreTraining.from_pretrained(source)
    want = checkpoint_config(source)
    for name in registry.writable_names():
        model.save_pretrained(str(tmp_path / name), format=name)
        got = checkpoint_config(str(tmp_path / name))
        assert (got.vocab_size, got.hidden_size, got.embedding_size) == (want.vocab_size, want.hidden_size, want.embedding_size)
        target = et.TFElectraModel(want).build_with_dummy_inputs()
        report = load_pretrained_encoder(target, str(tmp_path / name), want, et.MODEL_CLASSES)
        assert report.newly_initialized == []
        for ref in target.hf_weights():
            np.testing.assert_array_equal(ref.variable.numpy(), model_state(model)["electra." + ref.name])
    # A config file beside a TF1 checkpoint that contradicts its shapes names the value to fix.
    (pretrained / "models" / "m" / "discriminator.json").write_text('{"vocab_size": 99, "embedding_size": 32, '
                                                                   '"hidden_size": 64, "num_hidden_layers": 2, '
                                                                   '"num_attention_heads": 2, "intermediate_size": 128, '
                                                                   '"max_position_embeddings": 64}')
    with pytest.raises(ConfigError, match="says vocab_size=99, but the checkpoint .* has vocab_size=13; set vocab_size to 13"):
        checkpoint_config(source)
