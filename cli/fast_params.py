"""Parameter coercion without pydantic for the values a command line usually carries.

typer (0.29) coerces every parameter through a pydantic TypeAdapter, built on first use: importing pydantic
and building the adapters took ~0.1 s of each `wholerepo pack` (a warm pack's whole budget is 0.5 s).
`FastCoercionCommand` gives its parameters a runtime coercion that handles, itself, the cases whose
result is plain: a str for `str`, ASCII digits for `int`, a member for an Enum, a path for `Path` (with
typer's own checks for an unconstrained path: none when it does not exist, readable when it does), strs
for `list[str]`. Anything else (a wrong value, a constraint, another type) goes to typer's own
coercion, so results and error messages are typer's. Where typer's internals differ from 0.29's, the
command is left as typer builds it.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import typer.core

try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # another typer: no pydantic adapters to avoid
    RuntimeParam = None  # type: ignore[assignment,misc]

_PLAIN = object()  # "not a plain case": typer's coercion decides
_MAX_DIGITS = 18  # int() and pydantic agree on ASCII digits; far below Python's 4300-digit limit


def _unconstrained_path(info: Any) -> bool:
    return (
        info.path_type is None and not info.exists and info.file_okay and info.dir_okay
        and not info.writable and not info.resolve_path and not info.allow_dash
    )  # fmt: skip


def plain_value(annotation: Any, info: Any, value: Any) -> Any:
    """The coerced value where it is plain, else _PLAIN."""
    if getattr(info, "parser", None) is not None:
        return _PLAIN
    if annotation is str and isinstance(value, str):
        return value
    if annotation is int and info.min is None and info.max is None and not info.clamp:
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS:
            return int(value)
        return _PLAIN
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return value if isinstance(value, annotation) else _PLAIN
    if annotation is Path and _unconstrained_path(info) and isinstance(value, (str, Path)) and value != "":
        path = value if isinstance(value, Path) else Path(value)
        try:
            os.stat(path)
        except OSError:
            return path
        return path if not info.readable or os.access(path, os.R_OK) else _PLAIN
    is_str_list = get_origin(annotation) is list and get_args(annotation) == (str,)
    if is_str_list and isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    return _PLAIN


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _PlainFirst(RuntimeParam):  # type: ignore[misc,valid-type]
        """Plain values here; the rest through typer's own coercion, built when first needed."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            plain = plain_value(self.annotation, self.parameter_info, value)
            if plain is not _PLAIN:
                return plain
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)


def _plain_first(params: list[Any]) -> None:
    if RuntimeParam is None:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and getattr(param, "_runtime_param", "absent") is None:
            param._runtime_param = _PlainFirst(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
            )


class _PlainFirstParams:
    """Mixed into typer's command and group: their parameters, help option included, coerce plain values first."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_first(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        _plain_first([option])
        return option


class FastCoercionCommand(_PlainFirstParams, typer.core.TyperCommand):
    """A typer command whose parameters coerce plain values without pydantic (see the module doc)."""


class FastCoercionGroup(_PlainFirstParams, typer.core.TyperGroup):
    """The same for the app's own options (--version, --help)."""
