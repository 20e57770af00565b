"""Save and restore the whole state of a `Trainer` (see `vargym.train.checkpoint` for the file layout).

Saved: policy weights, the frozen reference, value head, algorithm buffers (EMA baselines), AdamW state,
LR scheduler, the torch / shuffle / collector RNG states, iteration, sample count and wall time. With
equal seeds on a deterministic device, N iterations straight and N/2 + resume + N/2 give the same metrics.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vargym.errors import CheckpointError
from vargym.train.checkpoint import (
    PREFIX,
    checkpoint_dirs,
    find_checkpoint,
    flatten_optimizer_state,
    read_checkpoint,
    unflatten_optimizer_state,
    write_checkpoint,
)

if TYPE_CHECKING:
    from vargym.train.trainer import Trainer

__all__ = ["load_trainer", "save_state"]

FORMAT = 1


def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _section(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    head = prefix + "."
    return {k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)}


def save_state(trainer: Trainer, wall_s: float) -> Path:
    """Write ``<out>/checkpoints/iter_NNNNNN`` atomically; prune old ones (``keep_checkpoints``)."""
    import vargym

    tensors, optimizer_meta = flatten_optimizer_state(trainer.optimizer.state_dict())
    tensors.update(_prefixed("algo", trainer.algo.state_dict()))
    if trainer.value_head is not None:
        tensors.update(_prefixed("value_head", trainer.value_head.state_dict()))
    if trainer.reference is not None:
        tensors.update(_prefixed("reference", trainer.reference.state_dict()))
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = trainer.shuffle_generator.get_state()
    tensors.update(_prefixed("collector", trainer.collector.state_dict()))
    if trainer.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(trainer.device)
    meta = {
        "format": FORMAT,
        "vargym_version": vargym.__version__,
        "iteration": trainer.iteration,
        "samples": trainer.samples,
        "wall_s": wall_s,
        "config": trainer.config.to_dict(),
        "optimizer": optimizer_meta,
        "scheduler": trainer.scheduler.state_dict(),
    }
    path = trainer.out / "checkpoints" / f"{PREFIX}{trainer.iteration:06d}"
    write_checkpoint(path, trainer.vqvae, trainer.var, tensors, meta)
    keep = trainer.config.keep_checkpoints
    if keep:
        for old in checkpoint_dirs(trainer.out)[:-keep]:
            shutil.rmtree(old)
    return path


def _load_module(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str, where: Path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{what} in {where} does not match this run's configuration: {e}") from e


def load_trainer(cls: type[Trainer], path: str | Path, reward: Any = None, **overrides: Any) -> Trainer:
    """Rebuild a `Trainer` from a checkpoint (or a run directory's newest one) and restore its state.

    Args:
        cls: the Trainer class.
        path: checkpoint directory or run directory.
        reward: a Reward object to use instead of rebuilding ``config.reward`` (for unregistered callables).
        **overrides: config fields to change (``steps``, ``device``, ``out``...).
    """
    from vargym.models import load_checkpoint
    from vargym.train.config import TrainConfig
    from vargym.train.trainer import _pick_device

    ckpt = find_checkpoint(path)
    tensors, meta = read_checkpoint(ckpt)
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{ckpt} has checkpoint format {meta.get('format')!r}; this vargym reads {FORMAT}"
        )
    config = TrainConfig.from_dict({**meta["config"], **overrides})
    model = load_checkpoint(ckpt, device=_pick_device(config.device))
    trainer = cls(config, model=model, reward=reward)
    for name, module in (("reference", trainer.reference), ("value_head", trainer.value_head)):
        section = _section(tensors, name)
        if module is not None:
            if not section:
                raise CheckpointError(f"{ckpt} holds no {name} state, but this run needs one")
            _load_module(module, section, name, ckpt)
    _load_module(trainer.algo, _section(tensors, "algo"), "algorithm state", ckpt)
    trainer.optimizer.load_state_dict(unflatten_optimizer_state(tensors, meta["optimizer"]))
    trainer.scheduler.load_state_dict(meta["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    trainer.shuffle_generator.set_state(tensors["rng.shuffle"])
    trainer.collector.load_state_dict(_section(tensors, "collector"))
    if "rng.cuda" in tensors and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(tensors["rng.cuda"], trainer.device)
    trainer.iteration = int(meta["iteration"])
    trainer.samples = int(meta["samples"])
    trainer.wall_offset = float(meta["wall_s"])
    return trainer
