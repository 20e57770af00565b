"""The few error classes callers may want to catch, and `import_extra` for optional dependencies."""

import importlib
from types import ModuleType


class VargymError(Exception):
    """Base class of vargym's own errors."""


class WeightsNotAvailableError(VargymError, FileNotFoundError):
    """Model weights are neither cached nor downloadable (offline, or a missing file)."""


class CheckpointError(VargymError, ValueError):
    """A checkpoint is corrupt or does not match the model/config it is loaded into."""


class MissingExtraError(VargymError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install 'vargym[extra]'`` to run."""


def import_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or raise `MissingExtraError` naming ``purpose`` and the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{purpose} needs the {module.split('.')[0]!r} package: pip install 'vargym[{extra}]' ({e})"
        ) from e
