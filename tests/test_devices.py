"""Device and precision resolution, and the CPU description benchmarks print."""

import torch

from vargym import devices

CPUINFO = """processor\t: 0
model name\t: Example Xeon
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""


def test_cpu_description_names_the_model_and_the_matmul_flags(monkeypatch):
    monkeypatch.setattr(devices, "_cpu_flags", lambda: CPUINFO)
    assert devices.cpu_description() == "Example Xeon; amx_bf16 amx_tile avx2 avx512_bf16 avx512f"
    assert devices.fast_bfloat16(torch.device("cpu"))
    monkeypatch.setattr(devices, "_cpu_flags", lambda: "model name : Old\nflags : fpu sse2\n")
    assert devices.cpu_description() == "Old; no AVX2, AVX-512 or AMX"
    assert not devices.fast_bfloat16(torch.device("cpu"))
    monkeypatch.setattr(devices, "_cpu_flags", lambda: "")
    assert devices.cpu_description()  # the platform's own string


def test_auto_precision_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(devices, "_cpu_flags", lambda: CPUINFO)
    assert devices.resolve_precision("auto", torch.device("cpu")) == "bfloat16"
    monkeypatch.setattr(devices, "_cpu_flags", lambda: "flags : avx2\n")
    assert devices.resolve_precision("auto", torch.device("cpu")) == "float32"
    assert devices.resolve_precision("float32", torch.device("cpu")) == "float32"
