"""What the processes of a torchrun job exchange each iteration: the global rollout batch, global metrics
and the decision to stop. In one process every method returns its input."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["RankSync"]


class RankSync:
    """The trainer's collectives over the ranks of ``dist`` (`vargym.distributed.setup_distributed`).

    Every rank calls each method at the same point of the loop with values of the same shape (one process:
    no collective at all).
    """

    def __init__(self, dist: Any, device: torch.device) -> None:
        self.dist, self.device = dist, device

    @property
    def enabled(self) -> bool:
        return self.dist.enabled

    def gather_batch(self, batch: Any, group_size: int) -> Any:
        """Every rank's rollout rows in rank order (groups stay contiguous), decoded images left out."""
        if not self.enabled:
            return batch
        from tensordict import TensorDict

        keys = [k for k in batch.keys(include_nested=True, leaves_only=True) if k != "images"]
        n = batch.batch_size[0] * self.dist.world_size
        out = TensorDict({}, batch_size=[n], device=batch.device)
        for key in keys:
            out.set(key, self.dist.all_gather(batch.get(key)))
        out.set("group_id", torch.arange(n, device=batch.device) // group_size)
        return out

    def mean(self, metrics: dict[str, float]) -> dict[str, float]:
        """Each metric averaged over the ranks (equal shares of rows: the mean over the global rows)."""
        if not self.enabled:
            return metrics
        names = sorted(metrics)
        values = torch.tensor([metrics[k] for k in names], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(values)
        return dict(zip(names, (values / self.dist.world_size).tolist()))

    def max(self, value: float) -> float:
        """The largest of the ranks' ``value``."""
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return float(tensor)

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag OR-ed over the ranks (a stop one rank saw is everyone's)."""
        if not self.enabled:
            return tuple(bool(f) for f in flags)
        values = torch.tensor([float(bool(f)) for f in flags], device=self.device)
        torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.MAX)
        return tuple(bool(v) for v in values.tolist())
