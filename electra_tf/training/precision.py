"""Mixed precision for fine-tuning: the Keras dtype policy from the ``mixed_precision`` hparam.

``"auto"`` (beyond the original, which trained in float32; the default stays ``"float32"``)
picks ``mixed_bfloat16`` where the hardware computes bfloat16 natively and float32 elsewhere:
on a CPU without bf16 instructions TensorFlow emulates bfloat16 matmuls, which is slower than
float32 (measured on an AVX2-only AMD EPYC: 39 vs 50 GFLOP/s at 2048x2048).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterable, Optional, Sequence, Tuple

import keras

from electra_tf.utils.cpu import cpu_flags
from electra_tf.utils.onednn import onednn_enabled

logger = logging.getLogger("electra_tf")

#: /proc/cpuinfo flags of x86 CPUs with bfloat16 dot products (AVX512-BF16: Cooper Lake, Zen 4+;
#: AMX-BF16: Sapphire Rapids+)
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Values of oneDNN's ONEDNN_MAX_CPU_ISA (DNNL_MAX_CPU_ISA before oneDNN 2.0) that still let it use
#: bfloat16 dot products; any other value (AVX2, AVX512_CORE, ...) caps it below them, so bfloat16
#: matmuls are emulated even on a CPU whose flags have avx512_bf16.
ONEDNN_BF16_ISAS = ("ALL", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
                    "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16")
#: GPUs with native bfloat16 tensor cores (Ampere and newer)
MIN_GPU_CAPABILITY = (8, 0)


def gpu_capabilities() -> Sequence[Tuple[int, int]]:
    """Compute capability of each visible GPU (empty without GPUs)."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu) or {}
        if details.get("compute_capability"):
            found.append(tuple(details["compute_capability"]))
    return found


def onednn_isa_cap(environ=None) -> Optional[str]:
    """The oneDNN ISA limit set in the environment (``ONEDNN_MAX_CPU_ISA``, or the older
    ``DNNL_MAX_CPU_ISA``), upper-cased; None when neither is set."""
    environ = os.environ if environ is None else environ
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        value = environ.get(name, "").strip()
        if value:
            return value.upper()
    return None


def choose_auto_precision(flags: Iterable[str], gpus: Sequence[Tuple[int, int]] = (), tpu: bool = False,
                          isa_cap: Optional[str] = None, onednn: bool = True) -> Tuple[str, str]:
    """("mixed_bfloat16" or "float32", why) for the given hardware: bfloat16 on a TPU, when
    every GPU has compute capability >= 8.0, or (without GPUs) when the CPU flags include a
    native bf16 instruction set, TensorFlow computes with oneDNN (``onednn``: its Eigen kernels
    emulate bfloat16, slower than float32) and ``isa_cap`` (oneDNN's ISA limit, see
    ``onednn_isa_cap``) does not forbid it. Pure, so that it can be tested with any flags."""
    if tpu:
        return "mixed_bfloat16", "TPU"
    if gpus:
        if all(tuple(c) >= MIN_GPU_CAPABILITY for c in gpus):
            return "mixed_bfloat16", f"GPU compute capability {min(gpus)} >= {MIN_GPU_CAPABILITY}"
        return "float32", f"GPU compute capability {min(gpus)} < {MIN_GPU_CAPABILITY} (no native bfloat16)"
    native = sorted(set(flags) & set(CPU_BF16_FLAGS))
    if native and not onednn:
        return "float32", f"TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's Eigen kernels would emulate bfloat16 on the CPU's {', '.join(native)}"
    if native and isa_cap and isa_cap not in ONEDNN_BF16_ISAS:
        return "float32", f"ONEDNN_MAX_CPU_ISA={isa_cap} keeps oneDNN from the CPU's {', '.join(native)} (bfloat16 would be emulated)"
    if native:
        return "mixed_bfloat16", f"CPU has {', '.join(native)}"
    return "float32", f"CPU has none of {', '.join(CPU_BF16_FLAGS)} (bfloat16 would be emulated)"


def resolve_precision(value: str, tpu: bool = False, flags: Optional[Iterable[str]] = None,
                      gpus: Optional[Sequence[Tuple[int, int]]] = None) -> Tuple[str, str]:
    """The policy to train with for the hparam ``value`` and the reason ("as configured" unless
    ``value`` is "auto"); ``flags``/``gpus`` default to this machine's."""
    if value != "auto":
        return value, "as configured"
    return choose_auto_precision(cpu_flags() if flags is None else flags, gpu_capabilities() if gpus is None else gpus, tpu,
                                 onednn_isa_cap(), onednn_enabled())


def apply_precision(requested: str, distribution) -> str:
    """Set the global Keras policy before the model is built (float32 keeps the original) and
    return it: ``requested`` (the hparam ``mixed_precision``) with ``"auto"`` resolved for this
    hardware and the run's ``distribution`` (``DistributionSettings``: a TPU job gets bfloat16).
    The choice of ``"auto"`` is logged. A runner records the returned policy as the run's
    ``mixed_precision``, so that the logs, the results' config file and the run identity name
    what the run trained with."""
    from electra_tf.training.distribute import resolve_strategy_name

    tpu = requested == "auto" and resolve_strategy_name(distribution) == "tpu"
    policy, reason = resolve_precision(requested, tpu=tpu)
    if requested == "auto":
        logger.info("mixed_precision auto -> %s (%s)", policy, reason)
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def needs_loss_scaling(policy: str) -> bool:
    """Whether training under the dtype ``policy`` needs loss scaling: float16 gradients underflow
    without it; bfloat16 has float32's range."""
    return policy == "mixed_float16"


@contextlib.contextmanager
def compute_policy(policy: str):
    """Keras' global dtype policy set to ``policy`` while the block builds models (a model keeps
    the policy it was built under), the previous one restored after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
