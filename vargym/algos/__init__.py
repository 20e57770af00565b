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

from typing import Any

from vargym.algos.base import Algorithm, LossConfig, field_docs
from vargym.algos.grpo import GRPOConfig, GRPOLoss
from vargym.algos.ppo import PPOConfig, PPOLoss
from vargym.algos.reinforce import ReinforceConfig, ReinforceLoss
from vargym.algos.value_head import ValueHead
from vargym.naming import did_you_mean

__all__ = [
    "ALGORITHMS",
    "ALGORITHM_PRESETS",
    "Algorithm",
    "GRPOConfig",
    "GRPOLoss",
    "LossConfig",
    "PPOConfig",
    "PPOLoss",
    "ReinforceConfig",
    "ReinforceLoss",
    "ValueHead",
    "algorithm_class",
    "algorithm_names",
    "preset_fields",
    "config_class",
    "field_docs",
    "make_algorithm",
    "register_algorithm",
]

ALGORITHMS: dict[str, type[Algorithm]] = {
    "grpo": GRPOLoss,
    "ppo": PPOLoss,
    "reinforce": ReinforceLoss,
}


ALGORITHM_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "var-grpo": ("grpo", {"beta": 0.2}),  # the VAR-GRPO seed paper's KL weight (the others are GRPO's defaults)
    "dr-grpo": ("grpo", {"normalize_std": False, "aggregation": "token_sum"}),
    "dapo": ("grpo", {"beta": 0.0, "clip_epsilon": 0.2, "clip_epsilon_high": 0.28, "aggregation": "token_mean",
                      "dynamic_sampling": True}),
    "gspo": ("grpo", {"beta": 0.0, "ratio_level": "sequence", "clip_epsilon": 3e-4, "clip_epsilon_high": 4e-4}),
    "rloo": ("reinforce", {"baseline": "rloo"}),
}
"""Named combinations of an algorithm's options: name -> (registered algorithm, config fields). The
fields are defaults; a run's own settings override them."""


def algorithm_names() -> list[str]:
    """Every name ``--algo`` accepts: registered algorithms and presets."""
    return sorted({*ALGORITHMS, *ALGORITHM_PRESETS})


def _lookup(name: str) -> type[Algorithm]:
    base = ALGORITHM_PRESETS[name][0] if name in ALGORITHM_PRESETS else name
    if base not in ALGORITHMS:
        presets = ", ".join(sorted(ALGORITHM_PRESETS))
        hint = did_you_mean(name, ALGORITHMS) or did_you_mean(name, ALGORITHM_PRESETS)  # algorithms win ties
        raise ValueError(f"unknown algorithm {name!r}; allowed: {', '.join(sorted(ALGORITHMS))} "
                         f"(presets: {presets}).{hint}")
    return ALGORITHMS[base]


def preset_fields(name: str) -> dict[str, Any]:
    """The config fields a preset sets (empty for a plain algorithm name)."""
    _lookup(name)
    return dict(ALGORITHM_PRESETS[name][1]) if name in ALGORITHM_PRESETS else {}


def register_algorithm(cls: type[Algorithm], name: str | None = None) -> type[Algorithm]:
    """Add an `Algorithm` subclass to the registry under ``name`` (default ``cls.name``); usable as a decorator.

    Example:
        >>> @register_algorithm
        ... class MyLoss(Algorithm):
        ...     name, config_class = "mine", MyConfig
    """
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        raise TypeError(f"register_algorithm takes an Algorithm subclass, got {cls!r}")
    key = name or cls.name
    if not key:
        raise ValueError(f"{cls.__name__} has no name: set the class attribute `name` or pass name=")
    if not (isinstance(cls.config_class, type) and issubclass(cls.config_class, LossConfig)):
        raise TypeError(f"{cls.__name__}.config_class must be a LossConfig subclass, got {cls.config_class!r}")
    ALGORITHMS[key] = cls
    return cls


def algorithm_class(name: str) -> type[Algorithm]:
    """The registered `Algorithm` subclass called ``name`` (unknown names raise with a suggestion)."""
    return _lookup(name)


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
    return cls(cls.config_class(**{**preset_fields(name), **config}))
