"""mixed_precision "auto": bfloat16 only on hardware that computes it natively, and the run
records the policy it chose (the choice logic is tested with faked CPU flags / GPUs)."""

import logging
import os

import keras
import pytest

from electra_tf.errors import ConfigError
from electra_tf.finetuning.hparams import FinetuningConfig
from electra_tf.training import precision
from electra_tf.training.settings import DistributionSettings
from tests.conftest import ROOT

ZEN3_FLAGS = "fpu sse sse2 avx avx2 fma f16c bmi2 vaes".split()


@pytest.mark.parametrize("flags,expected", [
    (ZEN3_FLAGS, "float32"),  # AVX2 only: bfloat16 would be emulated
    (ZEN3_FLAGS + ["avx512f", "avx512bw", "avx512_vnni"], "float32"),  # AVX-512 without BF16
    (ZEN3_FLAGS + ["avx512f", "avx512_bf16"], "mixed_bfloat16"),  # Zen 4, Cooper Lake
    (ZEN3_FLAGS + ["amx_tile", "amx_bf16", "amx_int8"], "mixed_bfloat16"),  # Sapphire Rapids
    ([], "float32"),  # no /proc/cpuinfo (macOS, Windows)
])
def test_auto_follows_cpu_flags(flags, expected):
    policy, reason = precision.choose_auto_precision(flags)
    assert policy == expected
    assert reason.startswith("CPU has")


@pytest.mark.parametrize("gpus,expected", [
    ([(8, 0)], "mixed_bfloat16"), ([(9, 0), (8, 6)], "mixed_bfloat16"),
    ([(7, 5)], "float32"), ([(8, 0), (7, 0)], "float32"),
])
def test_auto_follows_gpu_capability_not_cpu(gpus, expected):
    # With GPUs the CPU does not matter (it only feeds them).
    assert precision.choose_auto_precision(["avx512_bf16"] if expected == "float32" else [], gpus)[0] == expected


@pytest.mark.parametrize("cap,expected", [
    ("AVX2", "float32"), ("avx512_core", "float32"), ("AVX512_CORE_VNNI", "float32"),
    ("AVX512_CORE_BF16", "mixed_bfloat16"), ("AVX512_CORE_AMX", "mixed_bfloat16"), ("ALL", "mixed_bfloat16"),
    ("AVX10_1_512", "mixed_bfloat16"),  # oneDNN 3.x's name for AVX-512 with BF16 and FP16
])
def test_auto_respects_a_onednn_isa_limit(cap, expected):
    # oneDNN capped below AVX512_CORE_BF16 emulates bfloat16 matmuls even on a CPU that has them.
    flags = ZEN3_FLAGS + ["avx512f", "avx512_bf16"]
    policy, reason = precision.choose_auto_precision(flags, isa_cap=precision.onednn_isa_cap({"ONEDNN_MAX_CPU_ISA": cap}))
    assert policy == expected
    if expected == "float32":
        assert "ONEDNN_MAX_CPU_ISA=" + cap.upper() in reason


def test_onednn_isa_cap_reads_both_names():
    assert precision.onednn_isa_cap({}) is None
    assert precision.onednn_isa_cap({"ONEDNN_MAX_CPU_ISA": " "}) is None
    assert precision.onednn_isa_cap({"DNNL_MAX_CPU_ISA": "avx2"}) == "AVX2"
    assert precision.onednn_isa_cap({"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "ALL"}) == "AVX2"


def test_resolve_reads_the_isa_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert precision.resolve_precision("auto", flags=["avx512_bf16"], gpus=[])[0] == "float32"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert precision.resolve_precision("auto", flags=["avx512_bf16"], gpus=[])[0] == "mixed_bfloat16"


def test_auto_on_tpu_is_bfloat16():
    assert precision.choose_auto_precision([], [], tpu=True) == ("mixed_bfloat16", "TPU")


def test_explicit_values_are_kept():
    for value in ("float32", "mixed_float16", "mixed_bfloat16"):
        assert precision.resolve_precision(value, flags=["avx512_bf16"], gpus=[]) == (value, "as configured")


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(str(path)) == ["fpu", "avx2", "avx512_bf16"]
    assert precision.cpu_flags(str(tmp_path / "missing")) == []


@pytest.mark.parametrize("flags,expected", [(ZEN3_FLAGS, "float32"), (["avx512_bf16"], "mixed_bfloat16")])
def test_apply_precision_records_and_logs_the_choice(tmp_path, monkeypatch, caplog, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    config = FinetuningConfig("m", str(tmp_path), task_names=["sst"], mixed_precision="auto")
    with caplog.at_level(logging.INFO, logger="electra_tf"):
        try:
            assert precision.apply_precision(config.mixed_precision, DistributionSettings.from_hparams(config)) == expected
            assert keras.mixed_precision.global_policy().name == expected
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
    # It only returns the choice: the runners record it (test_the_runner_records_the_resolved_policy).
    assert config.mixed_precision == "auto"
    assert f"mixed_precision auto -> {expected}" in caplog.text


def test_default_stays_float32_and_bad_value_is_refused(tmp_path):
    assert FinetuningConfig("m", str(tmp_path), task_names=["sst"]).mixed_precision == "float32"
    with pytest.raises(ConfigError, match="mixed_precision"):
        FinetuningConfig("m", str(tmp_path), task_names=["sst"], mixed_precision="bf16")


def test_the_runner_records_the_resolved_policy(monkeypatch):
    """FinetuningRunner records what "auto" resolved to as the run's mixed_precision (what the
    results' config file and the run identity name)."""
    import os

    from electra_tf.finetuning.runner import FinetuningRunner

    monkeypatch.setattr(precision, "cpu_flags", lambda: ["avx512_bf16"])
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    config = FinetuningConfig("electra-tiny", os.path.join(ROOT, "examples", "data"), task_names=["sst"],
                              mixed_precision="auto", max_seq_length=32)
    try:
        FinetuningRunner(config)
        assert config.mixed_precision == "mixed_bfloat16"
        assert config.to_dict()["mixed_precision"] == "mixed_bfloat16"  # what results and run identity record
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def test_auto_is_float32_when_onednn_is_turned_off():
    # TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's Eigen kernels emulate bfloat16 (slower than float32).
    flags = ZEN3_FLAGS + ["avx512f", "avx512_bf16"]
    policy, reason = precision.choose_auto_precision(flags, onednn=False)
    assert policy == "float32" and "TF_ENABLE_ONEDNN_OPTS=0" in reason
    assert precision.choose_auto_precision(flags, onednn=True)[0] == "mixed_bfloat16"


@pytest.mark.parametrize("value,expected", [("", True), ("1", True), ("0", False), ("false", False), (" OFF ", False)])
def test_onednn_enabled_reads_the_variable(value, expected):
    from electra_tf.utils.onednn import onednn_enabled

    assert onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": value}, machine="x86_64") is expected
    assert onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": value}, machine="aarch64") is True  # not ours to judge there


def test_resolve_reads_the_onednn_switch_from_the_environment(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    expected = "float32" if os.uname().machine.lower() in ("x86_64", "amd64") else "mixed_bfloat16"
    assert precision.resolve_precision("auto", flags=["avx512_bf16"], gpus=[])[0] == expected
