"""The two output streams. stdout carries results only; everything else goes to stderr through rich,
which honours NO_COLOR, TERM=dumb and FORCE_COLOR, and drops progress bars when stderr is not a terminal."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

_stderr: Console | None = None


def err_console() -> Console:
    """Progress, diagnostics, summaries and tables: never results. rich (~20 ms to import) loads on first
    use: a pack to a file, stderr not a terminal, never prints a line and never needs it."""
    global _stderr
    if _stderr is None or _stderr.file is not sys.stderr:
        from rich.console import Console

        _stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    return _stderr


def write_result(text: str) -> None:
    """Write a result to stdout exactly as given (no markup, no wrapping)."""
    sys.stdout.write(text)
    if text and not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def is_interactive() -> bool:
    """Progress bars only when a person watches stderr. rich decides (Console.is_terminal), except where
    its answer is already known without it: no TTY_COMPATIBLE=1 or FORCE_COLOR override, and stderr is
    no terminal (rich's own checks after those only ever say no)."""
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible == "0":
        return False
    if tty_compatible != "1" and os.environ.get("FORCE_COLOR") is None and not _isatty(sys.stderr):
        return False
    return err_console().is_terminal


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream (rich treats it so too)
        return False
