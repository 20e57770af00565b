"""``vargym pretrain``: train a VQ-VAE, a VAR and the tiny classifier from scratch (the embedded default's
recipe; also works on a folder of images per class). Flags -> `PretrainConfig` -> `run_pretrain`."""

from __future__ import annotations

from pathlib import Path

import typer

from vargym.configdoc import field_help
from vargym.models.pretrain.config import PretrainConfig

_HELP = field_help(PretrainConfig)


def pretrain(
    out: Path = typer.Option(Path("runs/pretrain"), help=_HELP["out_dir"]),
    data: str = typer.Option("procedural", help=_HELP["data"]),
    preset: str = typer.Option("tiny", help=_HELP["preset"]),
    seed: int = typer.Option(0, help=_HELP["seed"]),
    device: str | None = typer.Option(None, help=_HELP["device"]),
    vqvae_steps: int | None = typer.Option(None, help=_HELP["vqvae_steps"]),
    decoder_steps: int | None = typer.Option(None, help=_HELP["decoder_steps"]),
    var_steps: int | None = typer.Option(None, help=_HELP["var_steps"]),
    classifier_steps: int | None = typer.Option(None, help=_HELP["classifier_steps"]),
    vqvae_batch_size: int | None = typer.Option(None, help=_HELP["vqvae_batch_size"]),
    var_batch_size: int | None = typer.Option(None, help=_HELP["var_batch_size"]),
    eval_per_class: int | None = typer.Option(None, help=_HELP["eval_per_class"]),
    resume: bool = typer.Option(False, help=_HELP["resume"]),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Pretrain a class-conditional VAR (VQ-VAE, optional decoder fine-tune, transformer, tiny classifier)."""
    import contextlib
    import sys

    from vargym.models.pretrain.stages import rich_progress, run_pretrain

    given = dict(vqvae_steps=vqvae_steps, decoder_steps=decoder_steps, var_steps=var_steps, classifier_steps=classifier_steps,
                 vqvae_batch_size=vqvae_batch_size, var_batch_size=var_batch_size, eval_per_class=eval_per_class)
    try:
        cfg = PretrainConfig(out_dir=str(out), data=data, preset=preset, seed=seed, device=device, resume=resume,
                             **{k: v for k, v in given.items() if v is not None})
    except ValueError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from e
    progress_context = contextlib.nullcontext(None) if quiet else rich_progress()
    with progress_context as progress:
        result = run_pretrain(cfg, progress=progress, command=" ".join(["vargym", *sys.argv[1:]]))
    typer.echo(f"model written to {result.out_dir} (load it with --model {result.out_dir})")
