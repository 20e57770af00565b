"""VAR generation as an environment: the batched core, gymnasium / torchrl adapters, policy and collectors.

Importing ``vargym`` (or this package) registers ``"vargym/VAR-v0"`` with gymnasium (string entry points: nothing heavy is
imported until an env is made)::

    env = gymnasium.make("vargym/VAR-v0", model=build_preset("tiny"), reward="luma")
    venv = gymnasium.make_vec("vargym/VAR-v0", num_envs=64, vectorization_mode="vector_entry_point",
                              model="tiny", reward="luma", group_size=8)

The classes below load lazily on first attribute access.
"""

from __future__ import annotations

from vargym.lazy import lazy_getattr
from vargym.registration import ENV_ID, register_envs

register_envs()

_LAZY = {
    "VARCore": "vargym.envs.core",
    "EpisodeEndedError": "vargym.envs.core",
    "make_core": "vargym.envs.core",
    "VAREnv": "vargym.envs.gym_env",
    "VARVectorEnv": "vargym.envs.gym_env",
    "VARTorchRLEnv": "vargym.envs.torchrl_env",
    "VARPolicy": "vargym.envs.policy",
    "GroupedCollector": "vargym.envs.collector",
    "TorchRLGroupedCollector": "vargym.envs.collector",
    "episode_tensordict": "vargym.envs.collector",
}

__all__ = ["ENV_ID", *_LAZY]


__getattr__ = lazy_getattr("vargym.envs", _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
