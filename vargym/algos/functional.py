"""Pure tensor functions behind the RL losses: advantages, GAE, k3 KL, clipped ratio, aggregation.

Every function is stateless, device-agnostic (it follows its inputs) and vectorised over the batch.
Letters: N episodes (``N = num_groups * group_size``, groups contiguous), K env steps, T tokens
(actions) of one episode, C hidden width.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "AGGREGATIONS",
    "aggregate",
    "broadcast_step_to_tokens",
    "clipped_ratio_objective",
    "gae",
    "group_advantages",
    "k3_kl",
    "leave_one_out_baseline",
    "masked_mean",
    "pool_tokens_to_steps",
    "sequence_log_ratio",
    "step_token_weights",
    "step_mask_from_tokens",
]

AGGREGATIONS = ("sample_mean", "token_mean", "token_sum")


def _grouped(rewards: torch.Tensor, group_size: int, minimum: int) -> torch.Tensor:
    if rewards.ndim != 1:
        raise ValueError(f"rewards must be 1-D [N], got shape {tuple(rewards.shape)}")
    if group_size < minimum:
        raise ValueError(f"group_size must be >= {minimum}, got {group_size}")
    if rewards.numel() % group_size:
        raise ValueError(
            f"the number of rewards ({rewards.numel()}) must be a multiple of group_size ({group_size})"
        )
    return rewards.view(-1, group_size)  # [N / G, G]


def group_advantages(
    rewards: torch.Tensor, group_size: int, normalize_std: bool = True, eps: float = 1e-4
) -> torch.Tensor:
    """Group-relative advantages (GRPO): subtract the group mean, optionally divide by the group std.

    Args:
        rewards: float ``[N]``, groups of ``group_size`` contiguous samples.
        group_size: G, samples per group (>= 2).
        normalize_std: divide by the (unbiased) group std plus ``eps``; False gives Dr. GRPO.
        eps: added to the std so a group of equal rewards gives zeros, not NaN.

    Returns:
        float ``[N]``: ``(r - mean_g) / (std_g + eps)`` (or ``r - mean_g``).

    Example:
        >>> group_advantages(torch.tensor([1.0, 0.0, 2.0, 2.0]), group_size=2, normalize_std=False)
        tensor([ 0.5000, -0.5000,  0.0000,  0.0000])
    """
    grouped = _grouped(rewards, group_size, minimum=2)  # [N / G, G]
    centered = grouped - grouped.mean(dim=1, keepdim=True)
    if normalize_std:
        centered = centered / (grouped.std(dim=1, keepdim=True) + eps)
    return centered.reshape(-1)  # [N]


def leave_one_out_baseline(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """RLOO baseline: the mean reward of the other ``G - 1`` samples of each sample's group.

    Args:
        rewards: float ``[N]``, groups of ``group_size`` contiguous samples.
        group_size: G (>= 2).

    Returns:
        float ``[N]``: ``(sum_g - r_i) / (G - 1)``.
    """
    grouped = _grouped(rewards, group_size, minimum=2)  # [N / G, G]
    return ((grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)).reshape(-1)  # [N]


def k3_kl(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(current || reference): ``exp(d) - d - 1`` with ``d = ref - logp``.

    Non-negative, unbiased for samples drawn from the current policy, zero where both agree.

    Args:
        log_prob: float ``[...]``, log-probs of the sampled tokens under the current policy.
        ref_log_prob: float ``[...]``, same tokens under the frozen reference.

    Returns:
        float ``[...]``, same shape.
    """
    diff = ref_log_prob - log_prob
    return torch.expm1(diff) - diff


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    gamma: float = 1.0,
    gae_lambda: float = 0.95,
    next_value: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over K steps (backward loop over K, vectorised over N).

    ``delta_k = r_k + gamma * V_{k+1} * (1 - done_k) - V_k`` and
    ``A_k = delta_k + gamma * lambda * (1 - done_k) * A_{k+1}``; a done step is terminal (no bootstrap).

    Args:
        rewards: float ``[N, K]`` per-step rewards.
        values: float ``[N, K]`` value estimates V(s_k).
        dones: bool ``[N, K]``, True where the episode ends after step k.
        gamma: discount in [0, 1].
        gae_lambda: GAE lambda in [0, 1].
        next_value: float ``[N]``, V of the state after the last step (bootstrap for unfinished
            episodes); zeros when None.

    Returns:
        ``(advantages [N, K], returns [N, K])`` with ``returns = advantages + values``.
    """
    if rewards.shape != values.shape or rewards.shape != dones.shape or rewards.ndim != 2:
        raise ValueError(
            "rewards, values and dones must share one [N, K] shape, got "
            f"{tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(dones.shape)}"
        )
    not_done = (~dones.bool()).to(values.dtype)  # [N, K]
    next_v = values.new_zeros(values.shape[0]) if next_value is None else next_value  # [N]
    advantages = torch.empty_like(values)  # [N, K]
    running = values.new_zeros(values.shape[0])  # [N]
    for k in range(values.shape[1] - 1, -1, -1):
        delta = rewards[:, k] + gamma * next_v * not_done[:, k] - values[:, k]
        running = delta + gamma * gae_lambda * not_done[:, k] * running
        advantages[:, k] = running
        next_v = values[:, k]
    return advantages, advantages + values


def clipped_ratio_objective(
    log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantage: torch.Tensor, clip_epsilon: float,
    clip_epsilon_high: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped surrogate, per token: ``-min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A)``.

    Args:
        log_prob: float ``[N, T]`` current log-probs (with grad).
        old_log_prob: float ``[N, T]`` behaviour log-probs (no grad).
        advantage: float ``[N, T]`` (or broadcastable, e.g. ``[N, 1]``).
        clip_epsilon: eps_low > 0 (and eps_high when ``clip_epsilon_high`` is None).
        clip_epsilon_high: DAPO's "clip-higher" upper bound, or None for the symmetric clip.

    Returns:
        ``(loss [N, T], ratio [N, T])``; the loss is to be minimised.
    """
    high = clip_epsilon if clip_epsilon_high is None else clip_epsilon_high
    ratio = torch.exp(log_prob - old_log_prob)  # [N, T]
    unclipped = ratio * advantage
    clipped = ratio.clamp(1.0 - clip_epsilon, 1.0 + high) * advantage
    return -torch.minimum(unclipped, clipped), ratio


