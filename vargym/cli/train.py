"""``vargym train``: RL fine-tuning from the command line (flags -> `TrainConfig` -> `Trainer`).

Precedence: `TrainConfig` defaults (the VAR-GRPO paper's) < ``--config FILE`` (TOML/YAML) < flags.
With ``--resume`` the checkpoint's config is the base and the given flags override it.
The help text of each flag is the docstring of its `TrainConfig` field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vargym.naming import did_you_mean
from vargym.train.config import TrainConfig, field_help

_HELP = field_help()


def _h(name: str) -> str:
    """Help text of a flag: its TrainConfig field's docstring and default."""
    return _HELP[name]


def _key_values(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``["clip_epsilon=0.1", "clip.prompt=a cat"]`` -> ``{"clip_epsilon": 0.1, "clip": {"prompt": "a cat"}}``."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=flag)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        head, dot, tail = key.partition(".")
        if dot:
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=code)


def _check_reward_spec(spec: str | None) -> None:
    """Fail fast (before loading a model) on unknown reward names."""
    if spec is None or ":" in spec:
        return
    import vargym.rewards

    names = vargym.rewards.list_rewards()
    terms = [spec] if spec in names else [n for _, n in vargym.rewards.parse_expression(spec)]
    for name in terms:
        if name not in names and ":" not in name:
            hint = did_you_mean(name, names)
            raise ValueError(f"unknown reward {name!r}.{hint} Choose from: {', '.join(names)}")


