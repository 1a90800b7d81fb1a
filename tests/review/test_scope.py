"""Contract: flags pick the scope, and with no flag the CI's variables do; conflicting flags are usage
errors (exit 2)."""

from __future__ import annotations

import pytest

from wholerepo.errors import UsageError
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
