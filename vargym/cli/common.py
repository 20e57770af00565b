"""Helpers shared by CLI commands: device choice, generator loading with friendly errors, label parsing."""

from __future__ import annotations

import typer


def pick_device(device: str | None):
    """`vargym.devices.resolve_device`, with its error as a one-line ``--device`` message."""
    from vargym.devices import resolve_device

    try:
        return resolve_device(device)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--device") from e


def parse_labels(text: str | None, num_classes: int | None = None) -> list[int] | None:
    """"0,3,5-7" -> [0, 3, 5, 6, 7]; None/"" -> None. Checks the range when ``num_classes`` is given."""
    if not text:
        return None
    labels: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, _, hi = part.partition("-")
            labels.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError as e:
        raise ValueError(f"labels must be comma-separated integers or ranges like '0,3,5-7', got {text!r}") from e
    if num_classes is not None:
        bad = [x for x in labels if not 0 <= x < num_classes]
        if bad:
            raise ValueError(f"labels {bad} are outside [0, {num_classes})")
    return labels


def load_generator_or_exit(spec: str, device, vae_path: str | None = None, var_path: str | None = None,
                           **files: str | None):
    """``vargym.models.load_generator`` with errors turned into a clean CLI message (no traceback).
    ``files``: the local weight files of a released model (``vq_path``/``gpt_path`` for LlamaGen)."""
    from vargym.errors import VargymError
    from vargym.models import load_generator

    kwargs = {k: v for k, v in {"vae_path": vae_path, "var_path": var_path, **files}.items() if v}
    try:
        return load_generator(spec, device=device, **kwargs)
    except (VargymError, ValueError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from e
