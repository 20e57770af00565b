"""Pieces of one training iteration that are not the loop itself: the run's reward wrapper, the
teacher-forced behaviour / reference passes and the start-up policy check."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import torch

from vargym.errors import VargymError
from vargym.rewards import Reward, RewardContext, RewardWrapper

if TYPE_CHECKING:
    from vargym.models import Generator, SamplingConfig

__all__ = ["PolicyMismatchError", "RunReward", "check_policy_consistency", "teacher_forced"]


class PolicyMismatchError(VargymError, RuntimeError):
    """The teacher-forced log-probs disagree with those recorded while sampling (ratio != 1 on-policy)."""


class RunReward(RewardWrapper):
    """The run's reward: adds the prompt and iteration to the context and times every call.

    Args:
        reward: the `Reward` built from the config's spec.
        prompt: put into ``RewardContext.prompt`` (None keeps the context's).
    """

    def __init__(self, reward: Reward, prompt: str | None = None) -> None:
        super().__init__(reward)
        self.prompt = prompt
        self.iteration: int | None = None
        self.elapsed = 0.0
        """Seconds spent inside the wrapped reward since construction (CUDA synchronised)."""

    def transform(self, total: torch.Tensor) -> torch.Tensor:
        return total

    def score(self, images: torch.Tensor, context: RewardContext) -> dict[str, torch.Tensor]:
        context = dataclasses.replace(context, prompt=self.prompt or context.prompt, iteration=self.iteration)
        start = time.perf_counter()
        out = self.reward(images, context)
        if out.total.device.type == "cuda":
            torch.cuda.synchronize(out.total.device)
        self.elapsed += time.perf_counter() - start
        return {"total": out.total, **out.components}


@torch.no_grad()
def teacher_forced(
    generator: Generator,
    batch: Any,
    sampling: SamplingConfig,
    chunk: int,
    value_head: Any = None,
    step_index: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Log-probs (and entropies, values) of a batch's tokens under ``generator``, without grad, in chunks.

    Args:
        generator: the `vargym.models.Generator` whose ``forward_rl`` defines the policy.
        batch: rollout TensorDict ``[N]`` with the condition's entries and ``tokens`` [N, T].
        sampling: the sampling distribution.
        chunk: rows per forward pass (bounds memory).
        value_head: optional `vargym.algos.ValueHead`, applied to the hidden states with ``step_index`` [N, T].

    Returns:
        ``log_prob`` [N, T], ``entropy`` [N, T] and, with a value head, ``value`` [N, K].
    """
    condition, tokens = generator.condition_source().from_batch(batch), batch["tokens"]
    parts: dict[str, list[torch.Tensor]] = {"log_prob": [], "entropy": [], "value": []}
    for start in range(0, tokens.shape[0], chunk):
        rows = slice(start, start + chunk)
        out = generator.forward_rl(condition.index(rows), tokens[rows], sampling)
        parts["log_prob"].append(out.log_probs)  # [n, T]
        parts["entropy"].append(out.entropy)  # [n, T]
        if value_head is not None:
            parts["value"].append(value_head(out.hidden, step_index[rows]))  # [n, K]
    return {k: torch.cat(v) for k, v in parts.items() if v}


def check_policy_consistency(
    log_prob: torch.Tensor, sample_log_prob: torch.Tensor, tol: float = 1e-3
) -> float:
    """Raise `PolicyMismatchError` unless ``max |log_prob - sample_log_prob| <= tol`` (float32).

    On-policy, the importance ratio ``exp(log_prob - sample_log_prob)`` must be 1: a larger gap means the
    trainer's teacher-forced pass and the sampler compute different distributions (label dropout, drop-path,
    another temperature / cfg / top-k, a KV-cache bug). Tokens where both are -inf count as equal.

    Args:
        log_prob: float ``[N, T]`` from the teacher-forced pass.
        sample_log_prob: float ``[N, T]`` recorded by the sampler.
        tol: allowed max absolute difference.

    Returns:
        the max absolute difference.
    """
    a, b = log_prob.float(), sample_log_prob.float()
    if a.shape != b.shape:
        raise PolicyMismatchError(
            f"log-prob shapes differ: teacher-forced {tuple(a.shape)} vs sampled {tuple(b.shape)}"
        )
    same = a == b  # also true for -inf == -inf
    diff = torch.where(same, torch.zeros_like(a), (a - b).abs())
    diff = torch.nan_to_num(diff, nan=float("inf"))
    worst = float(diff.max()) if diff.numel() else 0.0
    if worst > tol:
        raise PolicyMismatchError(
            f"the teacher-forced log-probs differ from the sampled ones by up to {worst:.3g} (> {tol:g}): the "
            "importance ratio is not 1 on-policy. The training pass must use the sampling distribution exactly "
            "(same temperature/cfg/top_k/top_p, no label dropout or drop-path, same dtype); "
            "set ratio_check_tol=0 to skip this check"
        )
    return worst
