"""Benchmarks: equal-budget algorithm comparisons over seeds (`run_benchmark`) and speed/memory tables
(`run_speed`), with PIL plots (`vargym.bench.plot`).

Names load lazily on first access, so ``import vargym.bench`` stays cheap.

Example:
    >>> from vargym.bench import BenchConfig, run_benchmark
    >>> report = run_benchmark(BenchConfig(algos=("grpo", "reinforce"), seeds=2, budget_samples=256,
    ...                                    train={"model": "random:tiny", "num_labels": 2, "group_size": 4},
    ...                                    out="runs/bench"))
"""

from __future__ import annotations

from vargym.lazy import lazy_getattr

_LAZY = {
    "PROFILES": "vargym.bench.config",
    "BenchConfig": "vargym.bench.config",
    "profile_values": "vargym.bench.config",
    "run_benchmark": "vargym.bench.runner",
    "run_one": "vargym.bench.runner",
    "load_bench_config": "vargym.bench.runner",
    "build_report": "vargym.bench.report",
    "format_markdown": "vargym.bench.report",
    "write_report": "vargym.bench.report",
    "SpeedConfig": "vargym.bench.speed",
    "run_speed": "vargym.bench.speed",
    "format_speed_table": "vargym.bench.speed",
    "Series": "vargym.bench.plot",
    "line_plot": "vargym.bench.plot",
    "bar_plot": "vargym.bench.plot",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("vargym.bench", _LAZY)
