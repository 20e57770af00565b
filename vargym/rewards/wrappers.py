"""Reward wrappers (the gymnasium ``RewardWrapper`` idea, over `Reward` objects).

Each wrapper is again a `Reward`, so they compose:
``ClipReward(ScaleReward(make("luma"), scale=2.0), 0.0, 1.0)``. A wrapper transforms the total only;
the components of the inner reward pass through unchanged (raw scores for logging).
"""

from __future__ import annotations

import torch

from vargym.rewards.base import Reward, RewardContext

__all__ = ["BinnedReward", "ClipReward", "RewardWrapper", "RunningNormalizeReward", "ScaleReward", "ThresholdReward"]


class RewardWrapper(Reward):
    """Base class: subclasses implement `transform` (total ``[N]`` -> new total ``[N]``)."""

    def __init__(self, reward: Reward) -> None:
        if not isinstance(reward, Reward):
            raise TypeError(f"{type(self).__name__} wraps a Reward, got {type(reward).__name__}")
        super().__init__(name=reward.name, nan_policy=reward.nan_policy)
        self.reward = reward
        self.input_size = reward.input_size

    def transform(self, total: torch.Tensor) -> torch.Tensor:
        """Map the inner total ``[N]`` to the wrapped total ``[N]``."""
        raise NotImplementedError

    def score(self, images: torch.Tensor, context: RewardContext) -> dict[str, torch.Tensor]:
        out = self.reward(images, context)
        return {"total": self.transform(out.total), **out.components}


class ThresholdReward(RewardWrapper):
    """Binary reward: 1 where the inner total is ``>= threshold`` (or ``<=`` with ``above=False``)."""

    def __init__(self, reward: Reward, threshold: float, above: bool = True) -> None:
        super().__init__(reward)
        self.threshold = float(threshold)
        self.above = above

    def transform(self, total: torch.Tensor) -> torch.Tensor:
        hit = total >= self.threshold if self.above else total <= self.threshold
        return hit.float()

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, above={self.above}"


class BinnedReward(RewardWrapper):
    """A step function of the total: ``values[0]`` below ``edges[0]``, ``values[i + 1]`` on
    ``[edges[i], edges[i + 1])``, the last value from the last edge on (AR-GRPO's quantised rewards).

    Example:
        >>> BinnedReward(make("clip"), edges=(0, 0.3, 0.6), values=(-1, 0.5, 1, 1.5))
    """

    def __init__(self, reward: Reward, edges: tuple[float, ...], values: tuple[float, ...]) -> None:
        edges, values = tuple(float(e) for e in edges), tuple(float(v) for v in values)
        if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or len(values) != len(edges) + 1:
            raise ValueError(f"BinnedReward needs increasing edges and one more value than edges, got edges={edges}, "
                             f"values={values}")
        super().__init__(reward)
        self.edges, self.values = edges, values

    def transform(self, total: torch.Tensor) -> torch.Tensor:
        index = torch.bucketize(total.float(), torch.tensor(self.edges, device=total.device), right=True)
        return torch.tensor(self.values, device=total.device)[index]

    def extra_repr(self) -> str:
        return f"edges={self.edges}, values={self.values}"


class ClipReward(RewardWrapper):
    """Clamp the total to ``[low, high]``."""

    def __init__(self, reward: Reward, low: float, high: float) -> None:
        if not low < high:
            raise ValueError(f"ClipReward needs low < high, got low={low}, high={high}")
        super().__init__(reward)
        self.low, self.high = float(low), float(high)

    def transform(self, total: torch.Tensor) -> torch.Tensor:
        return total.clamp(self.low, self.high)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


class ScaleReward(RewardWrapper):
    """Affine map ``total * scale + shift``."""

    def __init__(self, reward: Reward, scale: float = 1.0, shift: float = 0.0) -> None:
        super().__init__(reward)
        self.scale, self.shift = float(scale), float(shift)

    def transform(self, total: torch.Tensor) -> torch.Tensor:
        return total * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"scale={self.scale}, shift={self.shift}"


class RunningNormalizeReward(RewardWrapper):
    """Standardise the total with a running mean/std over everything seen so far.

    Each call first merges the batch into the statistics (Chan's parallel update, float64), then
    returns ``(total - mean) / sqrt(var + eps)``; so the first batch is standardised by itself.
    The statistics are buffers (``count``, ``mean``, ``var``): they move with ``.to()`` and are saved
    by ``state_dict()``. Set ``update=False`` to freeze them (e.g. for evaluation).
    """

    def __init__(self, reward: Reward, eps: float = 1e-8, update: bool = True) -> None:
        super().__init__(reward)
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = float(eps)
        self.update = update
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("var", torch.ones((), dtype=torch.float64))

    def transform(self, total: torch.Tensor) -> torch.Tensor:
        x = total.to(self.mean.device, torch.float64)  # [N]
        if self.update and x.numel() > 0:
            n = float(x.numel())
            batch_mean, batch_var = x.mean(), x.var(unbiased=False)
            count = self.count + n
            delta = batch_mean - self.mean
            m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / count
            self.mean.copy_(self.mean + delta * n / count)
            self.var.copy_(m2 / count)
            self.count.copy_(count)
        out = (x - self.mean) / torch.sqrt(self.var + self.eps)
        return out.to(total.device, torch.float32)

    def extra_repr(self) -> str:
        return f"eps={self.eps}, update={self.update}"
