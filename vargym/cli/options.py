"""CLI flags generated from a config dataclass: each field gets one ``--flag`` whose help is its docstring.

cleanrl and tyro make the config the CLI; this does the same for typer, so a new config field gets its flag
and help text without a second list to keep in step. Fields of a type a flag cannot hold (dicts) are left
to the command's own options.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

import typer

from vargym.configdoc import field_help

__all__ = ["config_options", "given"]

_SCALARS = (int, float, str, bool)


def _flag_type(annotation: Any) -> type | None:
    """The scalar type a flag can parse for a field annotation (``int | None`` -> int), or None."""
    if annotation in _SCALARS:
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1 and inner[0] in _SCALARS:
            return inner[0]
    return None


def config_options(config_class: type, exclude: Iterable[str] = (), defaults: Any = None,
                   ) -> Callable[[Callable], Callable]:
    """Add one keyword option per field of ``config_class`` (default None = "not given") to a command.

    The command keeps its own parameters (which win over a field of the same name) and receives the
    generated ones as keyword arguments; `given` picks the values that were set. ``defaults`` (an instance)
    is what the help shows as each field's default, where the command's differ from the class's (training
    samples at temperature 0.7, `SamplingConfig` defaults to 1.0).
    """
    hints = typing.get_type_hints(config_class)
    helps = field_help(config_class, defaults)
    skip = set(exclude)

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command)
        params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        own = {p.name for p in params}
        for f in dataclasses.fields(config_class):
            kind = _flag_type(hints[f.name])
            if f.name in own or f.name in skip or kind is None:
                continue
            if kind is bool:
                flag = "--" + f.name.replace("_", "-")
                option = typer.Option(None, f"{flag}/--no-{flag[2:]}", help=helps.get(f.name, ""))
            else:
                option = typer.Option(None, help=helps.get(f.name, ""))
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                            annotation=kind | None))

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            return command(**kwargs)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapper

    return decorate


def given(config_class: type, values: dict[str, Any]) -> dict[str, Any]:
    """The config fields among ``values`` that were set on the command line (not None)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return {k: v for k, v in values.items() if k in names and v is not None}
