"""What the CPU offers, read without TensorFlow (precision choice, benchmarks' host line)."""

from __future__ import annotations

from typing import Optional, Sequence


def _first_cpu_field(path: str, keys: Sequence[str]) -> Optional[str]:
    """The value of the first line of ``path`` whose key is one of ``keys`` (None without one, or
    without the file)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in keys:
                    return value
    except OSError:
        pass
    return None


def cpu_flags(path: str = "/proc/cpuinfo") -> Sequence[str]:
    """The feature flags of the first CPU in ``path`` (empty where there is no such file)."""
    return (_first_cpu_field(path, ("flags", "Features")) or "").split()


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The first CPU's model name in ``path`` ("unknown CPU" where there is none)."""
    return (_first_cpu_field(path, ("model name",)) or "").strip() or "unknown CPU"
