"""What the CPU offers, read without TensorFlow (precision choice, benchmarks' host line)."""

from __future__ import annotations

from typing import Sequence


def cpu_flags(path: str = "/proc/cpuinfo") -> Sequence[str]:
    """The feature flags of the first CPU in ``path`` (empty where there is no such file)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return value.split()
    except OSError:
        pass
    return []


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The first CPU's model name in ``path`` ("unknown CPU" where there is none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return "unknown CPU"
