"""Old names kept for a release: keyword arguments renamed in public signatures (see CHANGELOG.md)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["renamed_kwargs", "warn_renamed"]


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """A DeprecationWarning saying that ``old`` is now ``new``."""
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=stacklevel)


def renamed_kwargs(**renames: str) -> Callable[[Callable], Callable]:
    """Accept each old keyword (``labels=...``) as its new one (``conditions=...``), with a DeprecationWarning;
    giving both is a TypeError.

    Example:
        >>> @renamed_kwargs(labels="conditions")
        ... def make(conditions=None): ...
    """

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{function.__qualname__}: pass {new}= ({old}= is its deprecated name), "
                                        f"not both")
                    warn_renamed(f"{function.__qualname__}({old}=)", f"{new}=")
                    kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return wrapper

    return decorate
