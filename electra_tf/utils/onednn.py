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
from typing import Optional

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


def tensorflow_chose_eigen_notice(environ=None, machine: str = "") -> Optional[str]:
    """The notice for a program that imported TensorFlow before electra_tf (the variable unset) on an
    x86-64 CPU where TensorFlow then chose its Eigen kernels; None when that is not the case. Call it
    only once TensorFlow is imported (it asks TensorFlow which kernels it runs)."""
    environ = os.environ if environ is None else environ
    if environ.get(ONEDNN_ENV, "").strip() or not _x86_64(machine):
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port

        if _pywrap_util_port.IsMklEnabled():
            return None
    except (ImportError, AttributeError):  # another TensorFlow build: nothing to say
        return None
    return (f"TensorFlow was imported before electra_tf, so it runs its Eigen kernels on this CPU, not the "
            f"faster oneDNN ones electra_tf's commands use (results differ by float rounding). Set "
            f"{ONEDNN_ENV}=1 before TensorFlow is imported (or import electra_tf first) to compute as the "
            f"commands do, or {ONEDNN_ENV}=0 to keep the Eigen kernels and silence this notice.")