def sequence_log_ratio(
    log_prob: torch.Tensor, old_log_prob: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """GSPO's length-normalised sequence log-ratio ``mean_t (logp - old_logp)`` per sample: ``[N, 1]``.

    The sequence ratio ``exp`` of it is the geometric mean of the token ratios; every token of a sample
    gets the same ratio, with the gradient of the whole sequence (Zheng et al., 2025).
    """
    diff = log_prob - old_log_prob  # [N, T]
    if mask is None:
        return diff.mean(dim=1, keepdim=True)
    weights = mask.to(diff.dtype)
    return (diff * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)


def step_token_weights(step_index: torch.Tensor, weights: str | tuple[float, ...]) -> torch.Tensor:
    """Per-token loss weights ``[N, T]`` that give env step k the share ``c_k / sum_j c_j`` of the total.

    ``w_t = T * c_k / (n_k * sum_j c_j)`` for a token of step k with ``n_k`` tokens, so the weights average 1
    over a sample; ``"step"`` is ``c_k = 1`` (every step counts the same).

    Args:
        step_index: int64 ``[N, T]`` (the same layout in every row).
        weights: ``"step"`` or one non-negative weight per step.
    """
    row = step_index[0]  # [T]
    num_steps = int(row.max()) + 1
    counts = torch.bincount(row, minlength=num_steps).to(torch.float32)  # [K]
    c = torch.ones(num_steps) if weights == "step" else torch.tensor(weights, dtype=torch.float32)
    if c.numel() != num_steps:
        raise ValueError(f"step_weights has {c.numel()} weights but the episodes have {num_steps} steps")
    per_step = row.numel() * c / (counts.clamp_min(1.0) * c.sum())  # [K]
    return per_step.to(step_index.device)[step_index]  # [N, T]


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the entries where ``mask`` is True (all entries when None); 0 when none are."""
    if mask is None:
        return values.mean()
    weights = mask.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor | None = None,
    mode: Literal["sample_mean", "token_mean", "token_sum"] = "sample_mean",
) -> torch.Tensor:
    """Reduce a per-token quantity to a scalar.

    Args:
        per_token: float ``[N, T]``.
        mask: bool ``[N, T]`` of valid tokens, or None (all valid).
        mode: ``"sample_mean"`` = mean over each sample's valid tokens, then over samples (the GRPO
            paper); ``"token_mean"`` = mean over all valid tokens of the batch (DAPO);
            ``"token_sum"`` = sum over valid tokens divided by the constant ``N * T`` (Dr. GRPO: no
            length or mask-count normalisation, so masked tokens lower the scale instead of reweighting).

    Returns:
        float scalar.
    """
    if mode == "token_mean":
        return masked_mean(per_token, mask)
    if mode == "token_sum":
        weights = per_token.new_ones(()) if mask is None else mask.to(per_token.dtype)
        return (per_token * weights).sum() / per_token.numel()
    if mode != "sample_mean":
        raise ValueError(f"mode must be one of {AGGREGATIONS}, got {mode!r}")
    if mask is None:
        return per_token.mean(dim=1).mean()
    weights = mask.to(per_token.dtype)  # [N, T]
    per_sample = (per_token * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)  # [N]
    return per_sample.mean()


def broadcast_step_to_tokens(step_values: torch.Tensor, step_index: torch.Tensor) -> torch.Tensor:
    """Give every token the value of the step that produced it.

    Args:
        step_values: ``[N, K]``.
        step_index: int64 ``[N, T]`` in ``0..K-1``.

    Returns:
        ``[N, T]`` with ``out[n, t] = step_values[n, step_index[n, t]]``.
    """
    return torch.gather(step_values, 1, step_index.long())


def pool_tokens_to_steps(
    hidden: torch.Tensor, step_index: torch.Tensor, num_steps: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of the token features of each step.

    Args:
        hidden: float ``[N, T, C]``.
        step_index: int64 ``[N, T]`` in ``0..num_steps-1``.
        num_steps: K.
        mask: bool ``[N, T]`` of valid tokens, or None.

    Returns:
        float ``[N, K, C]``; a step without valid tokens gets zeros.
    """
    n, _, c = hidden.shape
    weights = torch.ones_like(step_index, dtype=hidden.dtype) if mask is None else mask.to(hidden.dtype)
    index = step_index.long().unsqueeze(-1).expand(-1, -1, c)  # [N, T, C]
    sums = hidden.new_zeros(n, num_steps, c).scatter_add(1, index, hidden * weights.unsqueeze(-1))
    counts = hidden.new_zeros(n, num_steps).scatter_add(1, step_index.long(), weights)  # [N, K]
    return sums / counts.clamp_min(1.0).unsqueeze(-1)  # [N, K, C]


def step_mask_from_tokens(token_mask: torch.Tensor, step_index: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Steps that own at least one valid token.

    Args:
        token_mask: bool ``[N, T]``.
        step_index: int64 ``[N, T]``.
        num_steps: K.

    Returns:
        bool ``[N, K]``.
    """
    counts = torch.zeros(token_mask.shape[0], num_steps, dtype=torch.long, device=token_mask.device)
    return counts.scatter_add(1, step_index.long(), token_mask.long()) > 0
