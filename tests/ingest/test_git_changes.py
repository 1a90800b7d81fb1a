"""Contract: changed_paths names what a change adds or modifies (renames under their new path), never
what it deletes; the work tree (with untracked files) by default, the index with staged=True, and
everything since merge-base(base, HEAD) with a base."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wholerepo.errors import UsageError
from wholerepo.ingest.git_changes import changed_paths, list_changes


def run_git(repo: Path, *args: str) -> str:
    """conftest's `git` helper is not importable under --import-mode=importlib."""
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True, text=True).stdout


@pytest.fixture
def edited(make_repo) -> Path:
    """Committed a..e; then: a edited (unstaged), b edited and staged, c deleted, d renamed to moved/d2,
    new.py untracked, staged_new.py added to the index, junk.log untracked but ignored."""
    repo = make_repo(
        {
            ".gitignore": "*.log\n",
            "a.py": "a = 1\n",
            "b.py": "b = 1\n",
            "c.py": "c = 1\n",
            "d.py": "def d():\n    return 'a body long enough to be detected as a rename'\n",
            "e.py": "e = 1\n",
        }
    )
    (repo / "a.py").write_text("a = 2\n")
    (repo / "b.py").write_text("b = 2\n")
    run_git(repo, "add", "b.py")
    run_git(repo, "rm", "-q", "c.py")
    (repo / "moved").mkdir()
    run_git(repo, "mv", "d.py", "moved/d2.py")
    (repo / "new.py").write_text("n = 1\n")
    (repo / "staged_new.py").write_text("s = 1\n")
    run_git(repo, "add", "staged_new.py")
    (repo / "junk.log").write_text("noise\n")
    return repo


def test_work_tree_and_untracked_against_head(edited: Path) -> None:
    changes = list_changes(edited)
    assert changes.changed == ["a.py", "b.py", "moved/d2.py", "new.py", "staged_new.py"]
    assert changes.deleted == ["c.py", "d.py"]
    assert changed_paths(edited) == changes.changed


def test_staged_is_the_index_against_head(edited: Path) -> None:
    assert changed_paths(edited, staged=True) == ["b.py", "moved/d2.py", "staged_new.py"]


def test_base_is_everything_since_the_merge_base(make_repo) -> None:
    repo = make_repo({"shared.py": "s = 1\n", "main_only.py": "m = 1\n"})
    run_git(repo, "checkout", "-q", "-b", "feature")
    (repo / "feature.py").write_text("f = 1\n")
    run_git(repo, "add", "feature.py")
    run_git(repo, "commit", "-q", "-m", "feature")
    run_git(repo, "checkout", "-q", "main")
    (repo / "main_only.py").write_text("m = 2\n")  # main moves on: not part of the feature's change
    run_git(repo, "commit", "-q", "-am", "main moves")
    run_git(repo, "checkout", "-q", "feature")
    (repo / "shared.py").write_text("s = 2\n")  # uncommitted work counts too
    assert changed_paths(repo, base="main") == ["feature.py", "shared.py"]


def test_empty_repository_everything_is_new(make_repo) -> None:
    repo = make_repo({"a.py": "a\n", "b.py": "b\n"}, commit=False)
    run_git(repo, "add", "a.py")
    assert changed_paths(repo) == ["a.py", "b.py"]
    assert changed_paths(repo, staged=True) == ["a.py"]


def test_subfolder_root_gives_paths_relative_to_it(make_repo) -> None:
    repo = make_repo({"top.py": "t\n", "pkg/mod.py": "m\n"})
    (repo / "top.py").write_text("t2\n")
    (repo / "pkg" / "mod.py").write_text("m2\n")
    assert changed_paths(repo / "pkg") == ["mod.py"]


def test_odd_names_survive(make_repo) -> None:
    repo = make_repo({"with space.py": "a\n", "caf\udce9.py": "b\n"})
    (repo / "with space.py").write_text("a2\n")
    (repo / "caf\udce9.py").write_text("b2\n")
    assert changed_paths(repo) == ["caf\udce9.py", "with space.py"]


def test_unknown_base_says_what_to_do(make_repo) -> None:
    repo = make_repo({"a.py": "a\n"})
    with pytest.raises(UsageError, match="unknown git revision 'nope'"):
        changed_paths(repo, base="nope")
