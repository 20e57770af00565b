"""Gymnasium registration of vargym's environment ids (imports gymnasium only, nothing of vargym's)."""

from __future__ import annotations

ENV_ID = "vargym/VAR-v0"
GENERIC_ENV_ID = "vargym/Generate-v0"


def register_envs() -> None:
    """Register the env ids once (single env and vector entry point); string entry points stay lazy.

    ``vargym/Generate-v0`` and ``vargym/VAR-v0`` are the same environment: it drives whichever generator
    ``model=`` names; the second id is the one earlier releases documented.
    """
    try:
        import gymnasium
    except ImportError:  # gymnasium is a dependency; a broken install should not break `import vargym`
        return
    for env_id in (ENV_ID, GENERIC_ENV_ID):
        if env_id not in gymnasium.registry:
            gymnasium.register(
                env_id,
                entry_point="vargym.envs.gym_env:GenerationEnv",
                vector_entry_point="vargym.envs.gym_env:GenerationVectorEnv",
            )
