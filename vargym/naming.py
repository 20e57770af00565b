"""The one "did you mean" helper used by every registry and config error."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "unknown_name_error"]


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_name_error(what: str, name: object, choices: Iterable[str]) -> ValueError:
    """``ValueError("unknown <what> 'x'; choose one of [...]. Did you mean 'y'?")``."""
    choices = sorted(choices)
    return ValueError(f"unknown {what} {name!r}; choose one of {choices}.{did_you_mean(name, choices)}")
