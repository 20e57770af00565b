"""Luma-based rewards: the seed paper's binary ``"brightness"``, continuous ``"luma"`` and ``"dark"``.

Luma is BT.601: ``Y = 0.299 R + 0.587 G + 0.114 B`` (what PIL's ``"L"`` mode uses), on [0, 1].
"""

from __future__ import annotations

import torch

from vargym.rewards.base import RewardContext
from vargym.rewards.registry import register

__all__ = ["brightness", "dark", "luma", "mean_luma", "to_luma"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def to_luma(images: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB images.

    Args:
        images: float ``[N, 3, H, W]`` in [0, 1].

    Returns:
        float ``[N, H, W]`` in [0, 1].
    """
    red, green, blue = LUMA_WEIGHTS
    return images[:, 0] * red + images[:, 1] * green + images[:, 2] * blue  # [N, H, W]


def mean_luma(images: torch.Tensor) -> torch.Tensor:
    """Mean BT.601 luma per image: ``[N, 3, H, W]`` in [0, 1] -> ``[N]`` in [0, 1]."""
    return to_luma(images).mean(dim=(-2, -1))


@register("brightness", threshold=0.8)
def brightness(images: torch.Tensor, context: RewardContext, threshold: float = 0.8) -> torch.Tensor:
    """Seed-paper toy reward: 1.0 where the mean luma is ``>= threshold`` (default 0.8), else 0.0.

    Returns:
        float ``[N]`` of 0.0 / 1.0.
    """
    return (mean_luma(images) >= threshold).float()


@register("luma")
def luma(images: torch.Tensor, context: RewardContext) -> torch.Tensor:
    """Continuous brightness: mean luma per image, ``[N]`` in [0, 1]."""
    return mean_luma(images)


@register("dark")
def dark(images: torch.Tensor, context: RewardContext) -> torch.Tensor:
    """Continuous darkness: ``1 - mean luma``, ``[N]`` in [0, 1].

    Continuous rather than binary so it gives a learning signal everywhere; for a binary
    version use ``ThresholdReward(make("luma"), 0.2, above=False)``.
    """
    return 1.0 - mean_luma(images)
