"""Running a benchmark's processes as on a CPU without AVX-512 (an AVX2-only host).

Our hosts vary: some have AVX-512 with AVX512-BF16, others (AMD EPYC of an older generation) AVX2
only, where float32 is the best setting of both frameworks. ``AVX2_ENV`` limits the libraries that
choose their kernels at run time to AVX2: oneDNN (TensorFlow's and PyTorch's), MKL and PyTorch's
ATen. TensorFlow's own Eigen kernels are compiled for AVX in the pip wheel and are not affected.
What it cannot emulate: TensorFlow's own decision to turn its oneDNN rewrites on, which depends on
the CPU's flags (on by itself here, off on a real AVX2 host). ``import electra_tf`` turns them on where
unset (utils/onednn.py), so a benchmark's TensorFlow rows run with oneDNN unless they set
``TF_ENABLE_ONEDNN_OPTS=0`` (the ``-eigen`` configurations: TensorFlow's own default on such a CPU).
Figures so measured say "AVX2 emulated".
"""

AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def host_line(emulate_avx2: bool = False) -> str:
    """This host as every figure must state it: CPU model, the CPUs this process may use and the
    instruction sets that decide the best configuration (AVX2, AVX-512, AVX512-BF16, AMX), plus
    "AVX2 emulated" if so."""
    import os

    from electra_tf.utils.cpu import cpu_flags, cpu_model

    flags = set(cpu_flags())
    isa = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"),
                                   ("amx_bf16", "AMX-BF16")) if flag in flags]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    line = f"Host: {cpu_model()}, {usable} CPUs usable, {' + '.join(isa) or 'no AVX2'}"
    return line + (" (AVX2 emulated: oneDNN, MKL and ATen limited to AVX2)" if emulate_avx2 else "")


def native_bf16(emulate_avx2: bool = False) -> bool:
    """Whether this host computes bfloat16 natively (AVX512-BF16 or AMX), so that a bf16 configuration is
    one of the frameworks' best; on other hosts it is emulated and slower than float32."""
    from electra_tf.training.precision import CPU_BF16_FLAGS
    from electra_tf.utils.cpu import cpu_flags

    return not emulate_avx2 and bool(set(CPU_BF16_FLAGS) & set(cpu_flags()))


def tensorflow_picks_onednn() -> bool:
    """Whether TensorFlow turns its oneDNN rewrites on by itself on this CPU (x86-64 with AVX-512 VNNI,
    AVX512-BF16, AVX-VNNI or AMX); elsewhere only ``import electra_tf`` (or the variable) turns them on."""
    from electra_tf.utils.cpu import cpu_flags

    return bool({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"} & set(cpu_flags()))
