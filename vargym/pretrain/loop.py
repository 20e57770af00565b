"""The one training loop every pretraining stage runs, and its resumable safetensors checkpoints.

A `Stage` says what to train and how one step goes; `run_stage` owns the rest: the learning-rate schedule,
backward, gradient clipping, the optimiser step, logging, checkpoints every ``checkpoint_every`` steps and
at the end, exact resume, and progress callbacks.

Checkpoint layout of ``<out>/checkpoints/<stage>/``: ``weights.safetensors`` (the module),
``optimizer.safetensors`` (optimizer tensors and the stage's extra tensors), ``state.json`` (step, wall time,
recent losses, optimizer scalars; written last, so it marks a complete checkpoint).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vargym.checkpointing import flatten_optimizer_state, unflatten_optimizer_state
from vargym.metrics_log import MetricsLogger

__all__ = ["ProgressCallback", "Stage", "StageCheckpoint", "adamw", "lr_at", "run_stage"]

ProgressCallback = Callable[[str, int, int, dict], None]
"""``progress(stage, step, total, metrics)`` after every optimiser step (``step`` counts from 1)."""

LOG_FILE = "pretrain_log.jsonl"


def lr_at(step: int, total: int, peak: float, warmup_fraction: float) -> float:
    """Linear warm-up to ``peak``, then cosine down to ``peak / 10`` at ``total``."""
    warmup = max(1, round(total * warmup_fraction))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def adamw(module: torch.nn.Module, lr: float, weight_decay: float, betas: tuple[float, float]) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; matrices (but not embeddings) decay, the rest does not."""
    decay = [p for n, p in module.named_parameters() if p.requires_grad and p.ndim >= 2 and "emb" not in n]
    rest = [
        p for n, p in module.named_parameters() if p.requires_grad and not (p.ndim >= 2 and "emb" not in n)
    ]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


@dataclass
class Stage:
    """One pretraining stage: what is trained and how one step goes.

    ``loss(step)`` runs the forward pass on batch ``step`` and returns ``(loss, metrics)``; `run_stage` does
    backward, clipping and the optimiser step, then calls ``after_step(step)`` (e.g. a codebook update),
    whose metrics are merged. ``recent`` names the metrics averaged over the last 20 steps for the final
    figures. ``extra_tensors`` / ``extra_json`` add state to each checkpoint; ``restore`` reads it back.
    """

    name: str
    total: int
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    peak_lr: float
    parameters: Iterable[torch.nn.Parameter]
    loss: Callable[[int], tuple[torch.Tensor, dict[str, float]]]
    after_step: Callable[[int], dict[str, float]] | None = None
    recent: tuple[str, ...] = ("loss",)
    extra_tensors: Callable[[], dict[str, torch.Tensor]] | None = None
    extra_json: Callable[[], dict[str, Any]] | None = None
    restore: Callable[[dict[str, torch.Tensor], dict[str, Any]], None] | None = None
    state: dict[str, Any] = field(default_factory=lambda: {"step": 0, "wall_s": 0.0, "recent": []})


