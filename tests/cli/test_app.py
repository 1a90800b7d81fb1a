"""Contract: the CLI edge turns typed errors into one line on stderr and the documented exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from wholerepo import __version__, errors
from wholerepo.cli.edge import exits_cleanly


def test_version_prints_to_stdout() -> None:
    done = subprocess.run([sys.executable, "-m", "wholerepo", "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout.strip() == f"wholerepo {__version__}"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.UsageError("bad flag; pass --budget N"), 2),
        (errors.NotAGitRepositoryError("not a repo"), 2),
        (errors.ServerUnreachableError("nothing at http://127.0.0.1:1"), 3),
        (errors.ContextOverflowError("too long by 10 tokens"), 4),
        (errors.RequestTimeoutError("timed out"), 5),
        (errors.StreamBrokenError("stream closed"), 6),
        (errors.ModelNotFoundError("no model x"), 7),
        (errors.InvalidModelOutputError("not json"), 8),
    ],
)
def test_each_error_has_its_exit_code_and_one_line(error: errors.WholerepoError, code: int) -> None:
    app = typer.Typer()

    @app.command()
    @exits_cleanly
    def fail() -> None:
        raise error

    result = CliRunner().invoke(app, [])
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {error.message}"]


def test_ctrl_c_exits_130() -> None:
    app = typer.Typer()

    @app.command()
    @exits_cleanly
    def interrupted() -> None:
        raise KeyboardInterrupt

    result = CliRunner().invoke(app, [])
    assert result.exit_code == errors.EXIT_INTERRUPTED


def test_message_with_markup_characters_is_printed_verbatim() -> None:
    app = typer.Typer()
    message = "no file named [/] or [bold]x[/bold]; check the path"

    @app.command()
    @exits_cleanly
    def fail() -> None:
        raise errors.UsageError(message)

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {message}"
