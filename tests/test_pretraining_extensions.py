"""Pre-training extensions beyond the original (defaults keep the original): HF export of both
networks, mixed precision, gradient accumulation, warm start from an HF directory, two-process
multi-worker training, and fine-tuning from the pre-trained discriminator."""

import json
import os

import numpy as np
import pytest

from tests.test_pretraining import E2E, SPECIALS, _run, build_tiny_model, data_dir, tiny_config  # noqa: F401

from electra_tf.pretraining.config import PretrainingConfig


def _tiny_vocab(path, size=61):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(size - 5)]
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


def _keras_logits(model, ids, mask, types):
    """Our Keras networks' outputs: discriminator logits [B, L] and generator logits [B, L, V]."""
    hidden = model.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"]
    disc = model.discriminator_predictions(hidden).numpy()
    body = model._generator_body()
    gen_hidden = body(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"]
    gen = model.generator_predictions(gen_hidden, body.embeddings.word_embeddings.embeddings).numpy()
    return disc, gen


def _torch_logits(directory, cls, ids, mask, types):
    import torch
    import transformers

    net = getattr(transformers, cls).from_pretrained(str(directory)).eval()
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    with torch.no_grad():
        return net(input_ids=t(ids), attention_mask=t(mask), token_type_ids=t(types)).logits.numpy()


# ---------------------------------------------------------------------------- HF export
@pytest.mark.parametrize("changes", [{}, {"untied_generator": False}], ids=["two-networks", "one-network"])
def test_hf_export_of_both_networks_loads_in_transformers(tmp_path, changes):
    """model_dir/hf/discriminator (ElectraForPreTraining) and hf/generator (ElectraForMaskedLM)
    load in transformers and give our Keras networks' logits within 1e-5."""
    from electra_tf.pretraining.export import write_hf_pretrained

    model = build_tiny_model(tiny_config(tmp_path, **changes))
    vocab = _tiny_vocab(tmp_path / "vocab.txt")
    written = write_hf_pretrained(model, str(tmp_path / "out"), vocab_file=vocab)
    assert written == {name: str(tmp_path / "out" / "hf" / name) for name in ("discriminator", "generator")}
    for path in written.values():
        assert {"config.json", "model.safetensors", "vocab.txt"} <= set(os.listdir(path))
        assert not [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".tmp")]  # nothing left behind
    with open(os.path.join(written["generator"], "config.json"), encoding="utf-8") as f:
        gen_config = json.load(f)
    assert gen_config["architectures"] == ["ElectraForMaskedLM"]
    assert gen_config["hidden_size"] == (24 if not changes else 32)

    rng = np.random.default_rng(3)
    ids = rng.integers(5, 61, size=(2, 12)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 8:], ids[1, 8:] = 0, 0
    types = np.zeros_like(ids)
    types[:, 6:] = 1
    disc, gen = _keras_logits(model, ids, mask, types)
    hf_disc = _torch_logits(written["discriminator"], "ElectraForPreTraining", ids, mask, types)
    hf_gen = _torch_logits(written["generator"], "ElectraForMaskedLM", ids, mask, types)
    valid = mask.astype(bool)
    np.testing.assert_allclose(hf_disc[valid], disc[valid], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hf_gen[valid], gen[valid], rtol=1e-5, atol=1e-5)


def test_export_hf_hparam_writes_both_networks_after_training(data_dir):  # noqa: F811
    """"export_hf": true (default false: the original's outputs only) writes the HF folders at the
    end of training; the discriminator equals the TF1 output's."""
    import electra_tf as et

    assert PretrainingConfig("m", str(data_dir)).export_hf is False
    _run(data_dir, "hf_export", dict(E2E, num_train_steps=1, export_hf=True))
    model_dir = data_dir / "models" / "hf_export"
    ids = np.array([[2, 40, 41, 42, 43, 3, 50, 51, 3, 0]], "int32")
    mask, types = (ids > 0).astype("int32"), np.array([[0] * 6 + [1] * 3 + [0]], "int32")
    tf1 = et.TFElectraForPreTraining.from_pretrained(str(model_dir))
    expected = tf1(ids, attention_mask=mask, token_type_ids=types)["logits"].numpy()
    hf = _torch_logits(model_dir / "hf" / "discriminator", "ElectraForPreTraining", ids, mask, types)
    np.testing.assert_allclose(hf[mask > 0], expected[mask > 0], rtol=1e-5, atol=1e-5)
    assert (model_dir / "hf" / "generator" / "model.safetensors").is_file()


