"""``vargym encode-prompts``: caption features of a prompt set, so that training and sampling need no text encoder."""

from __future__ import annotations

from pathlib import Path

import typer

from vargym.cli.common import PROMPTS_HELP, pick_device


def encode_prompts(
    prompts: str = typer.Argument(..., help=PROMPTS_HELP),
    out: Path = typer.Option(..., "--out", help="Output .safetensors file (pass it as --text-features)."),
    text_encoder: str = typer.Option("google/flan-t5-xl", help="A T5 folder or Hugging Face repo id."),
    max_length: int = typer.Option(120, min=2, help="Caption slots (LlamaGen t2i: 120), end-of-text included."),
    precision: str = typer.Option("auto", help="T5 compute dtype: auto (bfloat16 on CUDA, as the official "
                                               "scripts; float32 elsewhere), bfloat16 or float32."),
    batch_size: int = typer.Option(32, min=1, help="Prompts per encoder pass."),
    device: str | None = typer.Option(None, help="torch device (default: cuda if available, else cpu)."),
) -> None:
    """Encode every unique prompt once with the text encoder (the official caption clean-up, the tokenizer's
    window, left padding) and write the features (the role of LlamaGen's ``extract_t5_feature.py``)."""
    from rich.progress import Progress

    from vargym.data.prompts import PromptFileError, load_prompts
    from vargym.errors import VargymError
    from vargym.models.text import T5TextEncoder, write_feature_file

    if out.suffix != ".safetensors":
        raise typer.BadParameter(f"the output must be a .safetensors file, got {out}", param_hint="--out")
    try:
        prompt_set = load_prompts(prompts)
    except PromptFileError as e:
        raise typer.BadParameter(str(e), param_hint="PROMPTS") from e
    try:
        encoder = T5TextEncoder(text_encoder, device=pick_device(device), precision=precision, max_length=max_length)
    except (VargymError, ValueError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from e
    with Progress(transient=True) as bar:
        task = bar.add_task("encoding prompts", total=len(set(prompt_set.prompts)))
        write_feature_file(encoder, prompt_set.prompts, out, batch_size,
                           progress=lambda done, total: bar.update(task, completed=done))
    typer.echo(f"wrote the features of {len(set(prompt_set.prompts))} prompts ({encoder.dim} wide, "
               f"{encoder.max_length} slots) to {out}")
