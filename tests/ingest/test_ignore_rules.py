"""Contract: `.wholerepoignore` (root and nested), `--exclude` and `--include` use gitignore syntax, and
every file they rule out is reported with the rule that did it."""

from __future__ import annotations

from wholerepo.ingest.discover import discover_files
from wholerepo.ingest.read import ReadOptions, read_files
from wholerepo.ingest.types import SkipReason

TREE = {
    "README.md": "# r\n",
    "docs/guide.md": "guide\n",
    "docs/keep.md": "keep\n",
    "src/app.py": "app = 1\n",
    "src/gen/out.py": "out = 1\n",
    "src/gen/.wholerepoignore": "*.py\n!keep_me.py\n",
    "src/gen/keep_me.py": "k = 1\n",
    "tests/test_app.py": "def test(): pass\n",
    "top.log": "log\n",
    ".wholerepoignore": "# comments and blanks are fine\n\n*.log\n/docs/*\n!docs/keep.md\n",
}


def outcomes(make_repo, **options: object) -> tuple[list[str], dict[str, tuple[SkipReason, str]]]:
    result = read_files(discover_files(make_repo(TREE)), ReadOptions(**options))  # type: ignore[arg-type]
    return sorted(f.path for f in result.files), {s.path: (s.reason, s.detail) for s in result.skipped}


def test_wholerepoignore_root_and_nested(make_repo) -> None:
    packed, skipped = outcomes(make_repo)
    assert packed == [
        ".wholerepoignore", "README.md", "docs/keep.md", "src/app.py", "src/gen/.wholerepoignore",
        "src/gen/keep_me.py", "tests/test_app.py",
    ]  # fmt: skip
    assert skipped == {
        "docs/guide.md": (SkipReason.IGNORED, ".wholerepoignore: /docs/*"),
        "top.log": (SkipReason.IGNORED, ".wholerepoignore: *.log"),
        "src/gen/out.py": (SkipReason.IGNORED, "src/gen/.wholerepoignore: *.py"),
    }


def test_exclude_globs(make_repo) -> None:
    packed, skipped = outcomes(make_repo, excludes=("tests/", "*.md"))
    assert "tests/test_app.py" not in packed and "README.md" not in packed
    assert skipped["tests/test_app.py"] == (SkipReason.IGNORED, "--exclude tests/")
    assert skipped["docs/keep.md"] == (SkipReason.IGNORED, "--exclude *.md")


def test_include_narrows_and_reports_the_rest(make_repo) -> None:
    packed, skipped = outcomes(make_repo, includes=("src/**/*.py", "README.md"))
    assert packed == ["README.md", "src/app.py", "src/gen/keep_me.py"]
    assert skipped["tests/test_app.py"] == (SkipReason.NOT_INCLUDED, "matches no --include pattern")
    assert skipped["src/gen/out.py"][0] is SkipReason.IGNORED  # ignore rules win over includes


def test_include_does_not_override_the_default_skips(make_repo) -> None:
    repo = make_repo({"yarn.lock": "x\n", "a.js": "a\n"})
    result = read_files(discover_files(repo), ReadOptions(includes=("yarn.lock",)))
    assert {s.path: s.reason for s in result.skipped} == {
        "yarn.lock": SkipReason.LOCK_FILE,
        "a.js": SkipReason.NOT_INCLUDED,
    }
