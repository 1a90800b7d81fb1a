"""The one place typed errors become exit codes: a decorator every command wears."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from wholerepo.cli.console import err_console
from wholerepo.errors import EXIT_INTERRUPTED, WholerepoError

P = ParamSpec("P")
R = TypeVar("R")


def exits_cleanly(command: Callable[P, R]) -> Callable[P, R]:
    """Turn WholerepoError into one line on stderr plus its exit code, and Ctrl-C into exit 130."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except WholerepoError as error:
            from rich.markup import escape  # only on this path: rich costs ~20 ms to import

            err_console().print(f"[bold red]error:[/] {escape(error.message)}", markup=True, highlight=False)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err_console().print("interrupted", style="yellow")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper
