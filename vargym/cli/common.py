"""Helpers shared by CLI commands: device choice, model loading with friendly errors, label parsing."""

from __future__ import annotations

import typer


def pick_device(device: str | None):
    """``None``/"auto" -> CUDA if available, else CPU; otherwise the given torch device string."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise typer.BadParameter(f"--device {device!r} is not a torch device ({e})") from e


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


def load_model_or_exit(spec: str, device, vae_path: str | None = None, var_path: str | None = None):
    """``vargym.models.load_model`` with errors turned into a clean CLI message (no traceback)."""
    from vargym.errors import VargymError
    from vargym.models import load_model

    kwargs = {}
    if vae_path or var_path:
        kwargs = {"vae_path": vae_path, "var_path": var_path}
    try:
        return load_model(spec, device=device, **kwargs)
    except (VargymError, ValueError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from e
