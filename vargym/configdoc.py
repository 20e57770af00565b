"""Docstrings written under dataclass fields (cleanrl style), read without importing torch: CLI help text."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap


def field_docs(config_class: type) -> dict[str, str]:
    """Map each dataclass field to the docstring written under it (base classes included)."""
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body  # type: ignore[attr-defined]
        for stmt, nxt in zip(body, body[1:]):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def field_help(config_class: type, defaults: object = None) -> dict[str, str]:
    """``field_docs`` plus each field's default (the class's, or ``defaults``' values), as shown by ``--help``."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    out = {}
    for name, doc in field_docs(config_class).items():
        default = fields[name].default if name in fields else dataclasses.MISSING
        if defaults is not None and name in fields:
            default = getattr(defaults, name)
        shown = "" if default is dataclasses.MISSING or default is None else f" (default: {default})"
        out[name] = _plain(doc) + shown
    return out


def _plain(text: str) -> str:
    """Docstring markup (``code``, `names`) as plain text for a terminal."""
    return re.sub(r"`([^`]*)`", r"\1", re.sub(r"``(.*?)``", r"\1", text))
