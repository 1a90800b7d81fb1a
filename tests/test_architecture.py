"""Contract: imports flow one way (cli -> jobs -> review -> ingest -> prompts -> runtime -> kernels), only cli
talks to the terminal (typer, rich), and the stage folders install under `wholerepo` only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["cli", "jobs", "review", "ingest", "prompts", "runtime", "kernels"]
TERMINAL_LIBRARIES = {"typer", "rich", "click"}


def _package_modules() -> list[Path]:
    """Package modules; the `python -m wholerepo` entry point (__main__.py) is the CLI itself."""
    return [p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")] + [
        p for p in ROOT.glob("*.py") if p.name != "__main__.py"
    ]


def _imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer_of(path: Path) -> str | None:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in LAYERS else None


def test_imports_flow_one_way() -> None:
    backward: list[str] = []
    for path in _package_modules():
        own = _layer_of(path)
        if own is None:
            allowed_layers: set[str] = set()  # root modules (errors, paths, config) import no stage
        else:
            allowed_layers = set(LAYERS[LAYERS.index(own):])
        for name in _imported_names(path):
            parts = name.split(".")
            if parts[0] != "wholerepo" or len(parts) < 2 or parts[1] not in LAYERS:
                continue
            if parts[1] not in allowed_layers:
                backward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not backward, "backward imports:\n" + "\n".join(sorted(backward))


def test_only_cli_uses_terminal_libraries() -> None:
    offenders = []
    for path in _package_modules():
        if _layer_of(path) == "cli" or path.name == "__main__.py":
            continue
        used = {n.split(".")[0] for n in _imported_names(path)} & TERMINAL_LIBRARIES
        if used:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(used)}")
    assert not offenders, "terminal libraries outside cli/:\n" + "\n".join(offenders)


def test_no_exit_outside_cli() -> None:
    offenders = []
    for path in _package_modules():
        if _layer_of(path) == "cli" or path.name == "__main__.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "sys.exit(" in text or "typer.Exit" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"exits outside cli/: {offenders}"


@pytest.mark.parametrize("name", ["cli", "ingest", "runtime", "kernels", "prompts", "review", "jobs"])
def test_stage_folders_are_not_top_level_modules(name: str, tmp_path: Path) -> None:
    """Run from an empty folder so the checkout itself is not on sys.path."""
    code = (
        "import importlib.util, sys\n"
        f"assert importlib.util.find_spec('wholerepo.{name}') is not None\n"
        f"sys.exit(0 if importlib.util.find_spec('{name}') is None else 1)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, f"top-level module {name!r} is importable: {done.stderr}"
