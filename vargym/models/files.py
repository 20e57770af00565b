"""Family-neutral file helpers: where shipped assets live, and strict state-dict loading with clear errors."""

from __future__ import annotations

from pathlib import Path

import torch

from vargym.errors import CheckpointError

__all__ = ["ASSETS", "TINY_DIR", "load_state_strict"]

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TINY_DIR = ASSETS / "tiny"
"""The shipped default model and its tiny classifier."""


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with one named conversion and errors that name the file."""
    own = module.state_dict()
    # The official VQVAE.load_state_dict keeps its own `ema_vocab_hit_SV` (training statistics only) when the
    # number of scales differs; do the same, explicitly.
    key = "quantize.ema_vocab_hit_SV"
    if key in state and key in own and state[key].shape != own[key].shape:
        state = {**state, key: own[key]}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{source}: state dict does not match {type(module).__name__}: "
                              f"missing {missing[:8]}{'...' if len(missing) > 8 else ''}, "
                              f"unexpected {unexpected[:8]}{'...' if len(unexpected) > 8 else ''}")
    bad = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if bad:
        raise CheckpointError(f"{source}: shape mismatch for {bad[:8]}")
    module.load_state_dict(state, strict=True)  # copies into our float32 tensors (casts fp16/bf16 files)
