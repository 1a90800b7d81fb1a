"""The two output streams. stdout carries results only; everything else goes to stderr through rich,
which honours NO_COLOR, TERM=dumb and FORCE_COLOR, and drops progress bars when stderr is not a terminal."""

from __future__ import annotations

import sys

from rich.console import Console

_stderr: Console | None = None


def err_console() -> Console:
    """Progress, diagnostics, summaries and tables: never results."""
    global _stderr
    if _stderr is None or _stderr.file is not sys.stderr:
        _stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    return _stderr


def write_result(text: str) -> None:
    """Write a result to stdout exactly as given (no markup, no wrapping)."""
    sys.stdout.write(text)
    if text and not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def is_interactive() -> bool:
    """Progress bars only when a person watches stderr."""
    return err_console().is_terminal
