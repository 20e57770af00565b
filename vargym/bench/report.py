"""The benchmark report: curves of every run, the per-algorithm table, figures, ``bench.json`` and ``table.md``.

Table columns (one row per algorithm, spread over seeds):

- ``reward_final``: training reward (batch mean) averaged over the last 10% of iterations, mean and std
  over seeds;
- ``eval_reward``, ``top1``, ``pixel_diversity``: `vargym.evaluation.evaluate_model` on the final policy
  (same labels, same seed for every run);
- ``gold``: the run's gold metric on the same conditions (a column where it is not class fidelity, which
  ``top1`` already shows: e.g. the text fidelity of ``tiny-t2i``);
- ``samples_to_threshold``: first sample count at which a seed's training reward reaches the threshold
  (median over the seeds that reached it, and how many did);
- ``kl_ref``: KL to the frozen reference over the last 10% of iterations;
- ``samples_per_s``, ``peak_memory_mib``, ``wall_s``.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from vargym.bench.config import BenchConfig

__all__ = ["FIGURES", "build_report", "format_markdown", "write_report"]

FIGURES = ("reward_vs_samples.png", "kl_vs_samples.png", "reward_vs_kl.png", "wall_time.png", "summary.png")


def _tail_mean(values: list[float | None], fraction: float = 0.1) -> float | None:
    """Mean of the last ``fraction`` of the finite values (at least one)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    tail = finite[-max(1, round(len(finite) * fraction)) :]
    return sum(tail) / len(tail)


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None
    return statistics.fmean(finite), (statistics.stdev(finite) if len(finite) > 1 else 0.0)


def _curves(config: BenchConfig, contender: str, seed: int) -> dict[str, list]:
    from vargym.metrics_log import read_metrics

    records = read_metrics(Path(config.out) / "runs" / config.run_name(contender, seed))
    return {key: [r.get(key) for r in records] for key in ("samples", "reward_mean", "kl_ref", "wall_s")}


def _samples_to(curve: dict[str, list], threshold: float) -> int | None:
    for samples, reward in zip(curve["samples"], curve["reward_mean"]):
        if reward is not None and reward >= threshold:
            return int(samples)
    return None


