"""ELECTRA pre-training (run_pretraining.py): config precedence, dynamic masking, loss and gradient
parity with transformers' PyTorch models, exact resume after SIGKILL, the TF1 round trip into
fine-tuning and HF, and a tiny model that learns and whose discriminator transfers."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import ROOT

from electra_tf.errors import ConfigError
from electra_tf.pretraining.config import PretrainingConfig, model_configs

SPECIALS = {"[CLS]": 2, "[SEP]": 3, "[MASK]": 4}  # build_vocab.py's layout
CORPUS = os.path.join(ROOT, "examples", "pretraining_corpus")
VOCAB = os.path.join(ROOT, "examples", "data", "vocab.txt")


# ---------------------------------------------------------------------------- config
def test_config_defaults_and_derived_predictions(tmp_path):
    config = PretrainingConfig("m", str(tmp_path))
    assert config.embedding_size == 128  # small forces 128
    assert config.max_predictions_per_seq == 19  # int(0.155 * 128)
    assert (config.learning_rate, config.disc_weight, config.num_warmup_steps) == (5e-4, 50.0, 10000)
    assert config.model_dir == os.path.join(str(tmp_path), "models", "m")
    assert config.results_txt.endswith(os.path.join("models", "m", "results", "unsup_results.txt"))
    assert config.pretrain_tfrecords == os.path.join(str(tmp_path), "pretrain_tfrecords/pretrain_data.tfrecord*")
    # N comes from the updated mask_prob and max_seq_length: 130 at 512 with 0.25 (§1.2).
    assert PretrainingConfig("m", str(tmp_path), mask_prob=0.25, max_seq_length=512).max_predictions_per_seq == 130


def test_config_max_predictions_not_settable(tmp_path):
    with pytest.raises(ConfigError, match="derived"):
        PretrainingConfig("m", str(tmp_path), max_predictions_per_seq=20)
    with pytest.raises(ConfigError, match="learning_rate"):
        PretrainingConfig("m", str(tmp_path), learning_rat=1e-3)


def test_config_precedence_debug_and_sizes(tmp_path):
    debug = PretrainingConfig("m", str(tmp_path), debug=True)
    assert (debug.train_batch_size, debug.num_train_steps, debug.eval_batch_size, debug.num_eval_steps,
            debug.iterations_per_loop) == (8, 20, 4, 2, 1)
    # explicit hparams beat the debug overrides and the small-size default
    explicit = PretrainingConfig("m", str(tmp_path), debug=True, train_batch_size=16, embedding_size=64)
    assert (explicit.train_batch_size, explicit.num_train_steps, explicit.embedding_size) == (16, 20, 64)
    # the original's commented-out base/large block is not applied
    base = PretrainingConfig("m", str(tmp_path), model_size="base")
    assert (base.embedding_size, base.learning_rate, base.max_seq_length, base.generator_hidden_size) == (None, 5e-4, 128, 0.25)
    disc, gen = model_configs(base)
    assert (disc.hidden_size, disc.embedding_size, gen.hidden_size, gen.num_attention_heads, gen.intermediate_size) == (
        768, 768, 192, 3, 768)
    disc, gen = model_configs(PretrainingConfig("m", str(tmp_path)))
    assert (disc.embedding_size, disc.hidden_size, gen.hidden_size, gen.num_attention_heads, gen.num_hidden_layers) == (
        128, 256, 64, 1, 12)
    paper_base = model_configs(PretrainingConfig("m", str(tmp_path), model_size="base", generator_hidden_size=0.33333))[1]
    assert (paper_base.hidden_size, paper_base.num_attention_heads) == (256, 4)  # round(255.997)
    debug_disc, debug_gen = model_configs(debug)
    assert (debug_disc.hidden_size, debug_disc.num_hidden_layers, debug_gen.hidden_size) == (144, 3, 36)
    assert model_configs(PretrainingConfig("m", str(tmp_path), untied_generator=False))[1] is None


def test_config_refuses_electric_and_bad_modes(tmp_path):
    with pytest.raises(ConfigError, match="electric_objective"):
        PretrainingConfig("m", str(tmp_path), electric_objective=True)
    with pytest.raises(ConfigError, match="two_tower_generator"):
        PretrainingConfig("m", str(tmp_path), two_tower_generator=True)
    with pytest.raises(ConfigError, match="Exactly one of do_train or do_eval"):
        PretrainingConfig("m", str(tmp_path), do_eval=True)
    with pytest.raises(ConfigError, match="train_batch_size"):
        PretrainingConfig("m", str(tmp_path), train_batch_size="128")


# ---------------------------------------------------------------------------- masking
def _batch(rows=400, length=40, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 61, size=(rows, length)).astype("int32")  # includes [UNK]=1, [CLS], [SEP], [MASK]
    mask = np.zeros_like(ids)
    for b in range(rows):
        n = int(rng.integers(3, length + 1))
        ids[b, 0], ids[b, n - 1], ids[b, n:] = 2, 3, 0
        mask[b, :n] = 1
    return ids, mask, np.zeros_like(ids)


def _expected_counts(ids, mask, n=6):
    """k = max(1, min(N, round(n_tok * 0.15))) in float32 with half-to-even rounding; 0 for a row
    without any candidate (the original would divide 0 by 0 there)."""
    n_tok = mask.sum(1).astype(np.float32)
    has_candidate = ((mask == 1) & ~np.isin(ids, [2, 3, 4])).any(1)
    return np.clip(np.rint(n_tok * np.float32(0.15)), 1, n) * has_candidate


def _mask(ids, mask, types, seed=7, without_replacement=False, n=6):
    import keras

    from electra_tf.pretraining import masking

    out = masking.mask(ids, mask, types, mask_prob=0.15, max_predictions=n, mask_id=4, special_ids=(2, 3, 4),
                       seed_generator=keras.random.SeedGenerator(seed), without_replacement=without_replacement)
    return {k: np.asarray(getattr(out, k)) for k in ("input_ids", "masked_lm_positions", "masked_lm_ids", "masked_lm_weights")}


def test_masking_rules_with_replacement():
    ids, mask, types = _batch()
    out = _mask(ids, mask, types)
    weights, positions = out["masked_lm_weights"], out["masked_lm_positions"]
    expected_k = _expected_counts(ids, mask)
    np.testing.assert_array_equal(weights.sum(1), expected_k)
    np.testing.assert_array_equal(weights, (np.arange(6)[None] < expected_k[:, None]).astype(np.float32))
    used = weights > 0
    rows = np.repeat(np.arange(len(ids))[:, None], 6, 1)
    chosen = ids[rows[used], positions[used]]
    assert mask[rows[used], positions[used]].all() and not np.isin(chosen, [2, 3, 4]).any()  # never CLS/SEP/MASK/pad
    assert (positions[~used] == 0).all() and (out["masked_lm_ids"][~used] == 0).all()
    np.testing.assert_array_equal(out["masked_lm_ids"][used], chosen)
    # only [MASK] or the original token at masked positions (no random tokens); the rest unchanged
    changed = out["input_ids"] != ids
    assert (out["input_ids"][changed] == 4).all()
    selected = np.zeros_like(ids, bool)
    selected[rows[used], positions[used]] = True
    assert not changed[~selected].any()
    # 85 % [MASK] / 15 % kept, over slots whose position is drawn once
    single = [(b, p) for b in range(len(ids)) for p in set(positions[b][used[b]]) if list(positions[b][used[b]]).count(p) == 1]
    masked_fraction = np.mean([out["input_ids"][b, p] == 4 for b, p in single])
    assert len(single) > 1000 and abs(masked_fraction - 0.85) < 0.03, (len(single), masked_fraction)
    # drawn with replacement: repeated positions within a sequence happen (#41)
    dup_rows = sum(len(set(positions[b][used[b]])) < used[b].sum() for b in range(len(ids)))
    assert dup_rows > 0.05 * len(ids), dup_rows
    # deterministic given the seed, different with another seed
    again = _mask(ids, mask, types)
    for key in out:
        np.testing.assert_array_equal(out[key], again[key])
    assert not np.array_equal(_mask(ids, mask, types, seed=8)["masked_lm_positions"], positions)


def test_masking_without_replacement_option():
    ids, mask, types = _batch(rows=300)
    out = _mask(ids, mask, types, without_replacement=True)
    weights, positions = out["masked_lm_weights"], out["masked_lm_positions"]
    used = weights > 0
    for b in range(len(ids)):
        chosen = positions[b][used[b]]
        assert len(set(chosen)) == len(chosen)
        assert mask[b, chosen].all() and not np.isin(ids[b, chosen], [2, 3, 4]).any()
    np.testing.assert_array_equal(weights.sum(1), _expected_counts(ids, mask))


def test_count_formula_and_scatter_floor_average():
    import tensorflow as tf

    from electra_tf.pretraining import masking

    # float32 like the original: 190 * 0.15 rounds to 29 (float64 would give 28); 2.5 rounds to 2.
    assert int(masking.num_to_predict(tf.ones([1, 190], tf.int32), 0.15, 1000)[0]) == 29
    assert int(masking.num_to_predict(tf.ones([1, 10], tf.int32), 0.25, 1000)[0]) == 2
    assert int(masking.num_to_predict(tf.ones([1, 2], tf.int32), 0.15, 1000)[0]) == 1  # at least one
    seq = tf.constant([[5, 6, 7, 8, 9]])
    updated, where = masking.scatter_update(seq, tf.constant([[10, 13, 20, 50]]), tf.constant([[3, 3, 1, 0]]))
    np.testing.assert_array_equal(updated.numpy(), [[5, 20, 7, 11, 9]])  # floor((10 + 13) / 2), column 0 untouched
    np.testing.assert_array_equal(where.numpy(), [[0, 1, 0, 1, 0]])


# ---------------------------------------------------------------------------- model pieces
def tiny_config(tmp_path, **changes):
    hparams = dict(model_size="small", model_hparam_overrides={"hidden_size": 32, "num_hidden_layers": 2,
                                                               "max_position_embeddings": 64},
                   embedding_size=16, vocab_size=61, max_seq_length=12, generator_hidden_size=0.75, seed=3)
    hparams.update(changes)
    return PretrainingConfig("tiny", str(tmp_path), **hparams)


def build_tiny_model(config, perturb=True):
    import keras

    from electra_tf.pretraining.model import PretrainingModel

    keras.utils.set_random_seed(0)
    disc, gen = model_configs(config)
    disc, gen = disc.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), gen and gen.replace(
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = PretrainingModel(config, disc, gen, SPECIALS, seed=1).build_for(config.max_seq_length)
    if perturb:  # non-trivial LayerNorms and biases
        rng = np.random.default_rng(0)
        for _, variable in model.tf1_weights():
            variable.assign(variable.numpy() + 0.05 * rng.standard_normal(variable.shape).astype("float32"))
    return model


def test_weight_names_are_the_originals(tmp_path):
    model = build_tiny_model(tiny_config(tmp_path), perturb=False)
    names = [n for n, _ in model.tf1_weights()]
    assert len(names) == len(set(names))
    for expected in ("electra/embeddings/word_embeddings", "electra/embeddings/LayerNorm/gamma",
                     "electra/embeddings_project/kernel", "electra/encoder/layer_1/attention/self/query/kernel",
                     "generator/embeddings_project/kernel", "generator/encoder/layer_1/output/LayerNorm/beta",
                     "generator_predictions/dense/kernel", "generator_predictions/LayerNorm/gamma",
                     "generator_predictions/output_bias", "discriminator_predictions/dense/kernel",
                     "discriminator_predictions/dense_1/kernel"):
        assert expected in names, expected
    assert not any(n.startswith("generator/embeddings/") for n in names)  # the generator shares them
    # the generator's embedding block IS the discriminator's
    assert model.generator.embeddings is model.electra.embeddings
    shapes = dict((n, tuple(v.shape)) for n, v in model.tf1_weights())
    assert shapes["generator/embeddings_project/kernel"] == (16, 24)
    assert shapes["generator_predictions/dense/kernel"] == (24, 16)
    untied = build_tiny_model(tiny_config(tmp_path, untied_generator_embeddings=True), perturb=False)
    untied_names = [n for n, _ in untied.tf1_weights()]
    assert "generator/embeddings/word_embeddings" in untied_names and "generator/embeddings_project/kernel" not in untied_names
    one = build_tiny_model(tiny_config(tmp_path, untied_generator=False), perturb=False)
    one_names = [n for n, _ in one.tf1_weights()]
    assert not any(n.startswith("generator/") for n in one_names) and "generator_predictions/dense/kernel" in one_names


def _floor_average_scatter(ids, updates, positions):
    """The original's scatter_update, written out plainly."""
    out = ids.copy()
    changed = np.zeros_like(ids)
    for b in range(ids.shape[0]):
        by_position = {}
        for value, p in zip(updates[b], positions[b]):
            by_position.setdefault(int(p), []).append(int(value))
        for p, values in by_position.items():
            if p != 0:
                out[b, p] = sum(values) // len(values)
                changed[b, p] = 1
    return out, changed


