"""Contract: the path alone says what a file is for (README, architecture doc, manifest, entry point,
source, test, fixture, translation), and manifests name entry points that do not look like one."""

from __future__ import annotations

import pytest

from wholerepo.ingest.entry_points import find_entry_points
from wholerepo.ingest.roles import FileRole, classify_role
from wholerepo.ingest.types import SourceFile


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("README.md", FileRole.README),
        ("readme.rst", FileRole.README),
        ("pkg/README.md", FileRole.DOC),
        ("ARCHITECTURE.md", FileRole.ARCHITECTURE),
        ("docs/architecture.md", FileRole.ARCHITECTURE),
        ("CONTRIBUTING.md", FileRole.CONTRIBUTING),
        ("docs/index.md", FileRole.DOC_INDEX),
        ("docs/en/docs/index.md", FileRole.DOC_INDEX),
        ("docs/es/docs/index.md", FileRole.TRANSLATION),
        ("docs/zh-hant/docs/tutorial.md", FileRole.TRANSLATION),
        ("locales/fr/messages.po", FileRole.TRANSLATION),
        ("src/es/parser.py", FileRole.SOURCE),  # a folder named like a language outside docs is code
        ("pyproject.toml", FileRole.MANIFEST),
        ("Cargo.toml", FileRole.MANIFEST),
        ("crates/x/Cargo.toml", FileRole.CONFIG),
        ("src/pkg/__main__.py", FileRole.ENTRY_POINT),
        ("cmd/tool/main.go", FileRole.ENTRY_POINT),
        ("src/pkg/core.py", FileRole.SOURCE),
        ("tests/test_core.py", FileRole.TEST),
        ("pkg/core_test.go", FileRole.TEST),
        ("web/app.spec.ts", FileRole.TEST),
        ("tests/fixtures/case.py", FileRole.FIXTURE),
        ("crates/x/snapshots/x__case.snap", FileRole.FIXTURE),
        ("docs_src/tutorial/app.py", FileRole.EXAMPLE),
        ("docs/guide.md", FileRole.DOC),
        (".github/workflows/ci.yml", FileRole.CONFIG),
    ],
)
def test_classify_role(path: str, role: FileRole) -> None:
    assert classify_role(path) is role


def source(path: str, text: str) -> SourceFile:
    return SourceFile(path, text, len(text), "0" * 40)


def test_manifests_name_entry_points() -> None:
    files = [
        source("pyproject.toml", '[project.scripts]\ntool = "tool.commands:run"\n'),
        source("src/tool/commands.py", "def run(): ...\n"),
        source("web/package.json", '{"name": "w", "bin": {"w": "./bin/w.js"}, "main": "lib/index.js"}'),
        source("web/bin/w.js", ""),
        source("web/lib/index.js", ""),
        source("Cargo.toml", '[package]\nname = "x"\n[[bin]]\nname = "x"\npath = "src/bin/run.rs"\n'),
        source("src/bin/run.rs", "fn main() {}\n"),
        source("broken/package.json", "{not json"),
    ]
    assert find_entry_points(files) == {
        "src/tool/commands.py",
        "web/bin/w.js",
        "web/lib/index.js",
        "src/bin/run.rs",
    }
