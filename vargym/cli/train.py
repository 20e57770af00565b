"""``vargym train``: RL fine-tuning from the command line (flags -> `TrainConfig` -> `Trainer`).

Precedence: `TrainConfig` defaults < the model's own training defaults (the ``"training"`` table of its
``model.json``: `vargym.models.training_defaults`) < ``--config FILE`` (TOML/YAML) < flags.
With ``--resume`` the checkpoint's config is the base and the given flags override it.
The help text of each flag is the docstring of its `TrainConfig` (or `SamplingConfig`) field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from vargym.cli.common import TEXT_FEATURES_HELP, model_file_help, model_files, text_encoder_spec
from vargym.cli.options import config_options, given
from vargym.models.generator import SamplingConfig
from vargym.naming import did_you_mean
from vargym.train.config import TrainConfig, field_help, training_sampling

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


@config_options(SamplingConfig, exclude=("more_smooth",), defaults=training_sampling())
@config_options(TrainConfig, exclude=("labels", "eval_labels", "reward_steps", "out", "algo_kwargs", "reward_kwargs",
                                      "model_files"))
def train(
    labels: str | None = typer.Option(None, help=_h("labels") + " Format: '0,3,5-7'."),
    eval_labels: str | None = typer.Option(None, help=_h("eval_labels") + " Format: '0,3,5-7'."),
    reward_steps: str | None = typer.Option(None, help=_h("reward_steps") + " Format: '2,4'."),
    out: Path | None = typer.Option(None, help=_h("out")),
    config: Path | None = typer.Option(None, help="TOML or YAML file of TrainConfig fields (flags override it)."),
    resume: Path | None = typer.Option(None, help="Resume from a run directory or checkpoint (flags override)."),
    algo_arg: list[str] | None = typer.Option(None, help=_h("algo_kwargs") + " Format: KEY=VALUE (repeatable)."),
    reward_arg: list[str] | None = typer.Option(
        None, help=_h("reward_kwargs") + " Format: KEY=VALUE or TERM.KEY=VALUE (repeatable)."
    ),
    model_file: list[str] | None = typer.Option(None, "--model-file", help=_h("model_files") + " " + model_file_help()),
    vae_path: str | None = typer.Option(None, help="Deprecated alias of --model-file vae_path=PATH."),
    var_path: str | None = typer.Option(None, help="Deprecated alias of --model-file var_path=PATH."),
    vq_path: str | None = typer.Option(None, help="Deprecated alias of --model-file vq_path=PATH."),
    gpt_path: str | None = typer.Option(None, help="Deprecated alias of --model-file gpt_path=PATH."),
    text_features: str | None = typer.Option(None, help=TEXT_FEATURES_HELP),
    quiet: bool = typer.Option(False, help="No progress bar."),
    **fields: Any,
) -> None:
    """Fine-tune a generator with GRPO / PPO / REINFORCE against an image reward (default: GRPO + brightness).

    Batch semantics: each iteration samples --num-labels labels x --group-size images and updates on them in
    minibatches of --minibatch-size. All three are global: under torchrun the W processes share them.
    """
    from vargym.cli.common import parse_labels
    from vargym.errors import VargymError
    from vargym.train.config import _fold_sampling, load_config_file, with_model_defaults
    from vargym.train.rollout import PolicyMismatchError
    from vargym.train.trainer import Trainer

    flags = given(TrainConfig, fields)
    flags["out"] = None if out is None else str(out)
    flags["text_encoder"] = text_encoder_spec(flags.get("text_encoder"), text_features)
    try:
        flags["labels"] = tuple(parse_labels(labels)) if labels else None
        flags["eval_labels"] = tuple(parse_labels(eval_labels)) if eval_labels else None
        flags["reward_steps"] = tuple(parse_labels(reward_steps)) if reward_steps else None
        flags["algo_kwargs"] = _key_values(algo_arg, "--algo-arg") or None
        flags["reward_kwargs"] = _key_values(reward_arg, "--reward-arg") or None
        flags["model_files"] = model_files(model_file, vae_path=vae_path, var_path=var_path, vq_path=vq_path,
                                           gpt_path=gpt_path) or None
        values = _fold_sampling(load_config_file(config) if config is not None else {})
        values.update({k: v for k, v in flags.items() if v is not None})
        sampling = given(SamplingConfig, fields)
        if sampling:
            values["sampling"] = {**values.get("sampling", {}), **sampling}
        _check_reward_spec(values.get("reward"))
        model_defaults = {}
        if resume is not None:
            trainer = Trainer.from_checkpoint(resume, **values)
        else:
            merged = with_model_defaults(values)
            model_defaults = {k: v for k, v in merged.items() if k not in values}
            trainer = Trainer(TrainConfig.from_dict(merged))
    except typer.BadParameter:
        raise
    except (ValueError, TypeError, KeyError, FileNotFoundError, VargymError) as e:
        raise _fail(str(e)) from e

    run = trainer.config
    quiet = quiet or not trainer.dist.is_main  # under torchrun only rank 0 reports
    if resume is not None and trainer.iteration >= run.steps:
        typer.echo(f"the run in {run.out} already finished: iteration {trainer.iteration} of {run.steps}; "
                   f"pass --steps {trainer.iteration + run.steps} to train it longer")
        return
    if not quiet:
        typer.echo(
            f"{run.algo} on {run.reward!r}, model {run.model}, {run.num_labels} labels x {run.group_size} = "
            f"{run.batch_size} samples/iteration, {run.steps} iterations"
            + (f" (or until reward {run.target_reward})" if run.target_reward is not None else "")
            + f", device {trainer.device} ({trainer.sampling.precision}), out {run.out}"
        )
        if model_defaults:
            typer.echo("the model's own training defaults (its model.json; flags and --config override them): "
                       + ", ".join(f"{k}={v}" for k, v in model_defaults.items()))
    try:
        history = _run(trainer, quiet)
    except PolicyMismatchError as e:
        raise _fail(str(e), code=1) from e
    except VargymError as e:  # e.g. the run directory holds another run
        raise _fail(str(e)) from e
    except KeyboardInterrupt as e:
        from vargym.train.checkpoint import checkpoint_dirs

        saved = checkpoint_dirs(run.out)
        where = f"the last checkpoint is {saved[-1]}" if saved else "no checkpoint was written yet"
        typer.secho(f"interrupted: iteration {trainer.iteration + 1} abandoned; {where}. "
                    f"Continue with: vargym train --resume {run.out}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(code=130) from e
    if history and trainer.dist.is_main:
        _print_summary(trainer, history, quiet)
    if trainer.dist.enabled:
        import os
        import sys

        trainer.close()
        # Everything is written and the group is left; skip interpreter teardown, where C++ destructors of
        # the communication threads could still race and abort a finished rank (seen once in 30 CPU runs).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _print_summary(trainer: Any, history: list[dict[str, Any]], quiet: bool) -> None:
    """The end-of-run report (`vargym.train.summary.run_summary`) as a table, or one line with --quiet."""
    from vargym.train.summary import run_summary

    summary = run_summary(trainer, history, fidelity_per_class=0 if quiet else 10)
    last = history[-1]
    typer.echo(f"iteration {last['iteration']}: reward_mean {last['reward_mean']:.4f}; wrote {trainer.out}")
    if quiet:
        return
    why = {None: "all steps done", "target_reward": f"reached target reward {trainer.config.target_reward}"}
    rows = [("iterations", f"{summary['iterations']} of {summary['steps']} "
             f"({why.get(summary['stopped_by'], 'stopped by ' + str(summary['stopped_by']))})"),
            ("batch reward", f"{summary['reward_start']:.4f} (first iteration) -> {summary['reward_end']:.4f}")]
    if summary["kl_ref"] is not None:
        rows.append(("KL to the base model", f"{summary['kl_ref']:.4f}"))
    if summary["class_top1"] is not None:
        top1 = summary["class_top1"]
        rows.append(("class fidelity", f"{top1['tuned']:.3f} tuned vs {top1['base']:.3f} base (tiny classifier, "
                                       f"10 per class, sampled as in training)"))
    if summary["gold"] is not None:
        gold = summary["gold"]
        rows.append(("gold metric", f"{gold['tuned']:.3f} tuned vs {gold['base']:.3f} base ({gold['name']}, "
                                    f"{gold['conditions']} eval conditions x 2, sampled as in training)"))
    if summary["grids"]:
        rows.append(("samples before / after", " / ".join(summary["grids"])))
    if summary["checkpoint"]:
        rows.append(("checkpoint", summary["checkpoint"]))
    rows.append(("continue with", summary["resume"]))
    width = max(len(k) for k, _ in rows)
    typer.secho("result", bold=True)
    for key, value in rows:  # plain lines: paths and commands stay whole for copying
        typer.echo(f"  {key:<{width}}  {value}")


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
            hacking = "  [red]possible reward hacking[/red]" if metrics.get("hacking_flag") else ""
            status = f"reward {metrics['reward_mean']:.4f}{kl}  {metrics['samples_per_s']:.1f} img/s{hacking}"
            bar.update(task, completed=metrics["iteration"], status=status)

        return trainer.train(progress=progress)
