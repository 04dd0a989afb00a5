"""Synthetic original-TF1 ELECTRA checkpoints, written with the exact original variable names.

The names are spelled out here from google-research/electra (model/modeling.py,
run_pretraining.py, finetune/*) independently of electra_tf's own name mapping, so the
converter is tested against the original layout and not against itself.
"""

import json
import os

import numpy as np


def _encoder_vars(scope, L, H, I, rng):
    out = {}
    for i in range(L):
        p = f"{scope}/encoder/layer_{i}"
        for proj in ("query", "key", "value"):
            out[f"{p}/attention/self/{proj}/kernel"] = rng.normal(0, 0.1, (H, H))
            out[f"{p}/attention/self/{proj}/bias"] = rng.normal(0, 0.05, (H,))
        out[f"{p}/attention/output/dense/kernel"] = rng.normal(0, 0.1, (H, H))
        out[f"{p}/attention/output/dense/bias"] = rng.normal(0, 0.05, (H,))
        out[f"{p}/attention/output/LayerNorm/gamma"] = 1 + rng.normal(0, 0.1, (H,))
        out[f"{p}/attention/output/LayerNorm/beta"] = rng.normal(0, 0.05, (H,))
        out[f"{p}/intermediate/dense/kernel"] = rng.normal(0, 0.1, (H, I))
        out[f"{p}/intermediate/dense/bias"] = rng.normal(0, 0.05, (I,))
        out[f"{p}/output/dense/kernel"] = rng.normal(0, 0.1, (I, H))
        out[f"{p}/output/dense/bias"] = rng.normal(0, 0.05, (H,))
        out[f"{p}/output/LayerNorm/gamma"] = 1 + rng.normal(0, 0.1, (H,))
        out[f"{p}/output/LayerNorm/beta"] = rng.normal(0, 0.05, (H,))
    return out


def original_variables(V=53, E=16, H=32, L=2, I=48, P=40, gen_H=16, generator=True, adam=True,
                       task_heads=None, seed=0):
    """name -> float32 array of an original checkpoint (pre-training or fine-tuned)."""
    rng = np.random.default_rng(seed)
    v = {
        "electra/embeddings/word_embeddings": rng.normal(0, 0.1, (V, E)),
        "electra/embeddings/token_type_embeddings": rng.normal(0, 0.1, (2, E)),
        "electra/embeddings/position_embeddings": rng.normal(0, 0.1, (P, E)),
        "electra/embeddings/LayerNorm/gamma": 1 + rng.normal(0, 0.1, (E,)),
        "electra/embeddings/LayerNorm/beta": rng.normal(0, 0.05, (E,)),
    }
    if E != H:
        v["electra/embeddings_project/kernel"] = rng.normal(0, 0.1, (E, H))
        v["electra/embeddings_project/bias"] = rng.normal(0, 0.05, (H,))
    v.update(_encoder_vars("electra", L, H, I, rng))
    v["discriminator_predictions/dense/kernel"] = rng.normal(0, 0.1, (H, H))
    v["discriminator_predictions/dense/bias"] = rng.normal(0, 0.05, (H,))
    v["discriminator_predictions/dense_1/kernel"] = rng.normal(0, 0.1, (H, 1))
    v["discriminator_predictions/dense_1/bias"] = rng.normal(0, 0.05, (1,))
    if generator:
        if E != gen_H:
            v["generator/embeddings_project/kernel"] = rng.normal(0, 0.1, (E, gen_H))
            v["generator/embeddings_project/bias"] = rng.normal(0, 0.05, (gen_H,))
        v.update(_encoder_vars("generator", L, gen_H, 4 * gen_H, rng))
        v["generator_predictions/dense/kernel"] = rng.normal(0, 0.1, (gen_H, E))
        v["generator_predictions/dense/bias"] = rng.normal(0, 0.05, (E,))
        v["generator_predictions/LayerNorm/gamma"] = 1 + rng.normal(0, 0.1, (E,))
        v["generator_predictions/LayerNorm/beta"] = rng.normal(0, 0.05, (E,))
        v["generator_predictions/output_bias"] = rng.normal(0, 0.05, (V,))
    for task, kind in (task_heads or {}).items():
        base = f"task_specific/{task}"
        if kind[0] == "classification":  # ("classification", num_labels)
            v[f"{base}/dense/kernel"] = rng.normal(0, 0.3, (H, kind[1]))
            v[f"{base}/dense/bias"] = rng.normal(0, 0.05, (kind[1],))
        elif kind[0] == "qa":  # the default joint head with the answerable classifier
            v[f"{base}/dense/kernel"] = rng.normal(0, 0.3, (H, 1))
            v[f"{base}/dense/bias"] = rng.normal(0, 0.05, (1,))
            v[f"{base}/qa_hidden/kernel"] = rng.normal(0, 0.3, (2 * H, 512))
            v[f"{base}/qa_hidden/bias"] = rng.normal(0, 0.05, (512,))
            v[f"{base}/dense_1/kernel"] = rng.normal(0, 0.3, (512, 1))
            v[f"{base}/dense_1/bias"] = rng.normal(0, 0.05, (1,))
            v[f"{base}/dense_2/kernel"] = rng.normal(0, 0.3, (2 * H, 512))
            v[f"{base}/dense_2/bias"] = rng.normal(0, 0.05, (512,))
            v[f"{base}/dense_3/kernel"] = rng.normal(0, 0.3, (512, 1))
            v[f"{base}/dense_3/bias"] = rng.normal(0, 0.05, (1,))
    v = {k: np.asarray(a, dtype=np.float32) for k, a in v.items()}
    if adam:
        for name in list(v):
            v[f"{name}/adam_m"] = np.zeros_like(v[name])
            v[f"{name}/adam_v"] = np.zeros_like(v[name])
    return v


def write_checkpoint(directory, variables, prefix="electra_small", state_file=True, with_step=True, config=None):
    """Write ``variables`` as a TF1 (V2 format) checkpoint, like tf.train.Saver would."""
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    names = sorted(variables)
    tensors = [tf.constant(variables[n]) for n in names]
    if with_step:
        names.append("global_step")
        tensors.append(tf.constant(1000, dtype=tf.int64))
    path = os.path.join(directory, prefix)
    tf.raw_ops.SaveV2(prefix=path, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
    if state_file:
        with open(os.path.join(directory, "checkpoint"), "w") as f:
            # Released checkpoints often carry an absolute path from the machine that trained them.
            f.write(f'model_checkpoint_path: "/home/someone/electra/models/{prefix}"\n')
    if config is not None:
        with open(os.path.join(directory, "discriminator.json"), "w") as f:
            json.dump(config, f)
    return path
