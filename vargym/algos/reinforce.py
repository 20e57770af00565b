"""REINFORCE with a baseline (Williams 1992): an EMA baseline (global or per condition) or the
leave-one-out group baseline (RLOO, Kool et al. 2019; Ahmadian et al. 2024).

Loss per token: ``-advantage * log_prob`` (the gradient of the sample's log-likelihood weighted by
``reward - baseline``), aggregated like GRPO, plus an optional ``beta`` * k3 KL to the reference.
It is on-policy: use one epoch per rollout batch (later epochs would need importance ratios).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict

from vargym.algos.base import Algorithm, LossConfig, check_group_ids, check_range
from vargym.algos.functional import leave_one_out_baseline

__all__ = ["BASELINES", "ReinforceConfig", "ReinforceLoss"]

BASELINES = ("ema", "rloo")


@dataclass(frozen=True)
class ReinforceConfig(LossConfig):
    """REINFORCE hyper-parameters."""

    baseline: str = "ema"
    """Baseline subtracted from the reward: "ema" (moving average) or "rloo" (mean of the other
    samples of the group)."""
    ema_momentum: float = 0.9
    """EMA update: baseline <- momentum * baseline + (1 - momentum) * batch mean reward."""
    per_condition: bool = False
    """EMA baseline: keep one baseline per condition (True; keyed by the batch's ``condition_id``) or one
    global baseline (False)."""
    num_conditions: int = 1000
    """EMA per-condition baseline: number of conditions (``condition_id`` must lie in 0..num_conditions-1;
    the trainer sets it from the generator: its number of classes, or of prompts)."""
    per_label: bool | None = None
    """Deprecated name of per_condition."""
    num_classes: int | None = None
    """Deprecated name of num_conditions."""
    group_size: int = 16
    """RLOO: samples per group (groups are contiguous in the batch)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for old, new in (("per_label", "per_condition"), ("num_classes", "num_conditions")):
            if getattr(self, old) is not None:
                import warnings

                warnings.warn(f"ReinforceConfig.{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)
                object.__setattr__(self, new, getattr(self, old))
                object.__setattr__(self, old, None)
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        check_range("ema_momentum", self.ema_momentum, 0.0, 1.0)
        check_range("num_conditions", self.num_conditions, 1)
        check_range("group_size", self.group_size, 2)

    @property
    def needs_groups(self) -> bool:
        return self.baseline == "rloo"


class ReinforceLoss(Algorithm):
    """REINFORCE with an EMA or leave-one-out baseline.

    The EMA baseline lives in buffers (``baseline`` and ``baseline_initialized``), so ``state_dict()``
    checkpoints it. An entry seen for the first time starts at that batch's mean reward.

    Example:
        >>> algo = ReinforceLoss(ReinforceConfig(baseline="rloo", group_size=8))
        >>> batch = algo.compute_advantages(rollout)   # writes advantage [N, T]
        >>> out = algo(minibatch)                      # needs log_prob
    """

    name = "reinforce"
    config_class = ReinforceConfig
    uses_value = False
    on_policy = True  # no importance ratio: a second epoch over a batch would be off-policy

    def __init__(self, config: ReinforceConfig | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        size = self.config.num_conditions if self.config.per_condition else 1
        self.register_buffer("baseline", torch.zeros(size))  # [num_conditions] or [1]
        self.register_buffer("baseline_initialized", torch.zeros(size, dtype=torch.bool))

    @torch.no_grad()
    def _ema_advantages(self, batch: TensorDict, reward: torch.Tensor) -> torch.Tensor:
        if self.config.per_condition:
            (ids,) = self.require(batch, "condition_id")
            index = ids.long().to(self.baseline.device)  # [N]
            if index.numel() and (index.min() < 0 or index.max() >= self.config.num_conditions):
                raise ValueError(
                    f"condition_id must lie in 0..num_conditions-1 = 0..{self.config.num_conditions - 1}, "
                    f"got range {int(index.min())}..{int(index.max())}; raise num_conditions"
                )
        else:
            index = torch.zeros(reward.shape[0], dtype=torch.long, device=self.baseline.device)
        r = reward.to(self.baseline.device, self.baseline.dtype)  # [N]
        sums = torch.zeros_like(self.baseline).index_add_(0, index, r)
        counts = torch.zeros_like(self.baseline).index_add_(0, index, torch.ones_like(r))
        seen = counts > 0
        batch_mean = sums / counts.clamp_min(1.0)
        # First sighting: start from the batch mean; then advantages use the pre-update baseline.
        fresh = seen & ~self.baseline_initialized
        self.baseline[fresh] = batch_mean[fresh]
        self.baseline_initialized |= seen
        advantage = r - self.baseline[index]  # [N]
        m = self.config.ema_momentum
        self.baseline[seen] = m * self.baseline[seen] + (1.0 - m) * batch_mean[seen]
        return advantage.to(reward.device, reward.dtype)

    @torch.no_grad()
    def compute_advantages(self, batch: TensorDict) -> TensorDict:
        """Write ``advantage`` [N, T] = reward - baseline on every token (updates the EMA)."""
        reward, tokens = self.require(batch, "reward", "tokens")
        if self.config.baseline == "rloo":
            check_group_ids(batch, self.config.group_size)
            advantage = reward - leave_one_out_baseline(reward, self.config.group_size)  # [N]
        else:
            advantage = self._ema_advantages(batch, reward)  # [N]
        batch.set("advantage", advantage.unsqueeze(1).expand(tokens.shape).contiguous())  # [N, T]
        return batch

    def _policy_loss(self, td: TensorDict, mask: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        log_prob, advantage = self.require(td, "log_prob", "advantage")
        return -advantage * log_prob, {}
