"""TensorFlow's oneDNN kernels on every x86-64 CPU.

On x86-64, TensorFlow turns its oneDNN graph rewrites (MatMul + BiasAdd + GELU as one fused kernel,
and others) on by itself only on CPUs with AVX-512 VNNI, BF16 or AMX; on AVX2-only CPUs it runs its
slower Eigen kernels (a float32 ELECTRA-small training step at 0.56x PyTorch's instead of 1.06x, a
whole fine-tuning run 7 % slower; AVX2 emulated, bench/RESULTS.md). ``import electra_tf`` therefore sets
``TF_ENABLE_ONEDNN_OPTS=1`` when it is unset and TensorFlow is not imported yet, so that the commands,
the library and the tests compute with the same kernels on every host (a model trained by a command
predicts the same values in a notebook). ``TF_ENABLE_ONEDNN_OPTS=0`` keeps the Eigen kernels. Results
differ from the Eigen kernels by float rounding, as on the CPUs where TensorFlow enables oneDNN itself.
"""

from __future__ import annotations

import os
import platform

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def _x86_64(machine: str = "") -> bool:
    """Whether ``machine`` (default: this one) is x86-64, where the variable decides the kernels."""
    return (machine or platform.machine()).lower() in ("x86_64", "amd64")


def enable_onednn_default(environ=None, machine: str = "") -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` in ``environ`` (default: this process's) on x86-64 when it is
    unset; returns whether it was set. It has an effect only before TensorFlow is imported."""
    environ = os.environ if environ is None else environ
    if environ.get(ONEDNN_ENV, "").strip() or not _x86_64(machine):
        return False
    environ[ONEDNN_ENV] = "1"
    return True


def onednn_enabled(environ=None, machine: str = "") -> bool:
    """Whether TensorFlow computes with oneDNN in this process, as far as the environment says: false
    only when ``TF_ENABLE_ONEDNN_OPTS`` is set to a false value (0, false, no, off) on x86-64."""
    environ = os.environ if environ is None else environ
    return not _x86_64(machine) or environ.get(ONEDNN_ENV, "").strip().lower() not in ("0", "false", "no", "off")
