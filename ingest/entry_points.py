"""Entry points the manifests declare: pyproject scripts, package.json bin/main, Cargo [[bin]] paths.
They join main.*, cli.*, __main__.py (roles.py) near the top of the default order: where a reader starts."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wholerepo.ingest.types import SourceFile

MANIFESTS = ("pyproject.toml", "package.json", "Cargo.toml")
SCRIPT_TARGET = re.compile(r"^([\w.]+)")


def find_entry_points(files: Sequence[SourceFile]) -> frozenset[str]:
    """Paths (of files in `files`) that some manifest names as a program's entry."""
    paths = {f.path for f in files}
    found: set[str] = set()
    for f in files:
        folder, _, name = f.path.rpartition("/")
        if name not in MANIFESTS or f.path.count("/") > 2:
            continue
        try:
            candidates = _targets(name, f.text, folder)
        except (ValueError, TypeError, AttributeError):  # a broken manifest names nothing
            continue
        found.update(c for c in candidates if c in paths)
    return frozenset(found)


def _targets(name: str, text: str, folder: str) -> Iterable[str]:
    if name == "pyproject.toml":
        if "scripts" not in text:
            return
        data = _load_toml(text)
        project = data.get("project", {})
        tables = [project.get("scripts", {}), project.get("gui-scripts", {})]
        tables.append(data.get("tool", {}).get("poetry", {}).get("scripts", {}))
        for table in tables:
            for target in _values(table):
                match = SCRIPT_TARGET.match(target)
                if match:
                    yield from _python_module_files(folder, match.group(1))
    elif name == "package.json":
        if not any(f'"{key}"' in text for key in ("bin", "main", "module")):
            return
        data = json.loads(text)
        for key in ("bin", "main", "module"):
            for target in _values(data.get(key)):
                yield posixpath.normpath(posixpath.join(folder, target))
    elif "[[bin]]" in text:  # most Cargo.toml have none: skip the TOML parse (~4 ms each, 58 in ruff)
        for entry in _load_toml(text).get("bin", []):
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                yield posixpath.normpath(posixpath.join(folder, entry["path"]))


def _load_toml(text: str) -> dict[str, Any]:
    import tomllib  # ~6 ms of start-up that a warm pack (its ranking cached, rank_cache.py) never needs

    return tomllib.loads(text)


def _values(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [v for v in value.values() if isinstance(v, str)]
    return []


def _python_module_files(folder: str, module: str) -> list[str]:
    rel = module.replace(".", "/")
    out = []
    for base in (rel, f"src/{rel}"):
        full = posixpath.join(folder, base) if folder else base
        out += [f"{full}.py", f"{full}/__main__.py", f"{full}/__init__.py"]
    return out
