"""The `wholerepo` command: each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import typer

from wholerepo import __version__
from wholerepo.cli.fast_params import FastCoercionGroup

app = typer.Typer(
    name="wholerepo",
    help="Read a whole git repository into one long-context model call: pack it, ask about it, review changes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    cls=FastCoercionGroup,
)


def _version(value: bool) -> None:
    if value:
        print(f"wholerepo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """wholerepo: whole-repository context for questions and code review."""


def _register_commands() -> None:
    from wholerepo.cli import ask_cmd, pack_cmd, plan_cmd, review_cmd, serve_cmd

    for module in (pack_cmd, ask_cmd, review_cmd, serve_cmd, plan_cmd):
        module.register(app)


_register_commands()


def main() -> None:
    app()