def train(
    algo: str | None = typer.Option(None, help=_h("algo")),
    reward: str | None = typer.Option(None, help=_h("reward")),
    prompt: str | None = typer.Option(None, help=_HELP["prompt"]),
    model: str | None = typer.Option(None, help=_h("model")),
    device: str | None = typer.Option(None, help=_HELP["device"]),
    steps: int | None = typer.Option(None, help=_h("steps")),
    labels: str | None = typer.Option(None, help=_h("labels") + " Format: '0,3,5-7'."),
    out: Path | None = typer.Option(None, help=_h("out")),
    config: Path | None = typer.Option(
        None, help="TOML or YAML file of TrainConfig fields (flags override it)."
    ),
    resume: Path | None = typer.Option(
        None, help="Resume from a run directory or checkpoint (flags override)."
    ),
    num_labels: int | None = typer.Option(None, help=_h("num_labels")),
    group_size: int | None = typer.Option(None, help=_h("group_size")),
    minibatch_size: int | None = typer.Option(None, help=_h("minibatch_size")),
    epochs: int | None = typer.Option(None, help=_h("epochs")),
    lr: float | None = typer.Option(None, help=_h("lr")),
    weight_decay: float | None = typer.Option(None, help=_h("weight_decay")),
    lr_schedule: str | None = typer.Option(None, help=_h("lr_schedule")),
    warmup_steps: int | None = typer.Option(None, help=_h("warmup_steps")),
    grad_clip: float | None = typer.Option(None, help=_h("grad_clip")),
    beta: float | None = typer.Option(None, help=_HELP["beta"]),
    clip_epsilon: float | None = typer.Option(None, help=_HELP["clip_epsilon"]),
    temperature: float | None = typer.Option(None, help=_h("temperature")),
    cfg: float | None = typer.Option(None, help=_h("cfg")),
    top_k: int | None = typer.Option(None, help=_h("top_k")),
    top_p: float | None = typer.Option(None, help=_h("top_p")),
    seed: int | None = typer.Option(None, help=_h("seed")),
    sample_every: int | None = typer.Option(None, help=_h("sample_every")),
    eval_every: int | None = typer.Option(None, help=_h("eval_every")),
    eval_labels: str | None = typer.Option(None, help=_HELP["eval_labels"]),
    eval_per_label: int | None = typer.Option(None, help=_h("eval_per_label")),
    eval_seed: int | None = typer.Option(None, help=_h("eval_seed")),
    log_kl_ref: bool | None = typer.Option(None, "--log-kl-ref/--no-log-kl-ref", help=_HELP["log_kl_ref"]),
    ratio_check_tol: float | None = typer.Option(None, help=_h("ratio_check_tol")),
    vae_path: str | None = typer.Option(None, help=_h("model_files") + " This flag: the VQ-VAE file."),
    var_path: str | None = typer.Option(None, help="Local official VAR file (with --model var-dNN; no download)."),
    checkpoint_every: int | None = typer.Option(None, help=_h("checkpoint_every")),
    keep_checkpoints: int | None = typer.Option(None, help=_h("keep_checkpoints")),
    tensorboard: bool | None = typer.Option(
        None, "--tensorboard/--no-tensorboard", help=_HELP["tensorboard"]
    ),
    algo_arg: list[str] | None = typer.Option(None, help=_h("algo_kwargs") + " Format: KEY=VALUE (repeatable)."),
    reward_arg: list[str] | None = typer.Option(
        None, help=_h("reward_kwargs") + " Format: KEY=VALUE or TERM.KEY=VALUE (repeatable)."
    ),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Fine-tune a generator with GRPO / PPO / REINFORCE against an image reward (default: GRPO + brightness)."""
    from vargym.cli.common import parse_labels
    from vargym.errors import VargymError
    from vargym.train.config import load_config_file
    from vargym.train.rollout import PolicyMismatchError
    from vargym.train.trainer import Trainer

    flags = dict(
        algo=algo,
        reward=reward,
        prompt=prompt,
        model=model,
        device=device,
        steps=steps,
        out=None if out is None else str(out),
        num_labels=num_labels,
        group_size=group_size,
        minibatch_size=minibatch_size,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        lr_schedule=lr_schedule,
        warmup_steps=warmup_steps,
        grad_clip=grad_clip,
        beta=beta,
        clip_epsilon=clip_epsilon,
        temperature=temperature,
        cfg=cfg,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        sample_every=sample_every,
        eval_every=eval_every,
        eval_per_label=eval_per_label,
        eval_seed=eval_seed,
        log_kl_ref=log_kl_ref,
        ratio_check_tol=ratio_check_tol,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        tensorboard=tensorboard,
    )
    try:
        flags["labels"] = tuple(parse_labels(labels)) if labels else None
        flags["eval_labels"] = tuple(parse_labels(eval_labels)) if eval_labels else None
        flags["algo_kwargs"] = _key_values(algo_arg, "--algo-arg") or None
        flags["reward_kwargs"] = _key_values(reward_arg, "--reward-arg") or None
        files = {"vae_path": vae_path, "var_path": var_path}
        flags["model_files"] = {k: v for k, v in files.items() if v} or None
        values = load_config_file(config) if config is not None else {}
        values.update({k: v for k, v in flags.items() if v is not None})
        _check_reward_spec(values.get("reward"))
        if resume is not None:
            trainer = Trainer.from_checkpoint(resume, **values)
        else:
            trainer = Trainer(TrainConfig.from_dict(values))
    except typer.BadParameter:
        raise
    except (ValueError, TypeError, KeyError, FileNotFoundError, VargymError) as e:
        raise _fail(str(e)) from e

    run = trainer.config
    if not quiet:
        typer.echo(
            f"{run.algo} on {run.reward!r}, model {run.model}, {run.batch_size} samples/iteration, "
            f"device {trainer.device}, out {run.out}"
        )
    try:
        history = _run(trainer, quiet)
    except PolicyMismatchError as e:
        raise _fail(str(e), code=1) from e
    if history:
        last = history[-1]
        typer.echo(f"iteration {last['iteration']}: reward_mean {last['reward_mean']:.4f}; wrote {run.out}")


def _run(trainer: Any, quiet: bool) -> list[dict[str, Any]]:
    """Train with a rich progress bar showing the current reward mean."""
    if quiet:
        return trainer.train()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    ]
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("train", total=trainer.config.steps, completed=trainer.iteration, status="")

        def progress(metrics: dict[str, Any]) -> None:
            kl = f"  kl {metrics['kl_ref']:.4f}" if "kl_ref" in metrics else ""
            status = f"reward {metrics['reward_mean']:.4f}{kl}  {metrics['samples_per_s']:.1f} img/s"
            bar.update(task, completed=metrics["iteration"], status=status)

        return trainer.train(progress=progress)
