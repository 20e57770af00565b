"""Old module paths of moved modules, kept importable for a release (see CHANGELOG.md).

``alias_moved_modules({"old.path": "new.path"})`` installs an import hook: ``import old.path`` (and
``from old.path import name``, and ``old.path.sub`` for a moved package) imports the new module, registers
it under the old name too, and warns once with a DeprecationWarning that names the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

__all__ = ["alias_moved_modules"]

_MOVED: dict[str, str] = {}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: object = None, target: object = None):
        if _new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec) -> ModuleType:
        new = _new_name(spec.name)
        warnings.warn(f"{spec.name} moved to {new}; the old path is deprecated", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is the new one, already executed."""


def _new_name(fullname: str) -> str | None:
    for old, new in _MOVED.items():
        if fullname == old or fullname.startswith(old + "."):
            return new + fullname[len(old):]
    return None


def alias_moved_modules(moved: dict[str, str]) -> None:
    """Make each old module path import its new module (with a DeprecationWarning)."""
    _MOVED.update(moved)
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
