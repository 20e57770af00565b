"""The one device resolver: ``None``/"auto" picks CUDA when available; anything else is checked at once."""

from __future__ import annotations

import functools

import torch

__all__ = ["cpu_description", "fast_bfloat16", "resolve_device", "resolve_precision"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"`` -> ``cuda`` when available, else ``cpu``; a given device must exist here.

    Raises:
        ValueError: one line naming the bad value and the allowed ones (not a torch traceback).
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device {device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from e
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for, but this torch sees no CUDA GPU; use 'cpu' or 'auto'")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s)")
    return resolved


@functools.cache
def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def cpu_description() -> str:
    """The CPU's model name and the flags that decide matmul speed here (AVX2, AVX-512, AVX512-BF16, AMX), for
    benchmarks to print beside their figures; the platform's processor string where /proc/cpuinfo is absent."""
    import platform

    info = _cpu_flags()
    if not info:
        return platform.processor() or platform.machine()
    lines = info.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    wanted = sorted({f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512f", "avx2", "avx_vnni"))})
    return f"{model}; {' '.join(wanted) or 'no AVX2, AVX-512 or AMX'}"


def fast_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 matmuls run natively here: a CUDA GPU that supports bf16, or a CPU with AVX512-BF16 or
    AMX (elsewhere bf16 is emulated and slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    flags = _cpu_flags()
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bfloat16" where `fast_bfloat16`, else "float32"; "float32"/"bfloat16" as given."""
    if precision == "auto":
        return "bfloat16" if fast_bfloat16(device) else "float32"
    return precision
