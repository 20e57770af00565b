"""Lazy package exports: names resolve to their module on first access, so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``: ``exports`` maps each name to its module, given
    either in full (``"vargym.train.config"``) or relative to the package (``"config"``)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name]
        if not module.startswith("vargym."):
            module = f"{package}.{module}"
        return getattr(importlib.import_module(module), name)

    return __getattr__
