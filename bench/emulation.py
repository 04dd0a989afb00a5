"""Running a benchmark's processes as on a CPU without AVX-512 (an AVX2-only host).

Our hosts vary: some have AVX-512 with AVX512-BF16, others (AMD EPYC of an older generation) AVX2
only, where float32 is the best setting of both frameworks. ``AVX2_ENV`` limits the libraries that
choose their kernels at run time to AVX2: oneDNN (TensorFlow's and PyTorch's), MKL and PyTorch's
ATen. TensorFlow's own Eigen kernels are compiled for AVX in the pip wheel and are not affected.
What it cannot emulate: TensorFlow's own decision to turn its oneDNN rewrites on, which depends on
the CPU's flags (on by itself here, off on a real AVX2 host); a benchmark sets
``TF_ENABLE_ONEDNN_OPTS`` explicitly for that. Figures so measured say "AVX2 emulated".
"""

AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def host_line(emulate_avx2: bool = False) -> str:
    """This host as every figure must state it: CPU model, core count and the instruction sets that
    decide the best configuration (AVX2, AVX-512, AVX512-BF16, AMX), plus "AVX2 emulated" if so."""
    import os

    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    isa = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"),
                                   ("amx_bf16", "AMX-BF16")) if flag in flags]
    line = f"Host: {model}, {os.cpu_count()} CPUs, {' + '.join(isa) or 'no AVX2'}"
    return line + (" (AVX2 emulated: oneDNN, MKL and ATen limited to AVX2)" if emulate_avx2 else "")
