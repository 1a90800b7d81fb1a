"""What a review looks at: the working tree against HEAD (default), the index (--staged, for pre-commit), a
branch against its merge base with REF (--base, for pull requests) or a commit range (--range A..B, for
pre-push). With no flag, the CI's own variables pick the pull/merge request's base, a GitHub push event its
before..after range, and pre-commit's pre-push variables pick the pushed range. The work-tree scope includes
untracked files that .gitignore does not exclude: a brand-new file is part of the change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from wholerepo.errors import UsageError

_TRUE = {"1", "true", "yes", "on"}


class ScopeKind(StrEnum):
    WORKTREE = "worktree"  # work tree vs HEAD
    STAGED = "staged"  # index vs HEAD
    BASE = "base"  # work tree vs merge-base(REF, HEAD)
    RANGE = "range"  # commit A (or merge-base for A...B) vs commit B


@dataclass(frozen=True, slots=True)
class ReviewScope:
    kind: ScopeKind
    base: str | None = None  # REF for BASE, A for RANGE
    head: str | None = None  # B for RANGE
    symmetric: bool = False  # A...B: diff from the merge base, as git does
    source: str = "default"  # which flag or CI variable chose this scope, for the report
    untracked: bool = True  # WORKTREE only: untracked, not ignored files count as added
    note: str | None = None  # one stderr line when the scope is a fallback (a push whose `before` is unknown)

    def describe(self) -> str:
        if self.kind is ScopeKind.WORKTREE:
            return "working tree vs HEAD" + ("" if self.untracked else " (untracked files left out)")
        if self.kind is ScopeKind.STAGED:
            return "staged changes (index vs HEAD)"
        if self.kind is ScopeKind.BASE:
            return f"working tree vs merge-base with {self.base}"
        return f"{self.base}{'...' if self.symmetric else '..'}{self.head}"


def is_ci(env: Mapping[str, str]) -> bool:
    """GitHub Actions, GitLab CI and most others set CI=true."""
    return env.get("CI", "").strip().lower() in _TRUE


def resolve_scope(
    *, staged: bool = False, base: str | None = None, range_spec: str | None = None, env: Mapping[str, str],
    untracked: bool = True, root: Path | None = None,
) -> ReviewScope:
    """Flags win; with none, the CI's variables; with neither, the working tree. `root` is the repository a
    GitHub push event's commits are looked up in (default: the current folder)."""
    chosen = [name for name, on in (("--staged", staged), ("--base", bool(base)), ("--range", bool(range_spec))) if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} cannot be combined: pick one scope")
    if staged:
        return ReviewScope(ScopeKind.STAGED, source="--staged")
    if base:
        return ReviewScope(ScopeKind.BASE, base=_checked_ref(base, "--base"), source="--base")
    if range_spec:
        return _parse_range(range_spec, source="--range")
    # pre-commit (which sets PRE_COMMIT=1) stashes unstaged edits so the work tree is what gets committed, but
    # leaves untracked files in place: they are not part of that commit, so they stay out of its review.
    in_pre_commit = env.get("PRE_COMMIT") == "1"
    return _scope_from_env(env, root or Path.cwd()) or ReviewScope(
        ScopeKind.WORKTREE, untracked=untracked and not in_pre_commit,
        source="pre-commit (untracked files left out)" if in_pre_commit else "default")


def _checked_ref(ref: str, flag: str) -> str:
    # A ref that starts with "-" would be read by git as an option.
    if not ref or ref.startswith("-") or any(c.isspace() for c in ref):
        raise UsageError(f"{flag} {ref!r} is not a git revision: give a branch, tag or commit")
    return ref


def _parse_range(spec: str, *, source: str) -> ReviewScope:
    symmetric = "..." in spec
    left, sep, right = spec.partition("..." if symmetric else "..")
    if not sep or not left or not right:
        raise UsageError(f"--range {spec!r} must look like A..B or A...B")
    return ReviewScope(
        ScopeKind.RANGE,
        base=_checked_ref(left, "--range"),
        head=_checked_ref(right, "--range"),
        symmetric=symmetric,
        source=source,
    )


def _scope_from_env(env: Mapping[str, str], root: Path) -> ReviewScope | None:
    github = env.get("GITHUB_ACTIONS", "").lower() == "true"
    # GitHub Actions: GITHUB_BASE_REF is set only for pull_request events (the target branch name).
    if github and env.get("GITHUB_BASE_REF"):
        ref = f"origin/{env['GITHUB_BASE_REF']}"
        return ReviewScope(ScopeKind.BASE, base=_checked_ref(ref, "GITHUB_BASE_REF"), source="GitHub Actions pull request")
    # A push: a clean checkout has no work-tree change, so review the pushed commits (the event's before..after).
    if github and env.get("GITHUB_EVENT_NAME") == "push":
        from wholerepo.review.push_event import resolve_push  # runs git; only a push event needs it

        pushed = resolve_push(root, env.get("GITHUB_EVENT_PATH", ""))
        return ReviewScope(ScopeKind.RANGE, base=pushed.base, head=pushed.head, source="GitHub Actions push",
                           note=pushed.note)
    # GitLab merge request pipelines: the diff base SHA is what the MR's "Changes" tab shows.
    if env.get("GITLAB_CI", "").lower() == "true":
        if env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA"):
            sha = _checked_ref(env["CI_MERGE_REQUEST_DIFF_BASE_SHA"], "CI_MERGE_REQUEST_DIFF_BASE_SHA")
            return ReviewScope(ScopeKind.BASE, base=sha, source="GitLab merge request")
        if env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"):
            ref = f"origin/{env['CI_MERGE_REQUEST_TARGET_BRANCH_NAME']}"
            return ReviewScope(ScopeKind.BASE, base=_checked_ref(ref, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
                               source="GitLab merge request")
    # pre-commit's pre-push stage: exactly the commits being pushed. A new branch has an all-zero FROM_REF.
    from_ref, to_ref = env.get("PRE_COMMIT_FROM_REF", ""), env.get("PRE_COMMIT_TO_REF", "")
    if from_ref and to_ref and set(from_ref) != {"0"}:
        return ReviewScope(ScopeKind.RANGE, base=_checked_ref(from_ref, "PRE_COMMIT_FROM_REF"),
                           head=_checked_ref(to_ref, "PRE_COMMIT_TO_REF"), source="pre-commit pre-push")
    return None
