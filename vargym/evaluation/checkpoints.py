"""Loading trained models to evaluate: a model dir, or the latest checkpoint of a training run."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vargym.errors import WeightsNotAvailableError

__all__ = ["load_trained"]


def load_trained(path: str | os.PathLike, device: torch.device | str | None = None):
    """Load a trained model: a model dir (``model.json``), or a run dir / its ``checkpoints/`` folder, whose
    latest numbered ``<iter>/`` (or ``<iter>/model/``) is loaded with `vargym.models.load_checkpoint`."""
    from vargym.models.loading import load_checkpoint

    path = Path(path)
    if (path / "model.json").is_file():
        return load_checkpoint(path, device=device)
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    numbered = sorted(
        (p for p in folder.glob("*") if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    for candidate in [numbered[-1] / "model", numbered[-1]] if numbered else []:
        if (candidate / "model.json").is_file():
            return load_checkpoint(candidate, device=device)
    raise WeightsNotAvailableError(
        f"{path} is neither a model dir (model.json) nor a run dir with "
        f"checkpoints/<iteration>/model/model.json"
    )