# ---------------------------------------------------------------------------- one step on fixed inputs
NO_DROPOUT = {"hidden_size": 32, "num_hidden_layers": 1, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


def _fixed_batch(rows=8, length=32, seed=0):
    """Full-length rows (no padding): every micro-batch has the same number of tokens and masked
    slots, so per-micro-batch normalisation equals whole-batch normalisation."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 2000, size=(rows, length)).astype("int32")
    ids[:, 0], ids[:, -1] = SPECIALS["[CLS]"], SPECIALS["[SEP]"]
    types = np.zeros_like(ids)
    types[:, length // 2:] = 1
    return {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": types}


def _deterministic_draws(model, monkeypatch):
    """Masked positions, [MASK]-or-keep and sampled tokens as functions of each row's ids, so a
    batch and its halves get the same draws (the seeded draws depend on the batch shape)."""
    import tensorflow as tf

    from electra_tf.pretraining import masking

    def mask_inputs(features):
        ids = tf.cast(features["input_ids"], tf.int32)
        n = model.max_predictions
        positions = 1 + (ids[:, 1:n + 1] % 29)  # in [1, 29]: real tokens, repeats possible
        keep = tf.cast(ids[:, 2:n + 2] % 10, tf.float32) / 10.0  # 0.9: kept, else [MASK]
        noise = masking.MaskingNoise(keep_draws=keep, positions=positions)
        return masking.mask(ids, features["input_mask"], features["segment_ids"], mask_prob=model.pconfig.mask_prob,
                            max_predictions=n, mask_id=model.mask_id, special_ids=model.special_ids, noise=noise)

    model.mask_inputs = mask_inputs
    monkeypatch.setattr(masking, "sample_from_logits",
                        lambda logits, noise, temperature=1.0, disallow_ids=None: tf.argmax(logits, -1, output_type=tf.int32))


def _steps(data_dir, name, monkeypatch, steps=1, batch=None, **changes):  # noqa: F811
    """(per-step losses, gradient norms, {TF1 name: weights}) of ``steps`` optimizer steps on the
    fixed batch (train_batch_size 8, no dropout, no warm-up)."""
    import tensorflow as tf

    from electra_tf.pretraining.runner import PretrainingRunner
    from electra_tf.training.engine import TrainingEngine

    hparams = dict(E2E, train_batch_size=8, num_train_steps=10, num_warmup_steps=0, model_hparam_overrides=NO_DROPOUT)
    config = PretrainingConfig(name, str(data_dir), **dict(hparams, **changes))
    runner = PretrainingRunner(config)
    model = runner.build_model(5)
    _deterministic_draws(model, monkeypatch)
    optimizer = runner.make_optimizer(model)
    engine = TrainingEngine(runner.strategy, model, optimizer, per_example_loss=model.per_example_loss,
                            named_weights=model.tf1_weights, accumulation_steps=config.gradient_accumulation_steps)
    micro = config.train_batch_size // config.gradient_accumulation_steps
    dataset = tf.data.Dataset.from_tensor_slices(batch or _fixed_batch()).batch(micro).repeat()
    iterator = iter(runner.strategy.experimental_distribute_dataset(dataset))
    losses, norms = [], []
    for _ in range(steps):
        loss, norm = engine.train_step(iterator)
        losses.append(float(loss) / (model.loss_scale * config.gradient_accumulation_steps))
        norms.append(float(norm))
    return losses, norms, {n: v.numpy().astype(np.float32) for n, v in model.tf1_weights()}


def test_gradient_accumulation_equals_one_larger_batch(data_dir, monkeypatch):  # noqa: F811
    """Two accumulated micro-batches of 4 = one step on the batch of 8 (same losses, gradient norm
    and weights after two optimizer steps)."""
    whole = _steps(data_dir, "acc1", monkeypatch, steps=2)
    accumulated = _steps(data_dir, "acc2", monkeypatch, steps=2, gradient_accumulation_steps=2)
    np.testing.assert_allclose(accumulated[0], whole[0], rtol=1e-5)
    np.testing.assert_allclose(accumulated[1], whole[1], rtol=1e-4)
    assert whole[0][1] < whole[0][0]  # it trained
    for name, value in whole[2].items():
        np.testing.assert_allclose(accumulated[2][name], value, atol=2e-5, rtol=1e-4, err_msg=name)


def test_mixed_bfloat16_step_is_finite_and_close_to_float32(data_dir, monkeypatch):  # noqa: F811
    """A pre-training step under mixed_bfloat16: finite loss within 2 % of float32's, finite
    gradient norm within 10 %, finite weights kept in float32."""
    reference = _steps(data_dir, "f32", monkeypatch, steps=2)
    mixed = _steps(data_dir, "bf16", monkeypatch, steps=2, mixed_precision="mixed_bfloat16")
    assert np.all(np.isfinite(mixed[0])) and np.all(np.isfinite(mixed[1]))
    print("float32", reference[:2], "mixed_bfloat16", mixed[:2])
    np.testing.assert_allclose(mixed[0], reference[0], rtol=2e-2)
    np.testing.assert_allclose(mixed[1], reference[1], rtol=1e-1)
    assert all(np.all(np.isfinite(v)) for v in mixed[2].values())


def test_init_checkpoint_from_hf_discriminator_continues_pretraining(data_dir, tmp_path):  # noqa: F811
    """init_checkpoint = an HF ElectraForPreTraining directory: the discriminator starts from it,
    the generator from fresh random weights (HF directories hold one network), the optimizer from
    zero slots at step 0; pre-training then continues from those weights."""
    import tensorflow as tf

    from electra_tf.pretraining.export import write_hf_pretrained
    from electra_tf.pretraining.runner import PretrainingRunner
    from electra_tf.pretraining.warm_start import load_pretrained_weights

    base = dict(E2E, num_warmup_steps=0, model_hparam_overrides=NO_DROPOUT)
    source = PretrainingRunner(PretrainingConfig("source", str(data_dir), **base)).build_model(11)
    hf_dir = write_hf_pretrained(source, str(tmp_path))["discriminator"]
    released = {n: v.numpy() for n, v in source.tf1_weights()}

    config = PretrainingConfig("warm_hf", str(data_dir), **dict(base, init_checkpoint=hf_dir, num_train_steps=2))
    runner = PretrainingRunner(config)
    fresh = {n: v.numpy() for n, v in runner.build_model(5).tf1_weights()}
    model = runner.build_model(5)
    load_pretrained_weights(model, hf_dir)
    disc_names = {n for n in released if n.startswith(("electra/", "discriminator_predictions/"))}
    for name, variable in model.tf1_weights():
        want = released[name] if name in disc_names else fresh[name]
        np.testing.assert_array_equal(variable.numpy(), want, err_msg=name)
    assert any(not np.array_equal(released[n], fresh[n]) for n in released if n not in disc_names)

    assert runner.train() == 2
    reader = tf.train.load_checkpoint(os.path.join(config.model_dir, "model.ckpt-2"))
    assert int(reader.get_tensor("global_step")) == 2  # the optimizer started at step 0
    # From the HF weights: two Adam steps from zero slots move a weight by at most ~2 * 3.2 * lr
    # (no bias correction: |m / sqrt(v)| <= 0.1 / sqrt(0.001)); random weights differ by ~0.02.
    moved = max(float(np.max(np.abs(reader.get_tensor(n) - released[n]))) for n in disc_names)
    assert 0 < moved <= 7 * config.learning_rate, moved


# ---------------------------------------------------------------------------- multi-worker
@pytest.fixture(scope="module")
def full_rows_dir(tmp_path_factory):
    """<data-dir> with the quick-start vocabulary and 64 records of 32 real tokens (no padding)."""
    import shutil

    import tensorflow as tf

    from tests.test_pretraining import VOCAB

    root = tmp_path_factory.mktemp("full_rows")
    shutil.copyfile(VOCAB, root / "vocab.txt")
    (root / "pretrain_tfrecords").mkdir()
    rows = _fixed_batch(rows=64, seed=4)
    for part in range(2):
        with tf.io.TFRecordWriter(str(root / "pretrain_tfrecords" / f"pretrain_data.tfrecord-{part}-of-2")) as writer:
            for r in range(part * 32, part * 32 + 32):
                feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=rows[k][r].tolist())) for k in rows}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return root


def test_multi_worker_two_processes_equal_one_process(full_rows_dir):
    """MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1 (same global batch, same
    seed) ends with the weights of one process: every worker keeps its share of each global batch
    and of each global-batch draw of the masking and sampling noise. (Each replica normalises its
    losses over its own share, as the original on TPU cores; with rows of equal length, as here,
    that equals the one-process normalisation.)"""
    import subprocess
    import sys

    import tensorflow as tf

    from tests.conftest import ROOT
    from tests.test_distributed import _free_ports

    hparams = dict(E2E, train_batch_size=8, num_train_steps=4, num_warmup_steps=0, model_hparam_overrides=NO_DROPOUT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    env.pop("TF_CONFIG", None)
    _run(full_rows_dir, "mw_one", hparams)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    multi = json.dumps(dict(hparams, distribution_strategy="multi_worker_mirrored"))
    procs = []
    for index in range(2):
        worker_env = dict(env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "run_pretraining.py"), "--data-dir",
                                       str(full_rows_dir), "--model-name", f"mw_{index}", "--hparams", multi],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=worker_env))
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    one = tf.train.load_checkpoint(str(full_rows_dir / "models" / "mw_one" / "model.ckpt-4"))
    multi_worker = tf.train.load_checkpoint(str(full_rows_dir / "models" / "mw_0" / "model.ckpt-4"))
    assert set(multi_worker.get_variable_to_shape_map()) == set(one.get_variable_to_shape_map())
    for name in one.get_variable_to_shape_map():
        if name == "global_step" or name.endswith(("adam_m", "adam_v")):
            continue
        np.testing.assert_allclose(multi_worker.get_tensor(name), one.get_tensor(name), atol=2e-5, rtol=1e-4, err_msg=name)
    assert int(multi_worker.get_tensor("global_step")) == 4
    assert not (full_rows_dir / "models" / "mw_1" / "model.ckpt-4.index").exists()  # the chief writes the outputs
