"""PPO with a learned value per env step (Schulman et al. 2017), for token-emitting episodes.

An episode has K env steps (VAR: K scales) and T tokens; ``step_index`` [N, T] says which step produced
each token. GAE runs over the K steps of ``step_reward`` with ``old_value`` [N, K]; each token gets its
step's advantage. The loss is the per-token clipped ratio, a clipped value loss over the K steps and
an optional k3 KL to the reference. The value head itself belongs to the trainer / policy
(see ``vargym.algos.ValueHead``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict

from vargym.algos.base import MOMENT, Algorithm, LossConfig, check_range
from vargym.algos.functional import (
    broadcast_step_to_tokens,
    clipped_ratio_objective,
    gae,
    masked_mean,
    step_mask_from_tokens,
)

__all__ = ["PPOConfig", "PPOLoss"]


@dataclass(frozen=True)
class PPOConfig(LossConfig):
    """PPO hyper-parameters."""

    clip_epsilon: float = 0.2
    """Ratio clipping: the ratio is clipped to [1 - clip_epsilon, 1 + clip_epsilon]."""
    gamma: float = 1.0
    """Discount over the K env steps (1.0: the terminal reward counts fully at every step)."""
    gae_lambda: float = 0.95
    """GAE lambda: 0 = one-step TD advantages, 1 = Monte-Carlo returns minus the value."""
    normalize_advantage: bool = True
    """Normalise the step advantages over the whole rollout batch (zero mean, unit std)."""
    value_coef: float = 0.5
    """Weight of the value loss (0.5 * squared error, averaged over the valid steps)."""
    value_clip: float | None = 0.2
    """Clip the new value to old_value +- value_clip in the value loss (None: no clipping)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("clip_epsilon", self.clip_epsilon, 0.0, 1.0, low_open=True)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_range("value_coef", self.value_coef, 0.0)
        if self.value_clip is not None:
            check_range("value_clip", self.value_clip, 0.0, low_open=True)


class PPOLoss(Algorithm):
    """Clipped PPO with GAE over env steps and per-token ratios.

    Example:
        >>> algo = PPOLoss(PPOConfig(gae_lambda=0.9))
        >>> batch = algo.compute_advantages(rollout)   # needs old_value [N, K]; writes advantage, return
        >>> out = algo(minibatch)                      # needs log_prob, old_log_prob, value [N, K]
    """

    name = "ppo"
    config_class = PPOConfig
    uses_value = True

    def _step_mask(self, td: TensorDict, num_steps: int) -> torch.Tensor | None:
        mask = self.token_mask(td)
        if mask is None:
            return None
        return step_mask_from_tokens(mask, td.get("step_index"), num_steps)  # [N, K]

    @torch.no_grad()
    def compute_advantages(self, batch: TensorDict) -> TensorDict:
        """Write ``advantage`` [N, T] (step advantage per token) and ``return`` [N, K].

        Time limits: an episode cut short by truncation is not terminal. When the batch holds ``terminated``
        [N, K] (True only where the episode really ended) it replaces ``done`` in GAE, and ``next_value`` [N]
        (the value of the state after the last step) bootstraps episodes that did not terminate.
        """
        step_reward, old_value, done, step_index = self.require(
            batch, "step_reward", "old_value", "done", "step_index"
        )
        if "terminated" in batch.keys():
            done = batch.get("terminated")
        next_value = batch.get("next_value") if "next_value" in batch.keys() else None
        if old_value.shape != step_reward.shape:
            raise ValueError(
                f"old_value must have the shape of step_reward [N, K] = {tuple(step_reward.shape)}, "
                f"got {tuple(old_value.shape)}"
            )
        cfg = self.config
        advantage, returns = gae(step_reward, old_value, done, cfg.gamma, cfg.gae_lambda, next_value)  # [N, K]
        if cfg.normalize_advantage:
            step_mask = self._step_mask(batch, step_reward.shape[1])
            mean = masked_mean(advantage, step_mask)
            std = masked_mean((advantage - mean) ** 2, step_mask).sqrt()
            advantage = (advantage - mean) / (std + 1e-8)
        batch.set("advantage", broadcast_step_to_tokens(advantage, step_index))  # [N, T]
        batch.set("return", returns)  # [N, K]
        return batch

    def _policy_loss(self, td: TensorDict, mask: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        log_prob, old_log_prob, advantage = self.require(td, "log_prob", "old_log_prob", "advantage")
        loss, ratio = clipped_ratio_objective(log_prob, old_log_prob, advantage, self.config.clip_epsilon)
        clipped = ((ratio - 1.0).abs() > self.config.clip_epsilon).to(ratio.dtype)  # [N, T]
        return loss, {"clip_fraction": masked_mean(clipped, mask).detach()}

    def _extra_losses(self, td: TensorDict) -> dict[str, torch.Tensor]:
        value, old_value, returns = self.require(td, "value", "old_value", "return")
        if value.shape != returns.shape:
            raise ValueError(f"value must be [N, K] = {tuple(returns.shape)}, got {tuple(value.shape)}")
        step_mask = self._step_mask(td, value.shape[1])
        error = (value - returns) ** 2  # [N, K]
        if self.config.value_clip is not None:
            clip = self.config.value_clip
            clipped_value = old_value + (value - old_value).clamp(-clip, clip)
            error = torch.maximum(error, (clipped_value - returns) ** 2)
        value_loss = 0.5 * masked_mean(error, step_mask)
        residual = masked_mean((returns - value.detach()) ** 2, step_mask)
        spread = masked_mean((returns - masked_mean(returns, step_mask)) ** 2, step_mask)
        return {
            "loss_value": self.config.value_coef * value_loss,
            "value_loss": value_loss.detach(),
            "explained_variance": (1.0 - residual / spread.clamp_min(1e-8)).detach(),
            f"{MOMENT}residual_sq": residual.detach(),
            f"{MOMENT}return": masked_mean(returns, step_mask).detach(),
            f"{MOMENT}return_sq": masked_mean(returns**2, step_mask).detach(),
        }

    def finish_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        out = super().finish_metrics(metrics)
        if f"{MOMENT}return_sq" in metrics:
            spread = metrics[f"{MOMENT}return_sq"] - metrics[f"{MOMENT}return"] ** 2
            out["explained_variance"] = 1.0 - metrics[f"{MOMENT}residual_sq"] / max(spread, 1e-8)
        return out
