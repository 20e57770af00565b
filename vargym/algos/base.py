"""The `Algorithm` interface shared by GRPO, PPO and REINFORCE, and the config fields they share.

An algorithm is an ``nn.Module`` with two calls (see docs/architecture.md):

- ``compute_advantages(batch)`` once per rollout batch: writes ``advantage`` [N, T] (PPO also
  ``return`` [N, K]) into the batch, without grad, and returns it;
- ``forward(minibatch)`` per minibatch: returns a TensorDict of scalars, where the ``loss_*`` entries
  are summed by the trainer and everything else is a detached metric.

An optional ``token_mask`` [N, T] bool key marks valid tokens; masked tokens count nowhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from tensordict import TensorDict
from torch import nn

from vargym.algos.functional import AGGREGATIONS, aggregate, k3_kl, masked_mean, step_token_weights
from vargym.configdoc import field_docs

__all__ = ["MOMENT", "Algorithm", "LossConfig", "check_group_ids", "check_range", "field_docs"]

MOMENT = "moment_"
"""Prefix of the loss output's raw means from which `Algorithm.finish_metrics` derives non-linear statistics."""

# Who is expected to write each key; used in the KeyError when a key is missing.
_WRITERS = {
    "reward": "the collector",
    "step_reward": "the collector",
    "done": "the collector",
    "step_index": "the collector",
    "condition_id": "the collector (Condition.ids)",
    "old_log_prob": "the trainer (teacher-forced pass without grad before the update)",
    "ref_log_prob": "the trainer (frozen reference; needed because beta > 0)",
    "old_value": "the trainer (value head without grad before the update)",
    "log_prob": "the trainer (current policy, per minibatch)",
    "value": "the trainer (value head, per minibatch)",
    "entropy": "the trainer (per minibatch; needed for entropy_coef > 0 and token_selection=\"entropy\")",
    "advantage": "Algorithm.compute_advantages",
    "return": "Algorithm.compute_advantages",
}


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, low_open: bool = False
) -> None:
    """Raise ValueError naming ``name`` unless ``low <(=) value <= high``."""
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        left = "(" if low_open else "["
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in {left}{lo}, {hi}], got {value!r}")


def check_group_ids(batch: TensorDict, group_size: int) -> None:
    """Raise ValueError unless the batch's ``group_id`` (when present) is ``arange(N) // group_size``."""
    if "group_id" not in batch.keys():
        return
    group_id = batch.get("group_id")  # [N]
    expected = torch.arange(group_id.shape[0], device=group_id.device) // group_size
    if not torch.equal(group_id.long(), expected):
        raise ValueError(
            f"group_id must be arange(N) // group_size with group_size={group_size} (contiguous groups); "
            "set the algorithm's group_size to the collector's"
        )


@dataclass(frozen=True)
class LossConfig:
    """Fields shared by every algorithm's config."""

    beta: float = 0.0
    """Weight of the per-token k3 KL to the frozen reference policy (0 = no reference needed)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus (the loss subtracts entropy_coef * mean entropy)."""
    aggregation: str = "sample_mean"
    """How per-token losses become a scalar: "sample_mean" (mean over each sample's tokens, then over
    samples, as in the GRPO paper), "token_mean" (mean over all tokens of the minibatch) or "token_sum"
    (sum over tokens / a constant N * T, Dr. GRPO)."""
    entropy_target: float | None = None
    """Adaptive entropy regularisation: keep the policy's mean per-token entropy near this value by adapting
    the entropy coefficient (starting at entropy_coef); None: a fixed coefficient."""
    entropy_adapt_rate: float = 0.01
    """Adaptive entropy: coefficient += rate * (target - entropy) after every loss call (kept >= 0)."""
    step_weights: str | tuple[float, ...] = "token"
    """Credit across env steps in the policy loss: "token" (every token counts the same), "step" (every
    step counts the same, however many tokens it has: VAR's 1x1 scale weighs as much as its 16x16 one), or
    one relative weight per step."""
    train_steps: int | None = None
    """Update only the tokens of the first k env steps (later steps are sampled but get no gradient);
    None: all steps."""
    token_selection: str = "all"
    """Which tokens get gradient: "all", or "entropy": in each sample the ``token_fraction`` of its tokens
    where the policy's distribution has the highest entropy (GCPO's critical tokens, Zhang et al. 2026: the
    uncertain choices carry the credit; the others keep the KL term only if they are selected too)."""
    token_fraction: float = 0.3
    """Share of each sample's tokens that ``token_selection="entropy"`` keeps (at least one)."""

    @property
    def needs_groups(self) -> bool:
        """True when advantages compare the samples of a group (then group_size >= 2 and contiguous groups)."""
        return False

    def __post_init__(self) -> None:
        check_range("beta", self.beta, 0.0)
        check_range("entropy_coef", self.entropy_coef, 0.0)
        if self.entropy_target is not None:
            check_range("entropy_target", self.entropy_target, 0.0)
        check_range("entropy_adapt_rate", self.entropy_adapt_rate, 0.0)
        if isinstance(self.step_weights, str):
            if self.step_weights not in ("token", "step"):
                raise ValueError(f"step_weights must be 'token', 'step' or one weight per step, got {self.step_weights!r}")
        else:
            object.__setattr__(self, "step_weights", tuple(float(w) for w in self.step_weights))
            if not self.step_weights or min(self.step_weights) < 0 or sum(self.step_weights) <= 0:
                raise ValueError(f"step_weights must be non-negative with a positive sum, got {self.step_weights}")
        if self.train_steps is not None:
            check_range("train_steps", self.train_steps, 1)
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}")
        if self.token_selection not in TOKEN_SELECTIONS:
            raise ValueError(f"token_selection must be one of {TOKEN_SELECTIONS}, got {self.token_selection!r}")
        check_range("token_fraction", self.token_fraction, 0.0, 1.0, low_open=True)


