"""``vargym sample``: draw images from a model and save them as a PNG grid."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

from vargym.cli.common import (
    PROMPT_HELP,
    PROMPTS_HELP,
    TEXT_ENCODER_HELP,
    TEXT_FEATURES_HELP,
    condition_pool,
    load_generator_or_exit,
    model_file_help,
    model_files,
    model_help,
    pick_device,
    text_encoder_spec,
)
from vargym.cli.options import config_options, given
from vargym.models.generator import SamplingConfig

SAMPLE_DEFAULTS = SamplingConfig(cfg=1.5)
"""`vargym sample`'s distribution: the official samplers' defaults with guidance 1.5."""


@config_options(SamplingConfig, defaults=SAMPLE_DEFAULTS)
def sample(
    model: str = typer.Option("tiny", help=model_help()),
    checkpoint: Path | None = typer.Option(None, help="A training run's checkpoint dir (overrides --model's weights)."),
    labels: str | None = typer.Option(None, "--labels", "--classes",
                                      help="Class labels, e.g. '0,1,2' or '0-9' (default: every class, up to 16)."),
    prompt: list[str] | None = typer.Option(None, "--prompt", help=PROMPT_HELP),
    prompts: str | None = typer.Option(None, "--prompts", help=PROMPTS_HELP + " The first 16 are drawn."),
    text_encoder: str | None = typer.Option(None, help=TEXT_ENCODER_HELP),
    text_features: str | None = typer.Option(None, help=TEXT_FEATURES_HELP),
    per_label: int = typer.Option(4, "--per-label", "--labels-per-class", min=1,
                                  help="Samples per condition (label or prompt; one row each)."),
    seed: int = typer.Option(0, help="Seed of the sampling generator."),
    out: Path = typer.Option(Path("samples.png"), help="Output PNG path."),
    device: str | None = typer.Option(None, help="torch device (default: cuda if available, else cpu)."),
    model_file: list[str] | None = typer.Option(None, "--model-file", help=model_file_help()),
    vae_path: str | None = typer.Option(None, help="Deprecated alias of --model-file vae_path=PATH."),
    var_path: str | None = typer.Option(None, help="Deprecated alias of --model-file var_path=PATH."),
    vq_path: str | None = typer.Option(None, help="Deprecated alias of --model-file vq_path=PATH."),
    gpt_path: str | None = typer.Option(None, help="Deprecated alias of --model-file gpt_path=PATH."),
    **fields: Any,
) -> None:
    """Sample a grid of images (one row per label or prompt) and write it as a PNG (guidance 1.5 by default:
    the shipped VAR draws its classes best at cfg 1-2; LlamaGen t2i's official setting is --cfg 7.5 --top-k 1000;
    models without an unconditional branch sample unguided)."""
    import torch

    from vargym.data.grid import save_grid

    try:
        sampling = dataclasses.replace(SAMPLE_DEFAULTS, **given(SamplingConfig, fields))
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    try:
        files = model_files(model_file, vae_path=vae_path, var_path=var_path, vq_path=vq_path, gpt_path=gpt_path)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--model-file") from e
    dev = pick_device(device)
    sampling = sampling.resolve(dev)
    encoder = text_encoder_spec(text_encoder, text_features)
    model_ = load_generator_or_exit(str(checkpoint or model), dev, text_encoder=encoder, **files)
    if not model_.supports_guidance:  # the guidance default applies to models that have an unconditional branch
        if "cfg" in given(SamplingConfig, fields) and sampling.cfg > 1:
            raise typer.BadParameter(f"{model} has no unconditional branch, so classifier-free guidance does not "
                                     f"exist for it: leave --cfg out (or 0)", param_hint="--cfg")
        sampling = dataclasses.replace(sampling, cfg=0.0)
    pool = condition_pool(labels, prompts or (None if labels or prompt else model_.default_prompts), prompt,
                          model_.num_classes)
    try:
        source = model_.condition_source(pool)
        rows = source.first(source.pool_size if labels or prompt else 16, dev)  # each condition once: a grid row each
    except (TypeError, ValueError) as e:
        hint = "--prompts" if prompts else "--prompt" if prompt else "--labels"
        raise typer.BadParameter(str(e), param_hint=hint) from e
    generator = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        tokens = model_.sample(rows.repeat_interleave(per_label), sampling, generator)
        images = model_.decode(tokens, sampling.decode_precision)
    names = model_.class_names
    row_labels = [f"{c}: {names[i]}" if names else c for c, i in zip(rows.captions(), rows.ids.tolist())]
    out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(images.cpu(), out, nrow=per_label, row_labels=row_labels)
    typer.echo(f"wrote {len(rows) * per_label} samples to {out}")