def test_losses_and_gradients_match_transformers(tmp_path):
    import tensorflow as tf
    import torch
    import transformers

    from electra_tf.checkpoints.hf import keras_layout_to_torch
    from electra_tf.pretraining.masking import MaskedInputs

    config = tiny_config(tmp_path)
    model = build_tiny_model(config)
    rng = np.random.default_rng(1)
    B, L = 3, 12
    ids = rng.integers(5, 61, size=(B, L)).astype("int32")
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for b, n in enumerate((12, 10, 7)):
        ids[b, 0], ids[b, n - 1], ids[b, n:] = 2, 3, 0
        mask[b, :n] = 1
        types[b, n // 2:n] = 1
    positions = np.array([[3, 5, 3, 8, 0], [1, 4, 6, 0, 0], [2, 2, 5, 1, 0]], "int32")  # repeated 3 and 2
    weights = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], "float32")
    lm_ids = ids[np.arange(B)[:, None], positions] * weights.astype("int32")
    keep = np.array([[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], bool)  # the 15 % left unmasked
    masked_ids = ids.copy()
    for b in range(B):
        for j in range(5):
            if weights[b, j] and not keep[b, j]:
                masked_ids[b, positions[b, j]] = 4
    sampled = np.array([[17, 30, 20, 19, 9], [ids[1, 1], 44, 45, 7, 7], [40, 41, 12, 33, 5]], "int32")
    corrupted, changed = _floor_average_scatter(ids, sampled, positions)
    labels = changed * (corrupted != ids)
    assert corrupted[0, 3] == (17 + 20) // 2 and labels[1, 1] == 0  # floor average; a correct sample is "real"

    masked = MaskedInputs(tf.constant(masked_ids), tf.constant(mask), tf.constant(types), tf.constant(positions),
                          tf.constant(lm_ids), tf.constant(weights))
    features = {"input_ids": tf.constant(ids), "input_mask": tf.constant(mask), "segment_ids": tf.constant(types)}
    variables = [v for _, v in model.tf1_weights()]
    with tf.GradientTape() as tape:
        out = model.forward(features, masked=masked, sampled_ids=tf.constant(sampled), training=False)
    grads = dict(zip([id(v) for v in variables], tape.gradient(out["total_loss"], variables)))
    np.testing.assert_array_equal(out["fake_input_ids"].numpy(), corrupted)
    np.testing.assert_array_equal(out["disc_labels"].numpy(), labels)

    def torch_model(cls, cfg, refs):
        hf_cfg = transformers.ElectraConfig(
            vocab_size=cfg.vocab_size, embedding_size=cfg.embedding_size, hidden_size=cfg.hidden_size,
            num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
            intermediate_size=cfg.intermediate_size, hidden_act="gelu", max_position_embeddings=cfg.max_position_embeddings,
            type_vocab_size=2, layer_norm_eps=cfg.layer_norm_eps, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        torch.manual_seed(0)
        net = getattr(transformers, cls)(hf_cfg).double()
        state = keras_layout_to_torch({r.name: r.variable.numpy() for r in refs}, [r.name for r in refs if r.is_kernel])
        missing, unexpected = net.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in state.items()},
                                                  strict=False)
        assert not unexpected and set(missing) <= {"generator_lm_head.weight", "electra.embeddings.position_ids"}
        net.eval()
        return net

    gen = torch_model("ElectraForMaskedLM", model.gen_config, model.generator_refs())
    disc = torch_model("ElectraForPreTraining", model.disc_config, model.discriminator_refs())
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    logits = gen(input_ids=t(masked_ids), attention_mask=t(mask), token_type_ids=t(types)).logits
    slot_logits = logits[torch.arange(B)[:, None], t(positions)]  # [B, N, V]
    nll = -torch.log_softmax(slot_logits, -1).gather(-1, t(lm_ids)[..., None])[..., 0]
    w = torch.tensor(weights, dtype=torch.float64)
    mlm = (w * nll).sum() / (w.sum() + 1e-6)
    disc_loss = disc(input_ids=t(corrupted), attention_mask=t(mask), token_type_ids=t(types), labels=t(labels)).loss
    total = config.gen_weight * mlm + config.disc_weight * disc_loss
    total.backward()

    for ours, ref in ((out["mlm_loss_total"], mlm.item()), (out["disc_loss_total"], disc_loss.item()),
                      (out["total_loss"], total.item())):
        assert abs(float(ours) - float(ref)) <= 1e-5 * abs(float(ref)), (float(ours), float(ref))
    assert abs(float(np.sum(out["loss_contribution"].numpy())) - total.item()) <= 1e-5 * total.item()

    # gradients of one step: every weight; the shared embeddings get both networks' gradients
    ref_grads = {}
    for net, refs in ((disc, model.discriminator_refs()), (gen, model.generator_refs())):
        params = dict(net.named_parameters())
        for ref in refs:
            g = params[ref.name].grad.numpy()
            g = g.T if ref.is_kernel else g
            ref_grads[id(ref.variable)] = ref_grads.get(id(ref.variable), 0) + g
    assert set(ref_grads) == set(grads)
    for name, variable in model.tf1_weights():
        ours = tf.convert_to_tensor(grads[id(variable)]).numpy()
        ref = ref_grads[id(variable)]
        scale = max(np.abs(ref).max(), 1e-3)
        assert np.abs(ours - ref).max() <= 1e-4 * scale, (name, np.abs(ours - ref).max(), scale)


