"""Image generation as an environment: the batched core, gymnasium / torchrl adapters, policy and collectors.

Every class here drives any `vargym.models.Generator`; one env step is one step of the generator's
`TokenLayout` (for VAR, one scale). Importing ``vargym`` (or this package) registers the gymnasium ids
``"vargym/Generate-v0"`` and ``"vargym/VAR-v0"`` (the same env; string entry points, nothing heavy is
imported until an env is made)::

    env = gymnasium.make("vargym/VAR-v0", model=build_preset("tiny"), reward="luma")
    venv = gymnasium.make_vec("vargym/VAR-v0", num_envs=64, vectorization_mode="vector_entry_point",
                              model="tiny", reward="luma", group_size=8)

The classes below load lazily on first attribute access. ``VAREnv``, ``VARVectorEnv``, ``VARTorchRLEnv``
and ``VARPolicy`` are earlier names, kept as deprecated aliases (they warn; see CHANGELOG.md).
"""

from __future__ import annotations

from vargym.lazy import lazy_getattr
from vargym.registration import ENV_ID, register_envs

register_envs()

_LAZY = {
    "GenerationCore": "vargym.envs.core",
    "EpisodeEndedError": "vargym.envs.core",
    "make_core": "vargym.envs.core",
    "GenerationEnv": "vargym.envs.gym_env",
    "GenerationVectorEnv": "vargym.envs.gym_env",
    "GenerationTorchRLEnv": "vargym.envs.torchrl_env",
    "GeneratorPolicy": "vargym.envs.policy",
    "GroupedCollector": "vargym.envs.collector",
    "TorchRLGroupedCollector": "vargym.envs.collector",
    "episode_tensordict": "vargym.envs.collector",
}
_ALIASES = {"VAREnv": "GenerationEnv", "VARVectorEnv": "GenerationVectorEnv", "VARTorchRLEnv": "GenerationTorchRLEnv",
            "VARPolicy": "GeneratorPolicy"}

__all__ = ["ENV_ID", *_LAZY, *_ALIASES]

_lazy = lazy_getattr("vargym.envs", _LAZY)


def __getattr__(name: str):
    if name in _ALIASES:
        import warnings

        warnings.warn(f"vargym.envs.{name} is deprecated: use vargym.envs.{_ALIASES[name]}", DeprecationWarning,
                      stacklevel=2)
    return _lazy(_ALIASES.get(name, name))


def __dir__() -> list[str]:
    return sorted(__all__)
