"""Gymnasium registration of vargym's environment ids (imports gymnasium only, nothing of vargym's)."""

from __future__ import annotations

ENV_ID = "vargym/VAR-v0"


def register_envs() -> None:
    """Register ``vargym/VAR-v0`` (single env and vector entry point) once; string entry points stay lazy."""
    try:
        import gymnasium
    except ImportError:  # gymnasium is a dependency; a broken install should not break `import vargym`
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(
            ENV_ID,
            entry_point="vargym.envs.gym_env:VAREnv",
            vector_entry_point="vargym.envs.gym_env:VARVectorEnv",
        )