# ---------------------------------------------------------------------------- end to end
E2E = {"model_size": "small", "model_hparam_overrides": {"hidden_size": 64, "num_hidden_layers": 2},
       "embedding_size": 32, "vocab_size": 2000, "max_seq_length": 32, "train_batch_size": 16, "eval_batch_size": 32,
       "learning_rate": 1e-3, "num_warmup_steps": 10, "seed": 5, "progress": False, "log_every_steps": 50}
E2E_STEPS = 150


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """<data-dir> with the quick-start vocab and records of 32 tokens built from the quick-start corpus."""
    from electra_tf.pretraining.dataset import BuildOptions, Progress, build_pretraining_dataset

    root = tmp_path_factory.mktemp("pretrain_data")
    shutil.copyfile(VOCAB, root / "vocab.txt")
    options = BuildOptions(max_seq_length=32, blanks_separate_docs=False, num_out_files=3, seed=1)
    with open(os.devnull, "w") as sink:
        build_pretraining_dataset(CORPUS, str(root / "vocab.txt"), str(root / "pretrain_tfrecords"), 1, options,
                                  Progress(stream=sink))
    return root


def _run(data_dir, name, hparams):
    import json

    import run_pretraining

    assert run_pretraining.main(["--data-dir", str(data_dir), "--model-name", name, "--hparams", json.dumps(hparams)]) == 0


