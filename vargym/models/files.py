"""Family-neutral file helpers: where shipped assets live, and strict state-dict loading with clear errors."""

from __future__ import annotations

from pathlib import Path

import torch

from vargym.errors import CheckpointError, WeightsNotAvailableError

__all__ = ["ASSETS", "TINY_DIR", "load_model_parts", "load_state_strict", "read_model_configs", "read_state_dict",
           "save_model_dir"]

ASSETS = Path(__file__).resolve().parents[1] / "assets"
TINY_DIR = ASSETS / "tiny"
"""The shipped default model and its tiny classifier."""
TINY_LLAMAGEN_DIR = ASSETS / "tiny-llamagen"
"""The shipped tiny LlamaGen (same classes and classifier as the tiny VAR)."""


def save_model_dir(directory: str | Path, family: str, parts: dict[str, torch.nn.Module],
                   extra: dict | None = None) -> Path:
    """A family's own checkpoint: ``<name>.safetensors`` per part and ``model.json`` holding the family, each
    part's config (``part.cfg``) under its name, and ``extra``."""
    import json
    from dataclasses import asdict

    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        save_file({k: v.detach().contiguous().cpu() for k, v in part.state_dict().items()},
                  str(directory / f"{name}.safetensors"))
    meta = {"family": family, **{name: asdict(part.cfg) for name, part in parts.items()}, **(extra or {})}
    (directory / "model.json").write_text(json.dumps(meta, indent=2))
    return directory


def read_model_configs(directory: str | Path, family: str, label: str, config_types: dict[str, type]) -> list:
    """The part configs recorded in ``model.json`` by `save_model_dir`, in the order of ``config_types``.
    A directory of another family (``label`` names ours in the error) or a corrupt file raises."""
    import json

    meta_path = Path(directory) / "model.json"
    if not meta_path.is_file():
        raise WeightsNotAvailableError(f"{directory} holds no model.json: not a vargym model checkpoint")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("family", "var") != family:  # files written before families existed are VAR's
            raise CheckpointError(f"{meta_path} holds a {meta.get('family', 'var')!r} model, not a {label} one")
        return [cls(**meta[name]) for name, cls in config_types.items()]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{meta_path} is corrupt or from another version: {e}") from e


def load_model_parts(directory: str | Path, parts: dict[str, torch.nn.Module]) -> None:
    """Load each part from ``<name>.safetensors`` of a `save_model_dir` directory (strict keys and shapes)."""
    for name, part in parts.items():
        path = Path(directory) / f"{name}.safetensors"
        load_state_strict(part, read_state_dict(path), str(path))


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
            import argparse

            # training checkpoints of the official scripts keep their argparse options beside the weights;
            # a Namespace holds plain values, so it is the one class let through besides tensors and containers
            with torch.serialization.safe_globals([argparse.Namespace]):
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


def model_dir(path: str | Path) -> Path:
    """A model directory (holding ``model.json``) itself, or the newest checkpoint of a training run
    (``<run>/checkpoints/<name>/model.json``, newest by name: names are zero-padded iterations)."""
    path = Path(path)
    if (path / "model.json").is_file():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = sorted(p for p in folder.iterdir() if (p / "model.json").is_file()) if folder.is_dir() else []
    if not found:
        raise WeightsNotAvailableError(f"{path} holds no model: expected {path}/model.json or a training run "
                                       f"with {path}/checkpoints/<iteration>/model.json")
    return found[-1]
