"""``vargym bench``: equal-budget algorithm comparisons (``vargym bench``) and speed tables (``vargym bench speed``).

Precedence for a comparison: `BenchConfig` / `TrainConfig` defaults < ``--profile`` < ``--config FILE``
(TrainConfig fields) < flags. ``--resume`` continues the benchmark saved in ``--out`` with its saved config.
Training flags take their help text from the `TrainConfig` field docstrings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vargym.cli.options import config_options
from vargym.cli.options import given as given_fields
from vargym.cli.train import _check_reward_spec, _fail, _h, _key_values
from vargym.models.generator import SamplingConfig
from vargym.train.config import training_sampling

app = typer.Typer(
    help="Compare RL algorithms on equal budgets and seeds (plots, tables); `bench speed` for speed/memory.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _per_algo(pairs: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["reinforce.baseline=rloo"]`` -> ``{"reinforce": {"baseline": "rloo"}}``."""
    out: dict[str, dict[str, Any]] = {}
    for algo, values in _key_values(pairs, "--algo-arg").items():
        if not isinstance(values, dict):
            raise typer.BadParameter(f"expected ALGO.KEY=VALUE, got {algo}=...", param_hint="--algo-arg")
        out[algo] = values
    return out


def _print_table(headers: list[str], rows: list[list[str]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:  # piped into a file: do not squeeze the table to 80 columns
        console = Console(width=160)
    console.print(table)


@app.callback()
@config_options(SamplingConfig, exclude=("more_smooth",), defaults=training_sampling())
def bench(
    ctx: typer.Context,
    algos: str | None = typer.Option(None, help="Comma-separated algorithms (default: grpo,ppo,reinforce)."),
    models: str | None = typer.Option(
        None, help="Comma-separated generators to compare, each with every algorithm (e.g. 'tiny,tiny-llamagen': "
        "a next-scale and a next-token model); default: --model alone."
    ),
    seeds: int | None = typer.Option(None, help="Seeds per algorithm (default: 3)."),
    budget_samples: int | None = typer.Option(
        None, help="Sampled images per run; iterations = budget / (num_labels * group_size) (default 4096)."
    ),
    threshold: float | None = typer.Option(
        None, help="Reward level for 'samples to threshold' (default: halfway from start to best final)."
    ),
    profile: str | None = typer.Option(
        None, help="Named profile: 'quick' (GRPO vs PPO vs REINFORCE, ~15 min on 2 CPU cores), 'variants' and "
        "'variants-colorfulness' (GRPO, Dr. GRPO, DAPO, GSPO; brightness or colorfulness), 'families' (GRPO on "
        "the tiny VAR vs the tiny LlamaGen, brightness)."
    ),
    eval_per_label: int | None = typer.Option(None, help="Final-evaluation samples per label (default 4)."),
    eval_labels: str | None = typer.Option(None, help=_h("eval_labels") + " Format: '0,3,5-7'."),
    out: Path | None = typer.Option(None, help="Benchmark directory (default runs/bench)."),
    resume: bool = typer.Option(
        False, help="Continue the benchmark saved in --out with its saved config (finished runs are kept)."
    ),
    threads: int | None = typer.Option(None, help="torch threads for the runs (default: torch's; quick: 1)."),
    keep_checkpoints: bool = typer.Option(False, help="Keep each finished run's final checkpoint."),
    config: Path | None = typer.Option(
        None, help="TOML/YAML file of TrainConfig fields shared by every run."
    ),
    model: str | None = typer.Option(None, help=_h("model")),
    reward: str | None = typer.Option(None, help=_h("reward")),
    prompt: str | None = typer.Option(None, help=_h("prompt")),
    labels: str | None = typer.Option(None, help=_h("labels") + " Format: '0,3,5-7'."),
    num_labels: int | None = typer.Option(None, help=_h("num_labels")),
    group_size: int | None = typer.Option(None, help=_h("group_size")),
    minibatch_size: int | None = typer.Option(None, help=_h("minibatch_size")),
    epochs: int | None = typer.Option(None, help=_h("epochs")),
    lr: float | None = typer.Option(None, help=_h("lr")),
    beta: float | None = typer.Option(None, help=_h("beta")),
    device: str | None = typer.Option(None, help=_h("device")),
    algo_arg: list[str] | None = typer.Option(
        None, help="Per-algorithm config field, ALGO.KEY=VALUE, e.g. reinforce.baseline=rloo (repeatable)."
    ),
    reward_arg: list[str] | None = typer.Option(
        None, help="Reward constructor argument, KEY=VALUE or TERM.KEY=VALUE (repeatable)."
    ),
    quiet: bool = typer.Option(False, help="No progress output."),
    **fields: Any,
) -> None:
    """Train every algorithm on the same labels, budget and seeds; write curves, PNG plots and a table."""
    if ctx.invoked_subcommand is not None:
        return
    from vargym.bench.config import BenchConfig, profile_values
    from vargym.bench.report import table_cells
    from vargym.bench.runner import load_bench_config, run_benchmark
    from vargym.cli.common import parse_labels
    from vargym.errors import VargymError
    from vargym.train.config import _fold_sampling, load_config_file

    train_flags = dict(
        model=model,
        reward=reward,
        prompt=prompt,
        num_labels=num_labels,
        group_size=group_size,
        minibatch_size=minibatch_size,
        epochs=epochs,
        lr=lr,
        beta=beta,
        device=device,
    )
    sampling = given_fields(SamplingConfig, fields)
    try:
        if resume:
            if out is None:
                raise ValueError("--resume needs --out, the benchmark directory to continue")
            given = [
                k
                for k, v in {
                    **train_flags,
                    "algos": algos,
                    "models": models,
                    "seeds": seeds,
                    "profile": profile,
                    "budget_samples": budget_samples,
                    "threads": threads,
                    "config": config,
                    "labels": labels,
                    **sampling,
                }.items()
                if v is not None
            ]
            if given:
                raise ValueError(f"--resume continues with the saved config; drop {sorted(given)}")
            bench_config = load_bench_config(out)
        else:
            values: dict[str, Any] = profile_values(profile) if profile else {}
            train = dict(values.get("train", {}))
            train.update(load_config_file(config) if config is not None else {})
            train_flags["labels"] = tuple(parse_labels(labels)) if labels else None
            train_flags["reward_kwargs"] = _key_values(reward_arg, "--reward-arg") or None
            train.update({k: v for k, v in train_flags.items() if v is not None})
            train = _fold_sampling(train)
            if sampling:
                train["sampling"] = {**train.get("sampling", {}), **sampling}
            _check_reward_spec(train.get("reward"))
            flags = dict(
                algos=tuple(a.strip() for a in algos.split(",") if a.strip()) if algos else None,
                models=tuple(m.strip() for m in models.split(",") if m.strip()) if models else None,
                seeds=seeds,
                budget_samples=budget_samples,
                threshold=threshold,
                eval_per_label=eval_per_label,
                eval_labels=tuple(parse_labels(eval_labels)) if eval_labels else None,
                out=None if out is None else str(out),
                algo_kwargs=_per_algo(algo_arg) or None,
                keep_checkpoints=keep_checkpoints or None,
                threads=threads,
            )
            values.update({k: v for k, v in flags.items() if v is not None})
            values["train"] = train
            bench_config = BenchConfig.from_dict(values)
    except typer.BadParameter:
        raise
    except (ValueError, TypeError, KeyError, FileNotFoundError, VargymError) as e:
        raise _fail(str(e)) from e

    if not quiet:
        typer.echo(
            f"{', '.join(name for name, _, _ in bench_config.contenders)} x {bench_config.seeds} seeds: "
            f"{bench_config.iterations} iterations of "
            f"{bench_config.batch_size} = {bench_config.samples_per_run} samples per run; out {bench_config.out}"
        )

    def progress(name: str, metrics: dict[str, Any]) -> None:
        if metrics["iteration"] % max(1, bench_config.iterations // 4) == 0:
            typer.echo(f"  {name} iteration {metrics['iteration']}: reward_mean {metrics['reward_mean']:.4f}")

    def on_run(name: str, summary: dict[str, Any]) -> None:
        typer.echo(f"{name}: done, {summary['samples']} samples, {summary['wall_s']:.0f} s")

    try:
        report = run_benchmark(
            bench_config,
            resume=resume,
            progress=None if quiet else progress,
            on_run=None if quiet else on_run,
        )
    except (FileExistsError, ValueError, VargymError) as e:
        raise _fail(str(e)) from e
    headers, rows = table_cells(report)
    _print_table(headers, rows, f"{report['samples_per_run']} samples per run, mean ± std over seeds")
    typer.echo(f"wrote {bench_config.out}/bench.json, table.md and PNG figures")


@app.command("speed")
def speed(
    models: str = typer.Option(
        "random:tiny", help="Comma-separated model specs (random:<preset> needs no download)."
    ),
    batch_sizes: str = typer.Option("8,16,32", help="Comma-separated images per iteration."),
    group_size: int = typer.Option(4, help="Samples per label (divides every batch size)."),
    algo: str = typer.Option("grpo", help="Algorithm of the timed update."),
    reward: str = typer.Option("brightness", help="Reward of the timed update."),
    reps: int = typer.Option(3, help="Measured repetitions (medians)."),
    warmup: int = typer.Option(1, help="Unmeasured warm-up repetitions."),
    threads: int | None = typer.Option(None, help="torch threads (default: all cores)."),
    device: str | None = typer.Option(None, help="torch device (default: CUDA when available, else CPU)."),
    out: Path | None = typer.Option(None, help="Also write the result JSON here."),
) -> None:
    """Sampling images/s, one update's time split and peak memory vs batch size and model."""
    import os

    from vargym.bench.speed import SpeedConfig, run_speed, speed_cells

    try:
        config = SpeedConfig(
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
            batch_sizes=tuple(int(b) for b in batch_sizes.split(",") if b.strip()),
            group_size=group_size,
            algo=algo,
            reward=reward,
            reps=reps,
            warmup=warmup,
            threads=threads if threads is not None else os.cpu_count(),
            device=device,
        )
        result = run_speed(config)
    except ValueError as e:
        raise _fail(str(e)) from e
    headers, rows = speed_cells(result)
    title = f"{result['rows'][0]['device']}, {result['threads']} threads, medians of {reps}; seconds per iteration"
    _print_table(headers, rows, title)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        typer.echo(f"wrote {out}")