class StageCheckpoint:
    """``<out>/checkpoints/<stage>/``: safetensors for tensors, JSON for the rest, written atomically."""

    def __init__(self, out_dir: Path, stage: str):
        self.dir = Path(out_dir) / "checkpoints" / stage

    def exists(self) -> bool:
        return (self.dir / "state.json").is_file()

    def save(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict,
             extra_tensors: dict[str, torch.Tensor] | None = None) -> dict:
        """Write weights, optimizer state, extra tensors and ``state``; returns ``state``."""
        from safetensors.torch import save_file

        self.dir.mkdir(parents=True, exist_ok=True)
        tensors, optimizer_meta = flatten_optimizer_state(optimizer.state_dict())
        tensors.update({f"extra.{k}": v for k, v in (extra_tensors or {}).items()})
        weights = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)  # tied weights: own copies
                   for k, v in module.state_dict().items()}
        save_file(weights, str(self.dir / "weights.safetensors.tmp"))
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(self.dir / "optimizer.safetensors.tmp"))
        (self.dir / "state.json.tmp").write_text(json.dumps({**state, "optimizer": optimizer_meta}, indent=2))
        for name in ("weights.safetensors", "optimizer.safetensors", "state.json"):  # state.json last
            os.replace(self.dir / f"{name}.tmp", self.dir / name)
        return state

    def load(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer | None
             ) -> tuple[dict, dict[str, torch.Tensor]]:
        """Restore the module (strict) and optimizer; returns ``(state, extra tensors)``."""
        from safetensors.torch import load_file

        from vargym.errors import CheckpointError
        from vargym.models.files import load_state_strict

        try:
            state = json.loads((self.dir / "state.json").read_text())
            weights = load_file(str(self.dir / "weights.safetensors"), device="cpu")
            tensors = load_file(str(self.dir / "optimizer.safetensors"), device="cpu")
        except (OSError, ValueError, Exception) as e:  # safetensors raises its own type for truncated files
            raise CheckpointError(f"the pretraining checkpoint {self.dir} is unreadable ({e}); delete it to "
                                  f"restart that stage") from e
        load_state_strict(module, weights, str(self.dir))
        if optimizer is not None:
            optimizer.load_state_dict(unflatten_optimizer_state(tensors, state.pop("optimizer")))
        device = next(module.parameters()).device
        extra = {k.removeprefix("extra."): v.to(device) for k, v in tensors.items() if k.startswith("extra.")}
        return state, extra


def _clip(parameters: list[torch.nn.Parameter], max_norm: float) -> float:
    if max_norm <= 0:
        return float("nan")
    return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))


def run_stage(stage: Stage, out_dir: Path, *, resume: bool, warmup_fraction: float, grad_clip: float,
              log_every: int, checkpoint_every: int, progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Train ``stage`` to ``stage.total`` steps (from its checkpoint when ``resume``); returns its final state.

    The checkpoint is written before the progress callback, so an interrupt raised there (as a kill would
    land) never loses the step just checkpointed. The state's ``recent`` holds the last 20 values of the
    ``stage.recent`` metrics and ``wall_s`` the stage's wall time over all sessions.
    """
    ckpt = StageCheckpoint(out_dir, stage.name)
    state = stage.state
    if resume and ckpt.exists():
        state, extra = ckpt.load(stage.module, stage.optimizer)
        if stage.restore is not None:
            stage.restore(extra, state)
    log = MetricsLogger(out_dir, tensorboard=False, resume_iteration=state["step"], filename=LOG_FILE,
                        step_key="step", keep=lambda r: r.get("stage") != stage.name)
    parameters = list(stage.parameters)
    recent: list = state["recent"]
    start, wall0 = time.perf_counter(), state["wall_s"]
    for step in range(state["step"], stage.total):
        for group in stage.optimizer.param_groups:
            group["lr"] = lr_at(step, stage.total, stage.peak_lr, warmup_fraction)
        loss, metrics = stage.loss(step)
        stage.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        metrics["grad_norm"] = _clip(parameters, grad_clip)
        stage.optimizer.step()
        if stage.after_step is not None:
            metrics.update(stage.after_step(step))
        values = [metrics[k] for k in stage.recent]
        recent = (recent + [values if len(values) > 1 else values[0]])[-20:]
        done, wall = step + 1, wall0 + time.perf_counter() - start
        if done % log_every == 0 or done == stage.total:
            log.log({"stage": stage.name, "step": done, "wall_s": round(wall, 2), **metrics})
        if done % checkpoint_every == 0 or done == stage.total:
            state = {"step": done, "total": stage.total, "wall_s": wall, "recent": recent,
                     **(stage.extra_json() if stage.extra_json else {})}
            ckpt.save(stage.module, stage.optimizer, state, stage.extra_tensors() if stage.extra_tensors else None)
        if progress is not None:
            progress(stage.name, done, stage.total, metrics)
    log.close()
    return state
