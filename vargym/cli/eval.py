"""``vargym eval``: score a model (and optionally a trained checkpoint beside it) and write JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import typer

from vargym.cli.common import (
    TEXT_ENCODER_HELP,
    TEXT_FEATURES_HELP,
    load_generator_or_exit,
    model_file_help,
    model_files,
    model_help,
    parse_labels,
    pick_device,
    text_encoder_spec,
)
from vargym.cli.options import config_options, given
from vargym.configdoc import field_help
from vargym.evaluation.config import EvalConfig, evaluation_sampling
from vargym.models.generator import SamplingConfig

_HELP = field_help(EvalConfig)


def _fail(error: Exception) -> typer.Exit:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _format(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _table(results: dict[str, dict]):
    from rich.table import Table

    from vargym.evaluation.evaluate import summary

    flats = {name: summary(result) for name, result in results.items()}
    table = Table(title="vargym eval")
    table.add_column("metric")
    for name in flats:
        table.add_column(name, justify="right")
    if len(flats) == 2:
        table.add_column("delta", justify="right")
    keys = list(dict.fromkeys(k for flat in flats.values() for k in flat))
    for key in keys:
        values = [flat.get(key, float("nan")) for flat in flats.values()]
        row = [key, *(_format(v) for v in values)]
        if len(values) == 2:
            row.append(f"{values[1] - values[0]:+.4g}")
        table.add_row(*row)
    return table


def _group_table(name: str, groups: dict):
    from rich.table import Table

    table = Table(title=f"{name}: mean reward per {groups['key']}")
    table.add_column(groups["key"])
    table.add_column("samples", justify="right")
    for reward in groups["rewards"]:
        table.add_column(reward, justify="right")
    for group, count in groups["counts"].items():
        table.add_row(group, str(count), *(f"{values[group]:.4f}" for values in groups["rewards"].values()))
    return table


@config_options(SamplingConfig, defaults=evaluation_sampling())
@config_options(EvalConfig, exclude=("classes", "conditions", "rewards", "labels_per_class"))
def eval_command(
    model: str = typer.Option("tiny", help=model_help()),
    checkpoint: Path | None = typer.Option(
        None, help="A trained model dir or training run dir, evaluated beside --model."
    ),
    classes: str | None = typer.Option(None, "--classes", "--labels", help=_HELP["classes"] + " Format: '0-9' or '1,5'."),
    labels_per_class: int | None = typer.Option(None, "--labels-per-class", "--per-label",
                                                help=_HELP["labels_per_class"]),
    reward: list[str] | None = typer.Option(None, help=_HELP["rewards"] + " Repeatable."),
    classifier: Path | None = typer.Option(None, help=_HELP["classifier"]),
    resnet_weights: Path | None = typer.Option(None, help=_HELP["resnet_weights"]),
    fid_reference: Path | None = typer.Option(None, help=_HELP["fid_reference"]),
    inception_weights: Path | None = typer.Option(None, help=_HELP["inception_weights"]),
    text_encoder: str | None = typer.Option(None, help=TEXT_ENCODER_HELP),
    text_features: str | None = typer.Option(None, help=TEXT_FEATURES_HELP),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the full results (per class too) here."
    ),
    device: str | None = typer.Option(None, help="torch device (default: cuda if available, else cpu)."),
    model_file: list[str] | None = typer.Option(None, "--model-file", help=model_file_help()),
    vae_path: str | None = typer.Option(None, help="Deprecated alias of --model-file vae_path=PATH."),
    var_path: str | None = typer.Option(None, help="Deprecated alias of --model-file var_path=PATH."),
    vq_path: str | None = typer.Option(None, help="Deprecated alias of --model-file vq_path=PATH."),
    gpt_path: str | None = typer.Option(None, help="Deprecated alias of --model-file gpt_path=PATH."),
    **fields: Any,
) -> None:
    """Evaluate --model (and --checkpoint) on rewards, classifier accuracy, diversity, FID and speed."""
    from rich.console import Console

    from vargym.errors import VargymError
    from vargym.evaluation.evaluate import build_scorers, evaluate_model, load_trained

    try:
        files = model_files(model_file, vae_path=vae_path, var_path=var_path, vq_path=vq_path, gpt_path=gpt_path)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--model-file") from e
    dev = pick_device(device)
    encoder = text_encoder_spec(text_encoder, text_features)
    models = {"base": load_generator_or_exit(model, dev, text_encoder=encoder, **files)}
    if checkpoint is not None:
        try:
            models["checkpoint"] = load_trained(checkpoint, device=dev, text_encoder=encoder)
        except (VargymError, ValueError) as e:
            raise _fail(e) from e
    num_classes = models["base"].num_classes
    try:
        config = EvalConfig(
            classes=parse_labels(classes, num_classes),
            rewards=tuple(reward) if reward else None,
            classifier=classifier,
            resnet_weights=resnet_weights,
            fid_reference=fid_reference,
            inception_weights=inception_weights,
            sampling=evaluation_sampling(**given(SamplingConfig, fields)),
            **given(EvalConfig, {**fields, "labels_per_class": labels_per_class}),
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    s = config.sampling
    typer.echo(f"sampling: temperature {s.temperature:g}, cfg {s.cfg:g}, top_k {s.top_k}, top_p {s.top_p:g}, "
               f"seed {config.seed} ({config.labels_per_class} per condition)", err=True)
    console = Console(stderr=True)
    try:
        with console.status("loading scoring models"):
            shared = build_scorers(config, num_classes, dev)  # built once, shared by both models
        results = {}
        for name, generator in models.items():
            if generator.num_classes != num_classes:
                raise ValueError(f"--checkpoint has {generator.num_classes} classes but --model has {num_classes}")
            with console.status(f"evaluating {name}"):
                results[name] = evaluate_model(generator, config, scorers=shared)
    except (VargymError, ValueError) as e:
        raise _fail(e) from e
    for note in shared.notes:
        typer.secho(f"note: {note}", fg=typer.colors.YELLOW, err=True)
    Console().print(_table(results))
    for name, result in results.items():
        if "per_group" in result:
            Console().print(_group_table(name, result["per_group"]))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items()}
        settings["sampling"] = dataclasses.asdict(config.sampling)
        payload = {
            "model": model,
            "checkpoint": str(checkpoint) if checkpoint else None,
            "config": settings,
            "results": results,
        }
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
        typer.echo(f"wrote {json_path}")
