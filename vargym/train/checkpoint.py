"""Resumable training checkpoints: safetensors for every tensor, JSON for the rest, never pickle.

Layout of ``<out>/checkpoints/iter_000010/``:

- the generator's own files and ``model.json`` (`vargym.models.Generator.save`), so
  ``vargym sample --checkpoint`` and ``load_generator(dir)`` read it directly;
- ``trainer.safetensors``: optimizer tensors, value head, algorithm buffers, reference policy, RNG states;
- ``trainer.json``: iteration, config, optimizer/scheduler scalars, counters.

A checkpoint is written to a temporary sibling directory and renamed into place, so an interrupted
write never leaves a half checkpoint under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from vargym.checkpointing import flatten_optimizer_state, unflatten_optimizer_state
from vargym.errors import CheckpointError

__all__ = [
    "checkpoint_dirs",
    "find_checkpoint",
    "flatten_optimizer_state",
    "read_checkpoint",
    "unflatten_optimizer_state",
    "write_checkpoint",
]

PREFIX = "iter_"


def write_checkpoint(
    directory: str | Path, generator: Any, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
    model_extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp dir + rename) and return its final path.

    Args:
        directory: final checkpoint directory (replaced when it exists).
        generator: the `vargym.models.Generator` being trained (``generator.save`` writes its files).
        tensors: flat ``{name: tensor}`` of trainer state (moved to CPU, made contiguous).
        meta: JSON-ready trainer state.
    """
    from safetensors.torch import save_file

    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp_{final.name}_{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    generator.save(tmp, extra={"iteration": meta.get("iteration"), **(model_extra or {})})
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / "trainer.safetensors")
    )
    (tmp / "trainer.json").write_text(json.dumps(meta, indent=2))
    if final.exists():  # re-saving the same iteration: swap the old one out first
        old = final.parent / f".old_{final.name}_{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old)
    else:
        tmp.rename(final)
    return final


def read_checkpoint(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``trainer.safetensors`` and ``trainer.json`` of a checkpoint (the model is read separately)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    tensor_path, meta_path = directory / "trainer.safetensors", directory / "trainer.json"
    if not tensor_path.is_file() or not meta_path.is_file():
        raise CheckpointError(
            f"{directory} is not a vargym training checkpoint (no trainer.safetensors/json)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta_path} is corrupt: {e}") from e
    try:
        tensors = load_file(str(tensor_path))
    except Exception as e:  # safetensors raises its own error type for truncated or foreign files
        raise CheckpointError(f"{tensor_path} is corrupt or truncated ({e}); resume from an earlier "
                              f"checkpoint in {directory.parent}") from e
    return tensors, meta


def checkpoint_dirs(run_dir: str | Path) -> list[Path]:
    """Finished checkpoints of a run directory, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and (p / "trainer.json").is_file()
    ]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory itself, or the newest checkpoint of a run directory."""
    path = Path(path)
    if (path / "trainer.json").is_file():
        return path
    found = checkpoint_dirs(path)
    if not found:
        raise CheckpointError(
            f"no training checkpoint in {path} (expected {path}/checkpoints/{PREFIX}NNNNNN/)"
        )
    return found[-1]
