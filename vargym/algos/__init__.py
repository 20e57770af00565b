"""RL algorithms: GRPO, PPO and REINFORCE losses (TensorDict in, TensorDict out; no VAR code).

Each algorithm is an ``nn.Module`` (see ``Algorithm``): ``compute_advantages(batch)`` writes
``advantage`` [N, T] (PPO also ``return`` [N, K]); ``forward(minibatch)`` returns ``loss_*`` entries,
summed by the trainer, and detached metrics. This package imports only torch and tensordict.

Example:
    >>> algo = make_algorithm("grpo", group_size=8, beta=0.0)
    >>> batch = algo.compute_advantages(batch)
    >>> out = algo(minibatch)
    >>> loss = sum(v for k, v in out.items() if k.startswith("loss_"))
"""

from __future__ import annotations

import difflib
from typing import Any

from vargym.algos.base import Algorithm, LossConfig, field_docs
from vargym.algos.grpo import GRPOConfig, GRPOLoss
from vargym.algos.ppo import PPOConfig, PPOLoss
from vargym.algos.reinforce import ReinforceConfig, ReinforceLoss
from vargym.algos.value_head import ValueHead

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "GRPOConfig",
    "GRPOLoss",
    "LossConfig",
    "PPOConfig",
    "PPOLoss",
    "ReinforceConfig",
    "ReinforceLoss",
    "ValueHead",
    "config_class",
    "field_docs",
    "make_algorithm",
]

ALGORITHMS: dict[str, type[Algorithm]] = {
    "grpo": GRPOLoss,
    "ppo": PPOLoss,
    "reinforce": ReinforceLoss,
}


def _lookup(name: str) -> type[Algorithm]:
    if name not in ALGORITHMS:
        allowed = ", ".join(sorted(ALGORITHMS))
        close = difflib.get_close_matches(str(name), list(ALGORITHMS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown algorithm {name!r}; allowed: {allowed}.{hint}")
    return ALGORITHMS[name]


def config_class(name: str) -> type[LossConfig]:
    """The config dataclass of a registered algorithm (``"grpo"`` -> ``GRPOConfig``)."""
    return _lookup(name).config_class


def make_algorithm(name: str, **config: Any) -> Algorithm:
    """Build a registered algorithm from its name and config fields.

    Args:
        name: ``"grpo"``, ``"ppo"`` or ``"reinforce"``.
        **config: fields of that algorithm's config (e.g. ``group_size=8``, ``beta=0.0``).

    Raises:
        ValueError: unknown name (with a suggestion) or an out-of-range field.
        TypeError: a field the config does not have.
    """
    cls = _lookup(name)
    return cls(cls.config_class(**config))
