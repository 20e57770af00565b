"""The model-family registry: one `Family` entry per family, so loading dispatches by name, not by if/elif.

An entry holds what a family is (presets, the released ones, local weight-file keys, shipped models, LoRA
targets) and names its glue module, imported only when the family is used. The glue module defines four
functions, the family's side of `vargym.models.load_generator` / `as_generator`:

- ``build(preset) -> Generator``: random init of a preset (``random:<preset>``);
- ``load_released(name, device, **files) -> Generator``: released weights, downloaded or from ``files``
  (keyword names: ``Family.weight_files``);
- ``load_directory(directory, device) -> Generator``: a model directory vargym wrote (``model.json``);
- ``wrap(obj, num_classes) -> Generator | None``: the family's own objects (a ``(tokenizer, network)``
  tuple, ...) as a `Generator`, None when ``obj`` is not the family's.

A new family registers itself with `register_family` (a third-party package at import time):

Example:
    >>> register_family(Family(name="mine", glue="mypackage.glue", presets=("mine-s",), released=()))
    >>> get_family("mine").module.build("mine-s")
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from vargym.naming import did_you_mean

__all__ = ["FAMILIES", "Family", "families", "family_of_preset", "get_family", "register_family"]


@dataclass(frozen=True)
class Family:
    """One model family as the loaders see it."""

    name: str
    """The family name written into ``model.json`` (``"var"``)."""
    glue: str
    """The module that defines ``build``, ``load_released``, ``load_directory`` and ``wrap``."""
    presets: tuple[str, ...]
    """Every preset name (``random:<preset>`` builds it)."""
    released: tuple[str, ...] = ()
    """Presets with released weights (``load_released`` downloads them)."""
    weight_files: tuple[str, ...] = ()
    """Keyword names of local weight files for a released preset (``--model-file KEY=PATH``)."""
    shipped: dict[str, str] = field(default_factory=dict)
    """Models shipped inside the package: name -> directory under ``vargym/assets``."""
    lora_targets: tuple[str, ...] = ()
    """Attribute names of the network's ``nn.Linear`` layers that LoRA adapts by default."""

    @property
    def module(self) -> ModuleType:
        """The glue module (imported on first use)."""
        return importlib.import_module(self.glue)

    def names(self) -> tuple[str, ...]:
        """Every ``--model`` name this family answers to (shipped models and released presets)."""
        return (*self.shipped, *self.released)


FAMILIES: dict[str, Family] = {}
"""Registered families by name."""


def register_family(family: Family) -> Family:
    """Add ``family`` to the registry (a name or model name already taken raises a ValueError)."""
    if not isinstance(family, Family):
        raise TypeError(f"register_family takes a Family, got {type(family).__name__}")
    if family.name in FAMILIES and FAMILIES[family.name] != family:
        raise ValueError(f"a family named {family.name!r} is already registered")
    taken = {n: f.name for f in FAMILIES.values() if f.name != family.name for n in (*f.names(), *f.presets)}
    clash = sorted(n for n in (*family.names(), *family.presets) if n in taken)
    if clash:
        raise ValueError(f"family {family.name!r}: names {clash} are already used by family {taken[clash[0]]!r}")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The registered family ``name``; an unknown one raises a ValueError listing the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {sorted(FAMILIES)}.{did_you_mean(name, FAMILIES)}")
    return FAMILIES[name]


def families() -> list[Family]:
    """Every registered family, in registration order."""
    return list(FAMILIES.values())


def family_of_preset(preset: str) -> Family:
    """The family that defines ``preset``; an unknown preset raises a ValueError with a suggestion."""
    for family in FAMILIES.values():
        if preset in family.presets:
            return family
    every = sorted(p for f in FAMILIES.values() for p in f.presets)
    raise ValueError(f"unknown preset {preset!r}; known: {every}.{did_you_mean(preset, every)}")


register_family(Family(
    name="var", glue="vargym.models.var.generator",
    presets=("var-d16", "var-d20", "var-d24", "var-d30", "tiny", "small"),
    released=("var-d16", "var-d20", "var-d24", "var-d30"),
    weight_files=("vae_path", "var_path"),
    shipped={"tiny": "tiny"},
    lora_targets=("mat_qkv", "proj", "fc1", "fc2"),
))
register_family(Family(
    name="llamagen", glue="vargym.models.llamagen.generator",
    presets=("llamagen-b", "llamagen-l", "llamagen-xl", "llamagen-xxl", "llamagen-3b", "llamagen-t2i-xl",
             "llamagen-t2i-xl-512", "tiny-llamagen", "tiny-llamagen-t2i", "tiny-t2i"),
    released=("llamagen-b", "llamagen-l", "llamagen-xl", "llamagen-xxl", "llamagen-3b", "llamagen-t2i-xl",
              "llamagen-t2i-xl-512"),
    weight_files=("vq_path", "gpt_path"),
    shipped={"tiny-llamagen": "tiny-llamagen", "tiny-t2i": "tiny-t2i"},
    lora_targets=("wqkv", "wo", "w1", "w2", "w3"),
))
register_family(Family(
    name="vqgan", glue="vargym.models.vqgan.generator",
    presets=("tiny-vqgan", "vqgan-cin"),
    released=("vqgan-cin",),
    weight_files=("ckpt_path", "config_path"),
    shipped={"tiny-vqgan": "tiny-vqgan"},
    lora_targets=("query", "key", "value", "proj", "0", "2"),  # mlp.0 / mlp.2: the official MLP keys
))
