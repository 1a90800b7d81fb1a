"""Contract: the pydantic-free coercion of FastCoercionCommand gives what typer's own gives, value for value
and error for error, on every parameter of `wholerepo pack` (the values it does not handle go to typer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from typer._click import Context
from typer._coercion import build_runtime_param

from wholerepo.cli.app import app

SAMPLES: list[Any] = [
    None, ".", "", "-", "12", "0012", "1_000", " 7", "-3", "12.5", "x", "١٢", "9" * 30, "xml", "JSON",
    "Markdown", "nope", (), ("a", "b"), ["*.py"], "/nonexistent/file", False, True,
]  # fmt: skip


def _outcome(coerce: Any, value: Any, param: Any, ctx: Context) -> tuple[str, Any]:
    try:
        return "value", coerce(value, param=param, ctx=ctx)
    except (typer.BadParameter, typer._click.exceptions.UsageError) as error:  # type: ignore[attr-defined]
        return "error", error.format_message()


@pytest.mark.parametrize("sample", SAMPLES, ids=repr)
def test_every_pack_parameter_coerces_as_typer_does(sample: Any, tmp_path: Path) -> None:
    group = typer.main.get_command(app)
    command = group.commands["pack"]  # type: ignore[attr-defined]
    ctx = Context(command)
    unreadable = tmp_path / "locked"
    unreadable.write_text("x")
    unreadable.chmod(0)
    for param in command.params:
        fast = param._runtime_param
        assert type(fast).__name__ == "_PlainFirst", param.name
        real = build_runtime_param(param.type_descriptor)
        for value in (sample, str(tmp_path), str(unreadable), Path(".")):
            assert _outcome(fast.coerce, value, param, ctx) == _outcome(real.coerce, value, param, ctx), (
                param.name,
                value,
            )


def test_a_pack_run_does_not_import_pydantic(tmp_path: Path, make_repo) -> None:
    repo = make_repo({"a.py": "x = 1\n"})
    probe = (
        "import sys, runpy; sys.argv = ['wholerepo', 'pack', sys.argv[1], '--budget', '4000', '-o', sys.argv[2]]\n"
        "try:\n    runpy.run_module('wholerepo', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(repo), str(tmp_path / "p.xml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "p.xml").read_text().startswith("<pack")
