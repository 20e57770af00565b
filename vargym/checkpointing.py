"""Optimizer state as safetensors + JSON (never pickle), shared by the trainer's and pretraining's checkpoints."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["flatten_optimizer_state", "unflatten_optimizer_state"]


def flatten_optimizer_state(state: dict[str, Any], prefix: str = "optimizer") -> tuple[dict, dict]:
    """Split ``optimizer.state_dict()`` into ``{name: tensor}`` and a JSON-ready rest.

    Tensor ``state[i][key]`` becomes ``f"{prefix}.state.{i}.{key}"``; other per-parameter values and
    ``param_groups`` go to the JSON part.
    """
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer_state(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str = "optimizer"
) -> dict[str, Any]:
    """Inverse of `flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            index, key = name[len(head) :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, entry in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}