def _tf1_arrays(directory):
    import tensorflow as tf

    from electra_tf.checkpoints.tf1 import resolve_checkpoint_prefix

    reader = tf.train.load_checkpoint(resolve_checkpoint_prefix(str(directory)))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _saved(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith(".index")) if directory.is_dir() else []


@pytest.fixture(scope="module")
def runs(data_dir):
    """Three runs of one command: "killed" (a subprocess SIGKILLed after its first checkpoint, then
    the same command again, which resumes) and "straight" (uninterrupted)."""
    import json

    hparams = dict(E2E, num_train_steps=E2E_STEPS, save_checkpoints_steps=10)
    killed_dir = data_dir / "models" / "killed"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "run_pretraining.py"), "--data-dir", str(data_dir),
                             "--model-name", "killed", "--hparams", json.dumps(hparams)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None and not _saved(killed_dir / "training_checkpoints"):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed = {"returncode": proc.returncode, "saved": _saved(killed_dir / "training_checkpoints"),
              "finished": (killed_dir / f"model.ckpt-{E2E_STEPS}.index").exists()}
    _run(data_dir, "killed", hparams)  # the same command again: resumes
    _run(data_dir, "straight", hparams)
    return {"hparams": hparams, "killed": killed}


def test_kill_and_resume_equals_uninterrupted_run(data_dir, runs):
    killed = runs["killed"]
    assert killed["returncode"] == -signal.SIGKILL
    assert killed["saved"] and f"ckpt-{E2E_STEPS}.index" not in killed["saved"] and not killed["finished"], killed
    resumed, straight = _tf1_arrays(data_dir / "models" / "killed"), _tf1_arrays(data_dir / "models" / "straight")
    assert set(resumed) == set(straight) and int(resumed["global_step"]) == E2E_STEPS
    assert any(name.endswith("/adam_m") for name in resumed)
    for name, value in straight.items():
        np.testing.assert_allclose(resumed[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_tf1_output_finetunes_and_exports_to_hf(data_dir, runs, tmp_path):
    """The resumed run's TF1 output: its discriminator through our HF export equals the trained
    model, and run_finetuning.py --model-name <same name> fine-tunes it."""
    import json

    import torch
    import transformers

    import electra_tf as et
    import run_finetuning
    from electra_tf.pretraining.runner import PretrainingRunner
    from electra_tf.training.checkpointing import restore_weights

    model_dir = data_dir / "models" / "killed"
    config = PretrainingConfig("killed", str(data_dir), **runs["hparams"])
    runner = PretrainingRunner(config)
    trained = runner.build_model(5)
    assert restore_weights(trained, config.training_dir, trained.tf1_weights) == E2E_STEPS
    ids = np.array([[2, 40, 41, 42, 43, 44, 3, 50, 51, 3, 0, 0]], "int32")
    mask, types = (ids > 0).astype("int32"), np.array([[0] * 7 + [1] * 3 + [0] * 2], "int32")
    hidden = trained.electra(ids, attention_mask=mask, token_type_ids=types)["last_hidden_state"]
    expected = trained.discriminator_predictions(hidden).numpy()

    keras_disc = et.TFElectraForPreTraining.from_pretrained(str(model_dir))
    np.testing.assert_allclose(keras_disc(ids, attention_mask=mask, token_type_ids=types)["logits"].numpy(), expected,
                               rtol=1e-5, atol=1e-5)
    keras_disc.save_pretrained(str(tmp_path / "hf"), format="hf")
    hf = transformers.ElectraForPreTraining.from_pretrained(str(tmp_path / "hf")).eval()
    with torch.no_grad():
        logits = hf(input_ids=torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask, dtype=torch.long),
                    token_type_ids=torch.tensor(types, dtype=torch.long)).logits.numpy()
    valid = mask.astype(bool)
    np.testing.assert_allclose(logits[valid], expected[valid], rtol=1e-4, atol=1e-4)

    sst = data_dir / "finetuning_data" / "sst"
    sst.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", 161), ("dev", 65)):  # a header line and a few examples: fast
        with open(os.path.join(ROOT, "examples", "data", "finetuning_data", "sst", f"{split}.tsv"), encoding="utf-8") as f:
            (sst / f"{split}.tsv").write_text("".join(f.readlines()[:rows]), encoding="utf-8")
    hparams = {"task_names": ["sst"], "max_seq_length": 32, "num_train_epochs": 1.0, "train_batch_size": 32,
               "do_test": False, "seed": 1, "progress": False}
    assert run_finetuning.main(["--data-dir", str(data_dir), "--model-name", "killed", "--hparams", json.dumps(hparams)]) == 0
    with open(model_dir / "results" / "sst_results.json", encoding="utf-8") as f:
        results = json.load(f)
    assert "accuracy" in json.dumps(results)


def test_intermediate_training_checkpoint_loads_like_the_export(data_dir, runs):
    """Any training_checkpoints/ckpt-N of a pre-training run loads with no config or size given (the
    run folder's discriminator.json, the original's name mapping): the last one equals the run's
    TF1 export, an earlier one differs, and a task model takes it as its encoder."""
    import electra_tf as et

    run_dir = data_dir / "models" / "straight"
    saved = _saved(run_dir / "training_checkpoints")
    last, earlier = (str(run_dir / "training_checkpoints" / name[: -len(".index")]) for name in (saved[-1], saved[0]))
    assert last.endswith(f"ckpt-{E2E_STEPS}")
    ids = np.array([[2, 40, 41, 42, 43, 3, 0, 0]], "int32")
    mask = (ids > 0).astype("int32")
    export = et.TFElectraForPreTraining.from_pretrained(str(run_dir))(ids, attention_mask=mask)["logits"].numpy()
    at_last = et.TFElectraForPreTraining.from_pretrained(last)(ids, attention_mask=mask)["logits"].numpy()
    np.testing.assert_array_equal(at_last, export)
    at_earlier = et.TFElectraForPreTraining.from_pretrained(earlier)(ids, attention_mask=mask)["logits"].numpy()
    assert not np.allclose(at_earlier, export)
    classifier = et.TFElectraForSequenceClassification.from_pretrained(earlier, num_labels=2)
    assert classifier.config.hidden_size == E2E["model_hparam_overrides"]["hidden_size"]
    assert classifier(ids, attention_mask=mask)["logits"].shape == (1, 2)


def test_tiny_model_learns(data_dir, runs):
    """masked_lm_accuracy and disc_auc rise clearly above their values at initialisation (the
    uninterrupted run against the same model before its first step)."""
    from electra_tf.pretraining.runner import PretrainingRunner

    config = PretrainingConfig("straight", str(data_dir), **dict(runs["hparams"], num_eval_steps=8))
    runner = PretrainingRunner(config)
    before = runner.evaluate(model=runner.build_model(5), seed=5)
    after = runner.evaluate(seed=5)
    print("before", before, "\nafter", after)
    assert after["masked_lm_accuracy"] > before["masked_lm_accuracy"] + 0.03, (before, after)
    assert after["disc_auc"] > before["disc_auc"] + 0.05, (before, after)
    assert after["masked_lm_loss"] < before["masked_lm_loss"] - 1.0, (before, after)
    with open(config.results_txt, encoding="utf-8") as f:
        lines = dict(line.split(": ") for line in f.read().splitlines())
    assert set(lines) >= {"masked_lm_accuracy", "masked_lm_loss", "sampled_masked_lm_accuracy", "disc_loss", "disc_auc",
                          "disc_accuracy", "disc_precision", "disc_recall", "loss", "global_step"}
    assert lines["global_step"] == str(E2E_STEPS)


def _word_frequency_task(directory, n=200):
    """A held-out-word task: is a word among the ``n`` most frequent or the ``n`` rarest whole-word
    tokens of the pre-training corpus (each seen at least once)? Train and dev share no word, so a
    randomly initialised model has nothing to go on for a dev word (its embedding is random noise),
    while pre-training, whose first lesson is how often each token occurs, put that in the
    embeddings. Written as a generic TSV task with ``n`` * 1.2 training and ``n`` * 0.8 dev words."""
    import collections
    import random

    from electra_tf.text.tokenizer import FullTokenizer

    tokenizer = FullTokenizer(VOCAB, do_lower_case=True)
    lines = []
    for name in sorted(os.listdir(CORPUS)):
        with open(os.path.join(CORPUS, name), encoding="utf-8") as f:
            lines += [line for line in f.read().splitlines() if line.strip()]
    counts = collections.Counter(token for tokens in tokenizer.tokenize_batch(lines) for token in tokens)
    with open(VOCAB, encoding="utf-8") as f:
        words = [w for w in f.read().splitlines() if w.isalpha() and w.islower() and counts[w] > 0]
    words.sort(key=lambda w: (-counts[w], w))
    assert counts[words[n - 1]] >= 5 * counts[words[-n]]  # two clearly separated groups
    examples = [(w, "common") for w in words[:n]] + [(w, "rare") for w in words[-n:]]
    random.Random(0).shuffle(examples)
    cut = len(examples) * 6 // 10
    directory.mkdir(parents=True, exist_ok=True)
    for split, chosen in (("train", examples[:cut]), ("dev", examples[cut:])):
        (directory / f"{split}.tsv").write_text("word\tlabel\n" + "".join(f"{w}\t{label}\n" for w, label in chosen),
                                               encoding="utf-8")


def test_finetuning_from_the_pretrained_discriminator_beats_random_init(data_dir, runs):
    """The mechanism of transfer, on a task where pre-training must help: the held-out-word
    frequency task above, fine-tuned (one seed each, to keep the suite fast) from the 150-step tiny
    discriminator and from random initialisation of the same shape ("init_checkpoint": null).
    Measured on 2 cores with 3 seeds each: 93.1 (91.3-95.0) against 50.6 (48.1-51.9) dev accuracy;
    fine-tuning that did not load the pre-trained weights would score like the random-init model.
    Transfer on real sentence tasks is measured by bench/pretraining_transfer.py (docs/pretraining.md)."""
    import json

    import run_finetuning

    _word_frequency_task(data_dir / "finetuning_data" / "wordfreq")
    scores = {}
    for init in ("pretrained", "random"):
        results = data_dir / f"wordfreq_{init}.txt"
        hparams = {"task_names": ["wordfreq"], "max_seq_length": 8, "train_batch_size": 16, "learning_rate": 1e-3,
                   "num_train_epochs": 3, "seed": 1, "num_trials": 1, "do_test": False, "progress": False,
                   "overwrite_model_dir": True, "results_txt": str(results), "results_pkl": str(results) + ".pkl",
                   "task_config": {"wordfreq": {"type": "tsv", "files": {"train": "train.tsv", "dev": "dev.tsv"},
                                                "text_a": "word", "label": "label"}}}
        if init == "random":
            hparams["init_checkpoint"] = None
        assert run_finetuning.main(["--data-dir", str(data_dir), "--model-name", "straight",
                                    "--hparams", json.dumps(hparams)]) == 0
        with open(str(results).replace(".txt", ".json"), encoding="utf-8") as f:
            scores[init] = json.load(f)["summary"]["wordfreq"]["accuracy"]
    print(scores)
    pretrained, random_init = scores["pretrained"], scores["random"]
    assert pretrained["mean"] >= 80 and random_init["mean"] <= 65, scores
    assert pretrained["mean"] - random_init["mean"] >= 25, scores


def test_disc_auc_is_tf1_auc_on_masked_probabilities():
    """200-threshold trapezoidal ROC AUC over labels*mask and probs*mask (padding = negatives)."""
    from sklearn.metrics import roc_auc_score

    from electra_tf.pretraining.metrics import PretrainingMetrics

    rng = np.random.default_rng(0)
    labels = (rng.random((64, 32)) < 0.15).astype(int)
    probs = 1 / (1 + np.exp(-(labels + rng.normal(0, 1, labels.shape) - 1.5)))
    mask = np.ones_like(labels)
    mask[:, 28:] = 0
    zeros = np.zeros((64, 2))
    metrics = PretrainingMetrics()
    metrics.update({"masked_lm_weights": np.ones((64, 2)), "masked_lm_ids": zeros, "masked_lm_preds": zeros,
                    "mlm_loss": zeros, "sampled_tokids": zeros, "disc_loss": np.full(64, 0.5), "input_mask": mask,
                    "disc_labels": labels, "disc_preds": (probs > 0.5).astype(int), "disc_probs": probs}, 1.0)
    results = metrics.results()
    assert abs(results["disc_auc"] - roc_auc_score((labels * mask).ravel(), (probs * mask).ravel())) < 2e-3
    assert results["disc_loss"] == 0.5 and results["masked_lm_accuracy"] == 1.0
    preds = (probs > 0.5).astype(int)
    m = mask.astype(bool)
    assert abs(results["disc_recall"] - preds[m & (labels == 1)].mean()) < 1e-9
    assert abs(results["disc_precision"] - labels[m & (preds == 1)].mean()) < 1e-9


def test_init_checkpoint_warm_starts_both_networks(data_dir, runs):
    """init_checkpoint (our extension, google-research/electra#103): a released-style TF1 checkpoint
    (here the finished run's) loads into both networks of a new run."""
    from electra_tf.pretraining.runner import PretrainingRunner
    from electra_tf.pretraining.warm_start import load_pretrained_weights

    source = data_dir / "models" / "straight"
    config = PretrainingConfig("warm", str(data_dir), **dict(runs["hparams"], init_checkpoint=str(source)))
    model = PretrainingRunner(config).build_model(9)
    arrays = _tf1_arrays(source)
    assert any(not np.array_equal(v.numpy(), arrays[n]) for n, v in model.tf1_weights())
    load_pretrained_weights(model, str(source))
    for name, variable in model.tf1_weights():
        np.testing.assert_array_equal(variable.numpy(), arrays[name], err_msg=name)


def test_pretraining_schedule_and_mixed_precision_head():
    """lr = lr0 * (1 - t/T)^lr_decay_power * min(1, t/num_warmup_steps); the generator head keeps
    float32 logits under mixed_float16 (its output bias is not autocast)."""
    import keras
    import tensorflow as tf

    from electra_tf.config import ElectraConfig
    from electra_tf.modeling.heads import GeneratorPredictions
    from electra_tf.training.optimization import learning_rate_at

    for t in (0, 5, 10, 40, 100):
        want = 5e-4 * (1 - t / 100) ** 2 * min(1.0, t / 10)
        assert abs(float(learning_rate_at(t, 5e-4, 100, 0.0, warmup_steps=10, decay_power=2.0)) - want) < 1e-9
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    config = ElectraConfig(vocab_size=11, embedding_size=4, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                           intermediate_size=8)
    head = GeneratorPredictions(config)
    logits = head(tf.ones([2, 3, 8], tf.float16), tf.ones([11, 4], tf.float16))
    assert logits.dtype == tf.float32 and tuple(logits.shape) == (2, 3, 11)


ONE_TRAINING_STEP = """
import tempfile
import electra_tf  # noqa: F401  (oneDNN on, before TensorFlow is imported)
import numpy as np
import tensorflow as tf
from electra_tf.pretraining.config import PretrainingConfig, model_configs
from electra_tf.pretraining.model import PretrainingModel
from electra_tf.training.loop import Trainer
from electra_tf.training.optimization import AdamWeightDecay

config = PretrainingConfig("tiny", tempfile.mkdtemp(), model_size="small", embedding_size=16, vocab_size=61,
                           model_hparam_overrides={"hidden_size": 32, "num_hidden_layers": 1}, max_seq_length=12)
model = PretrainingModel(config, *model_configs(config), {"[CLS]": 2, "[SEP]": 3, "[MASK]": 4}, seed=1).build_for(12)
pairs = model.tf1_weights()
optimizer = AdamWeightDecay([v for _, v in pairs], [n for n, _ in pairs], base_lr=1e-3, num_train_steps=10)
trainer = Trainer(tf.distribute.get_strategy(), model, optimizer, [v for _, v in pairs])
ids = np.random.default_rng(0).integers(5, 61, size=(4, 12)).astype("int32")
batch = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}
iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
loss, _ = trainer.train_step(iterator)
print("loss", float(loss))
graph = trainer._train_step.get_concrete_function(iterator).graph.as_graph_def()
nodes = list(graph.node) + [node for function in graph.library.function for node in function.node_def]
integer = (tf.int32.as_datatype_enum, tf.int64.as_datatype_enum)
print("integer transposes:", [n.name for n in nodes if n.op == "Transpose" and n.attr["T"].type in integer])
"""


def test_training_step_logs_no_onednn_dtype_error():
    """With oneDNN on (electra_tf's default on x86-64), an integer Transpose in the step makes TensorFlow
    log "E ... oneDNN supports DT_INT64 only on platforms with AVX-512" on AVX2-only CPUs when the step
    is built; the generator's gather of the masked positions (heads.gather_positions) made one. Other
    CPUs log nothing either way, so the step's graph is checked for integer Transposes too."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", PYTHONPATH=ROOT)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # electra_tf's default, as in the commands
    done = subprocess.run([sys.executable, "-c", ONE_TRAINING_STEP], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "loss" in done.stdout, done.stderr[-3000:]
    assert "only on platforms with AVX-512" not in done.stderr, done.stderr[-3000:]
    assert "integer transposes: []" in done.stdout, done.stdout


# ---------------------------------------------------------------------------- hparams vs checkpoint
def _training_checkpoint_of(model, directory):
    from electra_tf.training.checkpointing import training_checkpoint

    return training_checkpoint(model, named_weights=model.tf1_weights).write(os.path.join(str(directory), "ckpt-1"))


def test_checkpoint_of_other_hparams_names_them(tmp_path):
    """A training checkpoint of other model hparams is one ConfigError naming each differing hparam,
    its value in the checkpoint and the hparams to pass (TensorFlow's restore failed with a shape
    error, or for fewer layers silently evaluated part of the model)."""
    import json

    from electra_tf.pretraining.compatibility import check_training_checkpoint

    saved = build_tiny_model(tiny_config(tmp_path), perturb=False)
    prefix = _training_checkpoint_of(saved, tmp_path / "a")
    check_training_checkpoint(build_tiny_model(tiny_config(tmp_path), perturb=False), prefix)  # same hparams: quiet
    fewer_layers = tiny_config(tmp_path, model_hparam_overrides={"hidden_size": 32, "num_hidden_layers": 1,
                                                                 "max_position_embeddings": 64})
    with pytest.raises(ConfigError) as error:
        check_training_checkpoint(build_tiny_model(fewer_layers, perturb=False), prefix)
    message = str(error.value)
    assert "num_hidden_layers is 2 in the checkpoint, 1 here" in message and prefix in message
    assert "generator_layers" not in message  # the generator follows the discriminator's layers: not a cause
    fix = json.loads(message.split("(here: ")[1].split("), or another")[0])
    assert fix == {"model_hparam_overrides": {"hidden_size": 32, "num_hidden_layers": 2, "max_position_embeddings": 64}}
    other = tiny_config(tmp_path, embedding_size=8, generator_hidden_size=0.5, untied_generator_embeddings=True)
    with pytest.raises(ConfigError) as error:
        check_training_checkpoint(build_tiny_model(other, perturb=False), prefix)
    message = str(error.value)
    assert "embedding_size is 16 in the checkpoint, 8 here" in message
    assert "generator_hidden_size 0.75, here 0.5" in message and "untied_generator_embeddings" in message
    fix = json.loads(message.split("(here: ")[1].split("), or another")[0])
    assert fix == {"untied_generator_embeddings": False, "embedding_size": 16, "generator_hidden_size": 0.75}


def test_evaluating_with_other_hparams_is_one_error(data_dir, runs, capsys):
    """run_pretraining.py with do_train false and another model size: exit 2 and one error line
    naming hidden_size and the value to pass (no traceback)."""
    import json

    import run_pretraining

    hparams = dict(runs["hparams"], do_train=False, do_eval=True, num_eval_steps=1,
                   model_hparam_overrides={"hidden_size": 32, "num_hidden_layers": 2})
    code = run_pretraining.main(["--data-dir", str(data_dir), "--model-name", "straight", "--hparams", json.dumps(hparams)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    line = next(line for line in err.splitlines() if line.startswith("error: "))
    assert "hidden_size is 64 in the checkpoint, 32 here" in line
    assert '"model_hparam_overrides": {"hidden_size": 64, "num_hidden_layers": 2}' in line
