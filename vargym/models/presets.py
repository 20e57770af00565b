"""Presets of every family, through the family registry: names, configs and random-init models."""

from __future__ import annotations

from vargym.models.registry import families, family_of_preset

__all__ = ["build_preset", "preset_configs", "preset_family", "preset_names"]


def preset_names() -> list[str]:
    """Every preset of every registered family."""
    return sorted(p for family in families() for p in family.presets)


def preset_family(name: str) -> str:
    """The name of the family that defines preset ``name``; unknown names raise ValueError with a suggestion."""
    return family_of_preset(name).name


def preset_configs(name: str) -> tuple:
    """The (tokenizer config, network config) of a preset of any family: ``(VQVAEConfig, VARConfig)`` or
    ``(LlamaGenVQConfig, LlamaGenConfig)``; unknown names raise ValueError with a suggestion."""
    return family_of_preset(name).module.preset_configs(name)


def build_preset(name: str) -> tuple:
    """Randomly initialised (tokenizer, network) of a preset; no download. Works under ``torch.device("meta")``.

    Example:
        >>> vqvae, var = build_preset("var-d16")
        >>> vq, gpt = build_preset("llamagen-b")
    """
    return family_of_preset(name).module.build_parts(name)


def __getattr__(name: str):
    """VAR's preset tables lived here before the families became packages; kept for a release."""
    import importlib
    import warnings

    var_presets = importlib.import_module("vargym.models.var.presets")
    if name.startswith("__") or not hasattr(var_presets, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"vargym.models.presets.{name} moved to vargym.models.var.presets.{name}", DeprecationWarning,
                  stacklevel=2)
    return getattr(var_presets, name)
