"""GRPO (Shao et al. 2024, DeepSeekMath), as used by the VAR-GRPO seed paper (Gallici et al. 2025), and the
variants text-RL practice added, as options (the registry's presets name common combinations):

- Dr. GRPO (Liu et al. 2025): no division by the group std, token-sum aggregation (``dr-grpo``);
- DAPO (Yu et al. 2025): asymmetric "clip-higher", token-mean aggregation, dynamic sampling that drops
  groups whose rewards are all equal (``dapo``);
- GSPO (Zheng et al. 2025): one length-normalised sequence ratio per sample instead of per-token ratios
  (``gspo``).

Advantage: the terminal reward normalised within its group, the same on every token of a sample. Loss: the
clipped ratio objective, plus ``beta`` times the per-token k3 KL to the frozen reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict

from vargym.algos.base import Algorithm, LossConfig, check_group_ids, check_range
from vargym.algos.functional import (
    broadcast_step_to_tokens,
    clipped_ratio_objective,
    group_advantages,
    masked_mean,
    sequence_log_ratio,
)

RATIO_LEVELS = ("token", "sequence")

__all__ = ["GRPOConfig", "GRPOLoss"]


@dataclass(frozen=True)
class GRPOConfig(LossConfig):
    """GRPO hyper-parameters (defaults from the VAR-GRPO seed paper, except ``beta``)."""

    beta: float = 0.1
    """Weight of the per-token k3 KL to the frozen reference policy (0 = no reference needed). 0.1 as in
    AR-GRPO's class-conditional recipe; the VAR-GRPO paper's 0.2 (preset ``var-grpo``) holds the tiny model's
    brightness run below 0.9 for 20 iterations, where 0.1 passes it at iteration 10-12 with class fidelity
    kept (README, "The default run")."""
    clip_epsilon: float = 0.2
    """Ratio clipping: the ratio is clipped to [1 - clip_epsilon, 1 + clip_epsilon]."""
    group_size: int = 16
    """Samples per group (per class label); advantages are normalised within each group."""
    normalize_std: bool = True
    """Divide the centred group rewards by the group std + eps; False gives Dr. GRPO (centring only)."""
    eps: float = 1e-4
    """Added to the group std so that a group of equal rewards gives zero advantages."""
    clip_epsilon_high: float | None = None
    """Upper clip bound 1 + clip_epsilon_high (DAPO's clip-higher, e.g. 0.28); None: symmetric."""
    ratio_level: str = "token"
    """"token": one importance ratio per token; "sequence": GSPO's length-normalised ratio per sample."""
    step_advantages: bool = False
    """Intermediate rewards: each env step's advantage is its return-to-go (sum of ``step_reward`` from that
    step on), normalised within the group per step; False: the terminal ``reward`` on every token."""
    dynamic_sampling: bool = False
    """Drop groups whose rewards are all equal (zero advantage, no signal) from the loss, as DAPO does;
    the fraction of such groups is the trainer's ``reward_zero_std_groups`` metric."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("clip_epsilon", self.clip_epsilon, 0.0, 1.0, low_open=True)
        if self.clip_epsilon_high is not None:
            check_range("clip_epsilon_high", self.clip_epsilon_high, 0.0, low_open=True)
        check_range("group_size", self.group_size, 2)
        check_range("eps", self.eps, 0.0, low_open=True)
        if self.ratio_level not in RATIO_LEVELS:
            raise ValueError(f"ratio_level must be one of {RATIO_LEVELS}, got {self.ratio_level!r}")

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
        if self.config.step_advantages:
            step_reward, step_index = self.require(batch, "step_reward", "step_index")
            to_go = step_reward.float().flip(1).cumsum(1).flip(1)  # [N, K] return-to-go
            per_step = torch.stack([
                group_advantages(to_go[:, k], self.config.group_size, self.config.normalize_std, self.config.eps)
                for k in range(to_go.shape[1])
            ], dim=1)  # [N, K]
            batch.set("advantage", broadcast_step_to_tokens(per_step, step_index))  # [N, T]
        else:
            adv = group_advantages(reward, self.config.group_size, self.config.normalize_std, self.config.eps)
            batch.set("advantage", adv.unsqueeze(1).expand(tokens.shape).contiguous())  # [N, T]
        if self.config.dynamic_sampling:
            grouped = reward.view(-1, self.config.group_size)  # [N / G, G]
            informative = (grouped != grouped[:, :1]).any(dim=1).repeat_interleave(self.config.group_size)  # [N]
            keep = informative.unsqueeze(1).expand(tokens.shape)  # [N, T]
            if "token_mask" in batch.keys():
                keep = keep & batch.get("token_mask")
            batch.set("token_mask", keep.contiguous())
        return batch

    def _policy_loss(self, td: TensorDict, mask: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        log_prob, old_log_prob, advantage = self.require(td, "log_prob", "old_log_prob", "advantage")
        cfg = self.config
        if cfg.ratio_level == "sequence":
            seq = sequence_log_ratio(log_prob, old_log_prob, mask)  # [N, 1]
            log_prob = old_log_prob + seq.expand_as(log_prob)  # every token carries the sequence ratio
        loss, ratio = clipped_ratio_objective(log_prob, old_log_prob, advantage, cfg.clip_epsilon,
                                              cfg.clip_epsilon_high)
        high = cfg.clip_epsilon if cfg.clip_epsilon_high is None else cfg.clip_epsilon_high
        clipped = ((ratio < 1.0 - cfg.clip_epsilon) | (ratio > 1.0 + high)).to(ratio.dtype)  # [N, T]
        return loss, {"clip_fraction": masked_mean(clipped, mask).detach()}
