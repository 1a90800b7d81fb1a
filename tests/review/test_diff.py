"""Contract: the diff and the changed-path list come from real git for each scope, and the reviewed version
of a file is the one the scope names (work tree, index, or commit B)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wholerepo.errors import NotAGitRepositoryError, UsageError
from wholerepo.review.diff import diff_scope, find_repo_root, read_reviewed
from wholerepo.review.scope import ReviewScope, ScopeKind

BASE = {"app.py": "".join(f"line {i}\n" for i in range(1, 41)), "old.py": "gone = True\n", "keep.py": "k = 1\n"}


def _git(repo: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_worktree_scope_sees_unstaged_and_staged(make_repo) -> None:
    repo = make_repo(BASE)
    (repo / "app.py").write_text(BASE["app.py"].replace("line 20\n", "line twenty\n"))
    (repo / "keep.py").write_text("k = 2\n")
    _git(repo, "add", "keep.py")
    diff = diff_scope(repo, ReviewScope(ScopeKind.WORKTREE))
    assert diff.changed_paths == ("app.py", "keep.py")
    assert "+line twenty" in diff.text and "-line 20" in diff.text
    # ten lines of context either side of the hunk
    assert " line 10\n" in diff.text and " line 30\n" in diff.text and "\n line 9\n" not in diff.text


def test_staged_scope_ignores_unstaged_edits(make_repo) -> None:
    repo = make_repo(BASE)
    (repo / "app.py").write_text(BASE["app.py"].replace("line 3\n", "staged three\n"))
    _git(repo, "add", "app.py")
    (repo / "app.py").write_text(BASE["app.py"].replace("line 3\n", "unstaged three\n"))
    scope = ReviewScope(ScopeKind.STAGED)
    diff = diff_scope(repo, scope, context_lines=2)
    assert "+staged three" in diff.text and "unstaged" not in diff.text
    reviewed = read_reviewed(repo, scope, diff, "app.py")
    assert reviewed is not None and "staged three" in reviewed and "unstaged" not in reviewed


def test_base_scope_reviews_branch_from_merge_base(make_repo) -> None:
    repo = make_repo(BASE)
    _git(repo, "checkout", "-q", "-b", "topic")
    (repo / "new.py").write_text("def f():\n    return 1\n")
    (repo / "old.py").unlink()
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "topic work")
    _git(repo, "checkout", "-q", "main")
    (repo / "keep.py").write_text("k = 'main moved on'\n")
    _git(repo, "commit", "-q", "-am", "main work")
    _git(repo, "checkout", "-q", "topic")
    diff = diff_scope(repo, ReviewScope(ScopeKind.BASE, base="main"))
    assert diff.changed_paths == ("new.py",) and diff.deleted_paths == ("old.py",)
    assert "main moved on" not in diff.text  # main's own commit is not part of the branch's change
    assert diff.base_commit == _git(repo, "merge-base", "main", "HEAD").strip()


def test_range_scope_reads_commit_b(make_repo) -> None:
    repo = make_repo(commits=[BASE, {"keep.py": "k = 3\n"}, {"keep.py": "k = 4\n"}])
    first = _git(repo, "rev-parse", "HEAD~2").strip()
    middle = _git(repo, "rev-parse", "HEAD~1").strip()
    scope = ReviewScope(ScopeKind.RANGE, base=first, head=middle)
    diff = diff_scope(repo, scope)
    assert diff.changed_paths == ("keep.py",) and diff.head_commit == middle
    assert read_reviewed(repo, scope, diff, "keep.py") == "k = 3\n"  # not the work tree's k = 4


def test_rename_reports_new_path(make_repo) -> None:
    repo = make_repo(BASE)
    _git(repo, "mv", "keep.py", "kept.py")
    diff = diff_scope(repo, ReviewScope(ScopeKind.STAGED))
    assert diff.changed_paths == ("kept.py",) and diff.deleted_paths == ()


def test_unicode_and_spaces_in_paths(make_repo) -> None:
    repo = make_repo(BASE)
    (repo / "dir with space").mkdir()
    (repo / "dir with space" / "naïve.py").write_text("x = 1\n")
    _git(repo, "add", "-A")
    assert diff_scope(repo, ReviewScope(ScopeKind.STAGED)).changed_paths == ("dir with space/naïve.py",)


def test_clean_tree_has_empty_diff(make_repo) -> None:
    diff = diff_scope(make_repo(BASE), ReviewScope(ScopeKind.WORKTREE))
    assert diff.text == "" and diff.changed_paths == ()


def test_repo_without_commits_diffs_against_empty_tree(make_repo) -> None:
    repo = make_repo({"a.py": "a = 1\n"}, commit=False)
    _git(repo, "add", "a.py")
    diff = diff_scope(repo, ReviewScope(ScopeKind.STAGED))
    assert diff.changed_paths == ("a.py",) and diff.base_commit is None


def test_unknown_base_is_usage_error(make_repo) -> None:
    with pytest.raises(UsageError, match="fetch"):
        diff_scope(make_repo(BASE), ReviewScope(ScopeKind.BASE, base="origin/nope"))


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(NotAGitRepositoryError):
        find_repo_root(tmp_path)


def test_repo_root_from_subfolder(make_repo) -> None:
    repo = make_repo({"pkg/mod.py": "x = 1\n"})
    assert find_repo_root(repo / "pkg") == repo.resolve()


def test_reviewed_version_never_follows_a_symlink_out_of_the_repository(make_repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("token = 123\n")
    repo = make_repo(BASE)
    (repo / "escape").symlink_to(outside)
    scope = ReviewScope(ScopeKind.WORKTREE)
    diff = diff_scope(repo, scope)
    assert read_reviewed(repo, scope, diff, "escape/secret.txt") is None
    assert read_reviewed(repo, scope, diff, "app.py") == BASE["app.py"]


def test_worktree_scope_includes_untracked_files_whole_and_honours_gitignore(make_repo) -> None:
    repo = make_repo({**BASE, ".gitignore": "*.log\nbuild/\n"})
    (repo / "brand new.py").write_text("def added():\n    return 1 / 0\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text("ignored = True\n")
    (repo / "keep.py").write_text("k = 2\n")
    scope = ReviewScope(ScopeKind.WORKTREE)
    diff = diff_scope(repo, scope)
    assert diff.changed_paths == ("keep.py", "brand new.py")
    assert "+++ b/brand new.py" in diff.text and "+    return 1 / 0" in diff.text
    assert "new file mode" in diff.text and "ignored" not in diff.text
    assert read_reviewed(repo, scope, diff, "brand new.py") == "def added():\n    return 1 / 0\n"


def test_no_untracked_leaves_new_files_out(make_repo) -> None:
    repo = make_repo(BASE)
    (repo / "new.py").write_text("x = 1\n")
    diff = diff_scope(repo, ReviewScope(ScopeKind.WORKTREE, untracked=False))
    assert diff.text == "" and diff.changed_paths == ()


def test_staged_and_range_scopes_never_include_untracked_files(make_repo) -> None:
    repo = make_repo(commits=[BASE, {"keep.py": "k = 3\n"}])
    (repo / "new.py").write_text("x = 1\n")
    assert diff_scope(repo, ReviewScope(ScopeKind.STAGED)).changed_paths == ()
    ranged = diff_scope(repo, ReviewScope(ScopeKind.RANGE, base="HEAD~1", head="HEAD"))
    assert ranged.changed_paths == ("keep.py",) and "new.py" not in ranged.text


def test_untracked_file_in_a_repository_without_commits(make_repo) -> None:
    repo = make_repo({"a.py": "a = 1\n"}, commit=False)
    diff = diff_scope(repo, ReviewScope(ScopeKind.WORKTREE))
    assert diff.changed_paths == ("a.py",) and "+a = 1" in diff.text