TOKEN_SELECTIONS = ("all", "entropy")


def select_uncertain_tokens(entropy: torch.Tensor, fraction: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """bool ``[N, T]``: in each row, the ``ceil(fraction * valid)`` valid tokens of highest ``entropy`` ``[N, T]``
    (ties broken by position, earliest first); ``mask`` marks the valid tokens (None: all)."""
    valid = torch.ones_like(entropy, dtype=torch.bool) if mask is None else mask.bool()
    keep = (valid.sum(dim=1).float() * fraction).ceil().clamp_min(1).long()  # [N]
    scores = entropy.float().masked_fill(~valid, float("-inf"))
    order = scores.argsort(dim=1, descending=True, stable=True)  # [N, T]
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return (rank < keep.unsqueeze(1)) & valid


class Algorithm(nn.Module):
    """Base class: owns key checks, the KL / entropy terms and the shared metrics.

    A subclass sets ``name``, ``config_class`` and its traits, and implements ``compute_advantages`` and
    ``_policy_loss`` (plus ``_extra_losses`` for, e.g., a value loss). The trainer and configs read the
    traits, never the algorithm's name: ``uses_value`` (a value head is trained), ``on_policy`` (no
    importance ratio, so one epoch per batch), ``needs_groups`` and ``uses_reference`` (from the config).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[LossConfig]] = LossConfig
    uses_value: ClassVar[bool] = False
    """A value head is trained beside the policy (``old_value`` / ``value`` keys)."""
    on_policy: ClassVar[bool] = False
    """No importance ratio: only one epoch over each rollout batch is valid."""

    def __init__(self, config: LossConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} expects a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        if self.config.entropy_target is not None:  # a buffer, so checkpoints carry the adapted value
            self.register_buffer("entropy_coef_value", torch.tensor(float(self.config.entropy_coef)))

    @property
    def uses_reference(self) -> bool:
        """True when ``ref_log_prob`` is needed (beta > 0)."""
        return self.config.beta > 0

    @property
    def needs_groups(self) -> bool:
        """True when advantages compare samples of one group (contiguous, group_size >= 2)."""
        return self.config.needs_groups

    # -- hooks ---------------------------------------------------------------------------------
    def compute_advantages(self, batch: TensorDict) -> TensorDict:
        """Write ``advantage`` [N, T] (PPO also ``return`` [N, K]) into ``batch`` and return it."""
        raise NotImplementedError

    def _policy_loss(self, td: TensorDict, mask: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        """Per-token policy loss [N, T] and extra detached metrics."""
        raise NotImplementedError

    def _extra_losses(self, td: TensorDict) -> dict[str, torch.Tensor]:
        """Further ``loss_*`` entries and metrics (the value loss of PPO)."""
        return {}

    # -- shared plumbing -----------------------------------------------------------------------
    @staticmethod
    def require(td: TensorDict, *keys: str) -> list[torch.Tensor]:
        """Fetch keys, raising a KeyError that names the missing key and who should write it."""
        out = []
        for key in keys:
            if key not in td.keys():
                writer = _WRITERS.get(key, "the caller")
                raise KeyError(f"key {key!r} is missing from the TensorDict; it is written by {writer}")
            out.append(td.get(key))
        return out

    @staticmethod
    def token_mask(td: TensorDict) -> torch.Tensor | None:
        """The ``token_mask`` [N, T] bool key, or None when every token is valid."""
        return td.get("token_mask") if "token_mask" in td.keys() else None

    def _step_mask_and_weights(self, td: TensorDict, mask: torch.Tensor | None
                               ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Apply ``train_steps`` and ``token_selection`` to the token mask; the per-token weights of
        ``step_weights`` (None: uniform)."""
        cfg = self.config
        if cfg.token_selection == "entropy":
            (entropy,) = self.require(td, "entropy")
            mask = select_uncertain_tokens(entropy.detach(), cfg.token_fraction, mask)
        if cfg.train_steps is None and cfg.step_weights == "token":
            return mask, None
        (step_index,) = self.require(td, "step_index")  # [N, T]
        if cfg.train_steps is not None:
            early = step_index < cfg.train_steps
            mask = early if mask is None else mask & early
        if cfg.step_weights == "token":
            return mask, None
        return mask, step_token_weights(step_index, cfg.step_weights)

    def forward(self, minibatch: TensorDict) -> TensorDict:
        """Loss TensorDict: ``loss_policy`` (+ ``loss_kl``, ``loss_entropy``, ``loss_value``) and metrics."""
        td = minibatch
        mask, weights = self._step_mask_and_weights(td, self.token_mask(td))
        mode = self.config.aggregation
        per_token, metrics = self._policy_loss(td, mask)  # [N, T]
        if weights is not None:
            per_token = per_token * weights
        out: dict[str, torch.Tensor] = {"loss_policy": aggregate(per_token, mask, mode)}

        (log_prob,) = self.require(td, "log_prob")
        if self.uses_reference or "ref_log_prob" in td.keys():
            (ref_log_prob,) = self.require(td, "ref_log_prob")
            kl = aggregate(k3_kl(log_prob, ref_log_prob), mask, mode)
            if self.uses_reference:
                out["loss_kl"] = self.config.beta * kl
            metrics["kl_ref"] = kl.detach()
        adaptive = self.config.entropy_target is not None
        if self.config.entropy_coef > 0 or adaptive or "entropy" in td.keys():
            (entropy,) = self.require(td, "entropy")
            ent = aggregate(entropy, mask, mode)
            coef = self.entropy_coef_value if adaptive else self.config.entropy_coef
            if adaptive or self.config.entropy_coef > 0:
                out["loss_entropy"] = -coef * ent
            metrics["entropy"] = ent.detach()
            if adaptive:
                metrics["entropy_coef"] = self.entropy_coef_value.detach().clone()
                with torch.no_grad():  # below the target the bonus grows, above it shrinks
                    step = self.config.entropy_adapt_rate * (self.config.entropy_target - ent.detach())
                    self.entropy_coef_value.copy_((self.entropy_coef_value + step).clamp_min(0.0))
        if "old_log_prob" in td.keys():
            log_ratio = (log_prob - td.get("old_log_prob")).detach()
            metrics["approx_kl"] = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)
        (advantage,) = self.require(td, "advantage")
        adv_mean = masked_mean(advantage, mask)
        metrics["advantage_mean"] = adv_mean.detach()
        metrics["advantage_std"] = masked_mean((advantage - adv_mean) ** 2, mask).sqrt().detach()
        metrics[f"{MOMENT}advantage_sq"] = masked_mean(advantage.detach() ** 2, mask)
        out.update(self._extra_losses(td))
        out.update(metrics)
        return TensorDict(out, batch_size=[])

    def finish_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """The statistics that are not means over rows (``advantage_std``, PPO's ``explained_variance``),
        recomputed from the ``moment_*`` means of `forward`'s output once those were averaged over a whole
        minibatch: over its micro-batches and, under torchrun, over every process's share. Then a minibatch
        gives the same figures however it was split. Drops the ``moment_*`` entries."""
        out = {k: v for k, v in metrics.items() if not k.startswith(MOMENT)}
        if f"{MOMENT}advantage_sq" in metrics and "advantage_mean" in metrics:
            variance = metrics[f"{MOMENT}advantage_sq"] - metrics["advantage_mean"] ** 2
            out["advantage_std"] = max(variance, 0.0) ** 0.5
        return out

    def extra_repr(self) -> str:
        return repr(self.config)
