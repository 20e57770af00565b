"""GRPO (Shao et al. 2024, DeepSeekMath), as used by the VAR-GRPO seed paper (Gallici et al. 2025).

Advantage: the terminal reward normalised within its group (mean, std + eps; Dr. GRPO skips the std),
the same on every token of a sample. Loss: per-token clipped ratio, plus ``beta`` times the per-token
k3 KL to the frozen reference, aggregated per sample then over samples (or over all tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict

from vargym.algos.base import Algorithm, LossConfig, check_group_ids, check_range
from vargym.algos.functional import clipped_ratio_objective, group_advantages, masked_mean

__all__ = ["GRPOConfig", "GRPOLoss"]


@dataclass(frozen=True)
class GRPOConfig(LossConfig):
    """GRPO hyper-parameters (defaults from the VAR-GRPO seed paper)."""

    beta: float = 0.2
    """Weight of the per-token k3 KL to the frozen reference policy (0 = no reference needed)."""
    clip_epsilon: float = 0.2
    """Ratio clipping: the ratio is clipped to [1 - clip_epsilon, 1 + clip_epsilon]."""
    group_size: int = 16
    """Samples per group (per class label); advantages are normalised within each group."""
    normalize_std: bool = True
    """Divide the centred group rewards by the group std + eps; False gives Dr. GRPO (centring only)."""
    eps: float = 1e-4
    """Added to the group std so that a group of equal rewards gives zero advantages."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("clip_epsilon", self.clip_epsilon, 0.0, 1.0, low_open=True)
        check_range("group_size", self.group_size, 2)
        check_range("eps", self.eps, 0.0, low_open=True)

    @property
    def needs_groups(self) -> bool:
        return True


class GRPOLoss(Algorithm):
    """Group-relative policy optimisation.

    Example:
        >>> algo = GRPOLoss(GRPOConfig(group_size=4, beta=0.0))
        >>> batch = algo.compute_advantages(rollout)      # writes "advantage" [N, T]
        >>> out = algo(minibatch)                         # needs log_prob, old_log_prob
        >>> loss = sum(v for k, v in out.items() if k.startswith("loss_"))
    """

    name = "grpo"
    config_class = GRPOConfig
    uses_value = False

    @torch.no_grad()
    def compute_advantages(self, batch: TensorDict) -> TensorDict:
        """Write ``advantage`` [N, T]: the group-normalised ``reward`` [N] on every token."""
        reward, tokens = self.require(batch, "reward", "tokens")
        check_group_ids(batch, self.config.group_size)
        reward = reward if reward.is_floating_point() else reward.float()
        adv = group_advantages(reward, self.config.group_size, self.config.normalize_std, self.config.eps)
        batch.set("advantage", adv.unsqueeze(1).expand(tokens.shape).contiguous())  # [N, T]
        return batch

    def _policy_loss(self, td: TensorDict, mask: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        log_prob, old_log_prob, advantage = self.require(td, "log_prob", "old_log_prob", "advantage")
        loss, ratio = clipped_ratio_objective(log_prob, old_log_prob, advantage, self.config.clip_epsilon)
        clipped = ((ratio - 1.0).abs() > self.config.clip_epsilon).to(ratio.dtype)  # [N, T]
        return loss, {"clip_fraction": masked_mean(clipped, mask).detach()}
