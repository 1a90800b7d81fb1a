"""Contract: flags pick the scope, and with no flag the CI's variables do; conflicting flags are usage
errors (exit 2). A GitHub push event reviews its before..after range in a real repository, falling back to
the last commit (with a one-line note) when `before` is unusable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from wholerepo.errors import UsageError
from wholerepo.review.diff import diff_scope
from wholerepo.review.scope import ScopeKind, is_ci, resolve_scope


def test_default_is_working_tree() -> None:
    assert resolve_scope(env={}).kind is ScopeKind.WORKTREE


def test_flags() -> None:
    assert resolve_scope(staged=True, env={}).kind is ScopeKind.STAGED
    base = resolve_scope(base="origin/main", env={})
    assert (base.kind, base.base) == (ScopeKind.BASE, "origin/main")
    two = resolve_scope(range_spec="v1..HEAD", env={})
    assert (two.kind, two.base, two.head, two.symmetric) == (ScopeKind.RANGE, "v1", "HEAD", False)
    three = resolve_scope(range_spec="main...topic", env={})
    assert (three.base, three.head, three.symmetric) == ("main", "topic", True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"staged": True, "base": "main"},
        {"base": "main", "range_spec": "a..b"},
        {"range_spec": "a.b"},
        {"range_spec": "..b"},
        {"base": "--output=/tmp/x"},
        {"base": "main branch"},
    ],
)
def test_bad_flags_are_usage_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        resolve_scope(env={}, **kwargs)  # type: ignore[arg-type]


def test_flags_beat_ci_variables() -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}
    assert resolve_scope(staged=True, env=env).kind is ScopeKind.STAGED


def test_github_pull_request() -> None:
    scope = resolve_scope(env={"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "release/1.x"})
    assert (scope.kind, scope.base, scope.source) == (ScopeKind.BASE, "origin/release/1.x", "GitHub Actions pull request")


def test_github_push_without_base_reviews_working_tree() -> None:
    assert resolve_scope(env={"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": ""}).kind is ScopeKind.WORKTREE


def test_gitlab_merge_request_prefers_diff_base_sha() -> None:
    sha = "a" * 40
    env = {"GITLAB_CI": "true", "CI_MERGE_REQUEST_DIFF_BASE_SHA": sha, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    assert resolve_scope(env=env).base == sha
    del env["CI_MERGE_REQUEST_DIFF_BASE_SHA"]
    assert resolve_scope(env=env).base == "origin/main"


def test_pre_push_range_and_new_branch() -> None:
    env = {"PRE_COMMIT_FROM_REF": "b" * 40, "PRE_COMMIT_TO_REF": "c" * 40}
    scope = resolve_scope(env=env)
    assert (scope.kind, scope.base, scope.head) == (ScopeKind.RANGE, "b" * 40, "c" * 40)
    assert resolve_scope(env={**env, "PRE_COMMIT_FROM_REF": "0" * 40}).kind is ScopeKind.WORKTREE


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("TRUE", True), ("", False), ("false", False)])
def test_is_ci(value: str, expected: bool) -> None:
    assert is_ci({"CI": value}) is expected


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _push_env(tmp_path: Path, event: dict[str, object]) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"ref": "refs/heads/main", **event}))  # the shape GitHub writes, trimmed
    return {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_BASE_REF": "",
            "GITHUB_EVENT_PATH": str(path)}


@pytest.fixture
def pushed(make_repo) -> Path:
    return make_repo(commits=[{"a.py": "a = 1\n"}, {"b.py": "b = 1\n"}, {"c.py": "c = 1\n"}])


def test_github_push_reviews_before_to_after(pushed: Path, tmp_path: Path) -> None:
    before, after = _git(pushed, "rev-parse", "HEAD~2"), _git(pushed, "rev-parse", "HEAD")
    scope = resolve_scope(env=_push_env(tmp_path, {"before": before, "after": after}), root=pushed)
    assert (scope.kind, scope.base, scope.head, scope.note) == (ScopeKind.RANGE, before, after, None)
    assert scope.source == "GitHub Actions push"
    assert diff_scope(pushed, scope).changed_paths == ("b.py", "c.py")  # both pushed commits, not just the last


@pytest.mark.parametrize("before", ["0" * 40, "f" * 40, None])  # new branch, not in the clone, absent
def test_github_push_without_usable_before_reviews_the_last_commit(pushed: Path, tmp_path: Path,
                                                                    before: str | None) -> None:
    event = {"after": _git(pushed, "rev-parse", "HEAD")} | ({"before": before} if before else {})
    scope = resolve_scope(env=_push_env(tmp_path, event), root=pushed)
    assert (scope.base, scope.head) == (_git(pushed, "rev-parse", "HEAD~1"), _git(pushed, "rev-parse", "HEAD"))
    assert scope.note and "last commit" in scope.note and "\n" not in scope.note
    assert diff_scope(pushed, scope).changed_paths == ("c.py",)


def test_github_push_of_a_root_commit_reviews_every_file(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"a.py": "a = 1\n", "b.py": "b = 2\n"})
    scope = resolve_scope(env=_push_env(tmp_path, {"before": "0" * 40, "after": _git(repo, "rev-parse", "HEAD")}),
                          root=repo)
    assert scope.note and "every file" in scope.note
    diff = diff_scope(repo, scope)
    assert diff.changed_paths == ("a.py", "b.py") and "+b = 2" in diff.text and diff.base_commit is None


def test_github_push_with_unreadable_event_file_still_reviews_the_last_commit(pushed: Path, tmp_path: Path) -> None:
    env = {**_push_env(tmp_path, {}), "GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}
    scope = resolve_scope(env=env, root=pushed)
    assert scope.head == _git(pushed, "rev-parse", "HEAD") and scope.note and "GITHUB_EVENT_PATH" in scope.note


def test_no_untracked_flag_reaches_the_worktree_scope() -> None:
    assert resolve_scope(env={}).untracked is True
    scope = resolve_scope(env={}, untracked=False)
    assert scope.untracked is False and "untracked files left out" in scope.describe()


def test_under_pre_commit_untracked_files_are_not_part_of_the_commit() -> None:
    scope = resolve_scope(env={"PRE_COMMIT": "1"})
    assert (scope.kind, scope.untracked) == (ScopeKind.WORKTREE, False)
