"""Family-neutral file helpers: where shipped assets live, and strict state-dict loading with clear errors."""

from __future__ import annotations

from pathlib import Path

import torch

from vargym.errors import CheckpointError, WeightsNotAvailableError

__all__ = ["ASSETS", "TINY_DIR", "load_state_strict", "read_state_dict"]

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TINY_DIR = ASSETS / "tiny"
"""The shipped default model and its tiny classifier."""
TINY_LLAMAGEN_DIR = ASSETS / "tiny-llamagen"
"""The shipped tiny LlamaGen (same classes and classifier as the tiny VAR)."""


def read_state_dict(path: str | Path, entries: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or ``torch.save`` (``weights_only=True``). When the file holds a
    dict with one of ``entries`` (e.g. ``"model"`` of a training checkpoint), that entry is returned."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotAvailableError(f"checkpoint file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, wrong format, pickled code refused by weights_only
        raise CheckpointError(f"could not read checkpoint {path}: {e}") from e
    if isinstance(state, dict):
        for entry in entries:
            if isinstance(state.get(entry), dict):
                state = state[entry]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        what = f"a flat state dict of tensors{' or a dict with an entry ' + repr(entries) if entries else ''}"
        raise CheckpointError(f"{path} is not {what} (got {type(state).__name__})")
    return state


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
