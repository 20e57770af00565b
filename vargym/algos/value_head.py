"""A value head: one value per env step, from the token hidden states of that step."""

from __future__ import annotations

import torch
from torch import nn

from vargym.algos.functional import pool_tokens_to_steps

__all__ = ["ValueHead"]


class ValueHead(nn.Module):
    """Mean-pool hidden states over each step's tokens, then an MLP (or a Linear) to one value.

    Generic: it needs only hidden states and ``step_index``; the trainer attaches it to the VAR's
    hidden states (K = number of scales). The output layer starts at zero so that initial values are
    the per-step bias (0), which keeps the first PPO updates sane.

    Args:
        hidden_dim: C, width of the hidden states.
        num_steps: K, number of env steps.
        width: hidden width of the MLP; None for a single Linear.
        detach_input: stop value gradients from flowing into the shared trunk.

    Example:
        >>> head = ValueHead(hidden_dim=64, num_steps=10, width=128)
        >>> values = head(hidden, step_index)   # [N, T, C], [N, T] -> [N, K]
    """

    def __init__(
        self, hidden_dim: int, num_steps: int, width: int | None = None, detach_input: bool = False
    ) -> None:
        super().__init__()
        if hidden_dim < 1 or num_steps < 1:
            raise ValueError(f"hidden_dim and num_steps must be >= 1, got {hidden_dim}, {num_steps}")
        if width is not None and width < 1:
            raise ValueError(f"width must be >= 1 or None, got {width}")
        self.num_steps = num_steps
        self.detach_input = detach_input
        self.norm = nn.LayerNorm(hidden_dim)
        out = nn.Linear(hidden_dim if width is None else width, 1)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.mlp = out if width is None else nn.Sequential(nn.Linear(hidden_dim, width), nn.GELU(), out)
        self.step_bias = nn.Parameter(torch.zeros(num_steps))  # [K]

    def forward(
        self, hidden: torch.Tensor, step_index: torch.Tensor, token_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Values per step.

        Args:
            hidden: float ``[N, T, C]``.
            step_index: int64 ``[N, T]`` in ``0..K-1``.
            token_mask: bool ``[N, T]`` of valid tokens, or None.

        Returns:
            float ``[N, K]``.
        """
        if self.detach_input:
            hidden = hidden.detach()
        pooled = pool_tokens_to_steps(hidden, step_index, self.num_steps, token_mask)  # [N, K, C]
        return self.mlp(self.norm(pooled)).squeeze(-1) + self.step_bias  # [N, K]
