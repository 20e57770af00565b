"""``vargym export``: write a trained generator as plain weights, LoRA adapters merged (the family's own keys)."""

from __future__ import annotations

from pathlib import Path

import typer

from vargym.cli.common import pick_device


def export(
    checkpoint: Path = typer.Option(..., help="A model dir, training run dir or checkpoint dir."),
    out: Path = typer.Option(..., help="Directory to write (model.json and the family's weight files)."),
    device: str | None = typer.Option("cpu", help="torch device used while merging."),
) -> None:
    """Export a trained model with its LoRA adapters merged (official key names for VAR)."""
    from vargym.errors import VargymError
    from vargym.evaluation.checkpoints import load_trained

    try:
        generator = load_trained(checkpoint, device=pick_device(device))
        generator.export(out)
    except (VargymError, ValueError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from e
    typer.echo(f"wrote {out} (load it with --model {out})")
