"""Loading trained models to evaluate: a model dir, or the latest checkpoint of a training run."""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["load_trained"]


def load_trained(path: str | os.PathLike, device: torch.device | str | None = None, text_encoder=None):
    """Load a trained `Generator`: a model dir (``model.json``), or a training run dir (its newest checkpoint);
    ``text_encoder`` replaces a text model's recorded one."""
    from vargym.models import load_generator

    return load_generator(Path(path), device=device, text_encoder=text_encoder)