def build_report(config: BenchConfig, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Collect every run's curves and summary into one JSON-ready report with the per-algorithm table."""
    names = [name for name, _, _ in config.contenders]
    of = lambda s: s.get("contender", s["algo"])  # noqa: E731 (summaries written before contenders existed)
    curves = {name: {str(s["seed"]): _curves(config, name, s["seed"]) for s in summaries if of(s) == name}
              for name in names}
    threshold = config.threshold
    if threshold is None:  # halfway from the common start to the best final reward
        starts = [c["reward_mean"][0] for runs in curves.values() for c in runs.values() if c["reward_mean"]]
        tails = [[_tail_mean(c["reward_mean"]) for c in runs.values()] for runs in curves.values()]
        finals = [statistics.fmean(t) for t in tails if t and None not in t]
        threshold = (statistics.fmean(starts) + max(finals)) / 2 if starts and finals else 0.0
    table = []
    for algo in names:
        runs = [s for s in summaries if of(s) == algo]
        algo_curves = curves[algo]
        reached = [_samples_to(algo_curves[str(s["seed"])], threshold) for s in runs]
        hits = [r for r in reached if r is not None]
        row: dict[str, Any] = {"algo": algo, "seeds": len(runs)}
        for key, values in (
            ("reward_final", [_tail_mean(algo_curves[str(s["seed"])]["reward_mean"]) for s in runs]),
            ("kl_ref", [_tail_mean(algo_curves[str(s["seed"])]["kl_ref"]) for s in runs]),
            ("eval_reward", [s["eval"]["reward_mean"] for s in runs]),
            ("top1", [s["eval"]["top1"] for s in runs]),
            ("gold", [s["eval"].get("gold") for s in runs]),
            ("pixel_diversity", [s["eval"]["pixel_diversity"] for s in runs]),
            ("samples_per_s", [s["samples_per_s"] for s in runs]),
            ("wall_s", [s["wall_s"] for s in runs]),
        ):
            row[f"{key}_mean"], row[f"{key}_std"] = _mean_std(values)
        row["gold_name"] = runs[0]["eval"].get("gold_name")
        row["wall_s_min"] = min(s["wall_s"] for s in runs)
        row["wall_s_max"] = max(s["wall_s"] for s in runs)
        row["samples_to_threshold"] = statistics.median(hits) if hits else None
        row["reached_threshold"] = len(hits)
        row["hacking_runs"] = sum(1 for s in runs if s.get("hacking_flags", 0) > 0)
        row["peak_memory_mib"] = max(s["peak_memory_mib"] for s in runs)
        row["memory_kind"] = runs[0]["memory_kind"]
        table.append(row)
    return {
        "config": config.to_dict(),
        "iterations": config.iterations,
        "batch_size": config.batch_size,
        "samples_per_run": config.samples_per_run,
        "threshold": threshold,
        "runs": summaries,
        "curves": curves,
        "table": table,
    }


def _fmt(mean: float | None, std: float | None = None, digits: int = 3) -> str:
    if mean is None:
        return "n/a"
    text = f"{mean:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def table_cells(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column headers and formatted rows of the report's table (the CLI's rich table and ``table.md``)."""
    memory = "peak CUDA MiB" if report["table"][0]["memory_kind"] == "cuda_allocated" else "peak RSS MiB"
    headers = [
        "model-algo" if report["config"].get("models") else "algo",
        "reward (last 10%)",
        "eval reward",
        f"samples to {report['threshold']:.3g}",
        "KL to ref",
        "class top-1",
        "pixel diversity",
        "hacking",
        "samples/s",
        memory,
        "wall s",
    ]
    gold = next((row["gold_name"] for row in report["table"]
                 if row.get("gold_name") not in (None, "class_fidelity")), None)
    if gold is not None:
        headers.insert(6, f"gold ({gold})")
    rows = []
    for row in report["table"]:
        hits = row["samples_to_threshold"]
        reached = "n/a" if hits is None else f"{hits:.0f} ({row['reached_threshold']}/{row['seeds']})"
        rows.append(
            [
                row["algo"],
                _fmt(row["reward_final_mean"], row["reward_final_std"]),
                _fmt(row["eval_reward_mean"], row["eval_reward_std"]),
                reached,
                _fmt(row["kl_ref_mean"], row["kl_ref_std"], 4),
                _fmt(row["top1_mean"], row["top1_std"], 2),
                _fmt(row["pixel_diversity_mean"], row["pixel_diversity_std"]),
                f"{row.get('hacking_runs', 0)}/{row['seeds']}",
                _fmt(row["samples_per_s_mean"], None, 1),
                _fmt(row["peak_memory_mib"], None, 0),
                _fmt(row["wall_s_mean"], None, 0),
            ]
        )
        if gold is not None:
            rows[-1].insert(6, _fmt(row.get("gold_mean"), row.get("gold_std")))
    return headers, rows


def format_markdown(report: dict[str, Any]) -> str:
    """The table as Markdown, with a line saying what was compared."""
    config = report["config"]
    train = config["train"]
    headers, rows = table_cells(report)
    lines = [
        (f"{len(config['algos'])} algorithms x {len(config['models'])} models ({', '.join(config['models'])})"
         if config.get("models") else f"{len(config['algos'])} algorithms, model {train.get('model', 'tiny')}")
        + f" x {config['seeds']} seeds, "
        f"reward {train.get('reward', 'brightness')}, {report['samples_per_run']} samples per run "
        f"({report['iterations']} iterations of {report['batch_size']}); mean ± std over seeds.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _band(
    runs: dict[str, dict[str, list]], key: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    """x (samples), mean, min and max over seeds of ``key`` at each iteration (seeds cut to the shortest)."""
    series = [r for r in runs.values() if r["samples"]]
    length = min(len(r["samples"]) for r in series)
    x = [float(v) for v in series[0]["samples"][:length]]
    columns = [
        [float(r[key][i]) if r[key][i] is not None else math.nan for r in series] for i in range(length)
    ]
    mean = [statistics.fmean(c) for c in columns]
    return x, mean, [min(c) for c in columns], [max(c) for c in columns]


def write_figures(report: dict[str, Any], out: str | Path) -> list[Path]:
    """Write the PNG figures of ``FIGURES`` into ``out``; returns their paths."""
    from vargym.bench.plot import Series, bar_plot, line_plot, tile

    out = Path(out)
    reward = report["config"]["train"].get("reward", "reward")
    reward_series, kl_series, pareto = [], [], []
    for algo, runs in report["curves"].items():
        if not any(r["samples"] for r in runs.values()):
            continue
        x, mean, low, high = _band(runs, "reward_mean")
        reward_series.append(Series(algo, x, mean, low, high))
        kx, kmean, klow, khigh = _band(runs, "kl_ref")
        kl_series.append(Series(algo, kx, kmean, klow, khigh))
        pareto.append(Series(algo, kmean, mean))
    seeds = report["config"]["seeds"]
    band = f"mean, band: min-max over {seeds} seeds"
    images = [
        line_plot(reward_series, f"{reward} vs samples ({band})", "samples", f"train {reward}"),
        line_plot(kl_series, f"KL to reference vs samples ({band})", "samples", "KL (k3)"),
        line_plot(pareto, f"{reward} vs KL (mean over seeds)", "KL to reference", f"train {reward}"),
        bar_plot(
            [row["algo"] for row in report["table"]],
            [row["wall_s_mean"] for row in report["table"]],
            [(row["wall_s_min"], row["wall_s_max"]) for row in report["table"]],
            f"wall time per run (mean, min-max over {seeds} seeds)",
            "seconds",
        ),
    ]
    images.append(tile(images, columns=2))
    paths = []
    for name, image in zip(FIGURES, images):
        image.save(out / name)
        paths.append(out / name)
    return paths


def write_report(report: dict[str, Any], out: str | Path) -> None:
    """Write ``bench.json``, ``table.md`` and the figures into ``out``."""
    out = Path(out)
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    (out / "table.md").write_text(format_markdown(report))
    write_figures(report, out)
