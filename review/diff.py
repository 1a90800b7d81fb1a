"""The unified diff of a review scope, and each changed file's text in the reviewed version (the version
whose line numbers the findings carry). Paths come from the same `git diff` call as the text, so the list of
changed files and the diff shown to the model never disagree."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from wholerepo.errors import NotAGitRepositoryError, UsageError
from wholerepo.review.scope import ReviewScope, ScopeKind

# Ten lines around each hunk: enough to read the enclosing statement (PR-Agent uses 3 + 5 before / 1 after);
# the changed files are also packed whole, so the diff only needs to show where the change sits.
DEFAULT_CONTEXT_LINES = 10
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree, for repos with no commit
# Each untracked file costs one `git diff --no-index` (~3 ms); past 500 the tree is more likely an unignored
# build or venv folder than a change, and would not fit a model's context anyway.
MAX_UNTRACKED = 500
_GIT = ("git", "-c", "core.quotepath=off", "-c", "diff.noprefix=false", "-c", "color.ui=never")


@dataclass(frozen=True, slots=True)
class ScopeDiff:
    text: str
    changed_paths: tuple[str, ...]  # files that exist in the reviewed version (added, modified, renamed to)
    deleted_paths: tuple[str, ...]
    base_commit: str | None  # what the diff starts from (resolved commit id), None for the empty tree
    head_commit: str | None  # the reviewed commit for RANGE; None when the work tree or index is reviewed


def _git(root: Path, *args: str) -> str:
    done = subprocess.run([*_GIT, *args], cwd=root, capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git {args[0]} failed in {root}: {message[-1] if message else 'no message'}")
    return done.stdout.decode("utf-8", errors="surrogateescape")


def _rev(root: Path, ref: str) -> str | None:
    done = subprocess.run([*_GIT, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root,
                          capture_output=True, check=False)
    return done.stdout.decode().strip() or None


def _endpoints(root: Path, scope: ReviewScope) -> tuple[list[str], str | None, str | None]:
    """git diff arguments for the scope, plus the resolved base and head commits."""
    head = _rev(root, "HEAD")
    if scope.kind is ScopeKind.WORKTREE:
        return [head or EMPTY_TREE], head, None
    if scope.kind is ScopeKind.STAGED:
        return ["--cached", head or EMPTY_TREE], head, None
    # A push whose first commit has no parent in the clone is reviewed whole, from git's empty tree.
    base = EMPTY_TREE if scope.kind is ScopeKind.RANGE and scope.base == EMPTY_TREE else _rev(root, scope.base or "")
    if base is None:
        raise UsageError(f"cannot resolve {scope.base!r} to a commit: fetch it first (in CI: fetch-depth: 0)")
    if scope.kind is ScopeKind.BASE:
        merge_base = _git(root, "merge-base", base, head or base).strip() if head else base
        return [merge_base], merge_base, None
    end = _rev(root, scope.head or "")
    if end is None:
        raise UsageError(f"cannot resolve {scope.head!r} to a commit")
    start = _git(root, "merge-base", base, end).strip() if scope.symmetric else base
    return [start, end], start, end


def diff_scope(root: Path, scope: ReviewScope, *, context_lines: int = DEFAULT_CONTEXT_LINES) -> ScopeDiff:
    """Run git diff for the scope: the text for the prompt and the changed paths for the packer."""
    if not _is_work_tree(root):
        raise NotAGitRepositoryError(f"{root} is not inside a git work tree: review needs git to find changes")
    endpoints, base_commit, head_commit = _endpoints(root, scope)
    common = ["--no-ext-diff", "--no-textconv", "--find-renames", "--no-color", "--src-prefix=a/", "--dst-prefix=b/"]
    text = _git(root, "diff", *common, f"--unified={context_lines}", *endpoints, "--")
    status = _git(root, "diff", *common, "--name-status", "-z", *endpoints, "--")
    changed, deleted = _parse_name_status(status)
    if scope.kind is ScopeKind.WORKTREE and scope.untracked:
        added = [path for path in _untracked(root) if path not in changed]
        if len(added) > MAX_UNTRACKED:
            raise UsageError(f"{len(added)} untracked files (more than {MAX_UNTRACKED}): add the generated ones to "
                             ".gitignore, or pass --no-untracked to review tracked changes only")
        text += "".join(_added_file_diff(root, path) for path in added)
        changed += added
    return ScopeDiff(text=text, changed_paths=tuple(changed), deleted_paths=tuple(deleted),
                     base_commit=base_commit if base_commit != EMPTY_TREE else None, head_commit=head_commit)


def _untracked(root: Path) -> list[str]:
    """Untracked files that .gitignore, .git/info/exclude and core.excludesFile do not exclude; a nested
    repository shows up as `dir/` and is not a file of this one."""
    raw = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    return sorted(path for path in raw.split("\0") if path and not path.endswith("/"))


def _added_file_diff(root: Path, path: str) -> str:
    """The whole file as an added file, in git's own format (binary files say so in one line)."""
    done = subprocess.run([*_GIT, "diff", "--no-index", "--no-ext-diff", "--no-textconv", "--no-color",
                           "--src-prefix=a/", "--dst-prefix=b/", "--", "/dev/null", path],
                          cwd=root, capture_output=True, check=False)
    if done.returncode not in (0, 1):  # --no-index exits 1 when the files differ, which they always do here
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git diff failed on untracked {path}: {message[-1] if message else 'no message'}; "
                         "pass --no-untracked to leave untracked files out")
    return done.stdout.decode("utf-8", errors="surrogateescape")


def find_repo_root(path: Path) -> Path:
    """The top of the git work tree holding `path`; a review always covers the whole repository."""
    where = path if path.is_dir() else path.parent
    if not where.exists():
        raise UsageError(f"{path} does not exist; pass a folder inside a git repository")
    done = subprocess.run([*_GIT, "rev-parse", "--show-toplevel"], cwd=where, capture_output=True, check=False)
    if done.returncode != 0:
        raise NotAGitRepositoryError(f"{path} is not inside a git work tree: review needs git to find changes")
    return Path(done.stdout.decode("utf-8", errors="surrogateescape").strip())


def _is_work_tree(root: Path) -> bool:
    done = subprocess.run([*_GIT, "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, check=False)
    return done.stdout.strip() == b"true"


def _parse_name_status(raw: str) -> tuple[list[str], list[str]]:
    """-z output: STATUS\\0path\\0 or, for renames and copies, STATUS\\0old\\0new\\0."""
    fields = raw.split("\0")
    changed: list[str] = []
    deleted: list[str] = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        if status[0] in "RC":
            changed.append(fields[i + 2])
            i += 3
            continue
        (deleted if status[0] == "D" else changed).append(fields[i + 1])
        i += 2
    return changed, deleted


def read_reviewed(root: Path, scope: ReviewScope, diff: ScopeDiff, path: str) -> str | None:
    """The text of `path` in the reviewed version: the work tree, the index (--staged) or commit B (--range).
    None when the file is absent there or unreadable."""
    if scope.kind is ScopeKind.STAGED:
        spec = f":{path}"
    elif scope.kind is ScopeKind.RANGE:
        spec = f"{diff.head_commit}:{path}"
    else:
        target = (root / path).resolve()
        # A symlink in the repository may point anywhere; only files inside the work tree are reviewed.
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            return None
        try:
            return target.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return None
    done = subprocess.run([*_GIT, "show", spec], cwd=root, capture_output=True, check=False)
    return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else None
