"""Which paths a change touches, for change-aware packing and review.

- default: the work tree (staged and unstaged edits) plus untracked-not-ignored files, against HEAD;
- staged=True: the index against HEAD (what `git commit` would record; untracked files are not in it);
- base=REF: the work tree plus untracked files against merge-base(REF, HEAD), i.e. everything the
  branch and the uncommitted work add on top of where they left REF.
Renames count under their new path; deletions are not "changed paths" (nothing is left to pack), and
list_changes returns them apart. In a repository without commits, everything is new.
Paths are relative to `root` (a subfolder gives only its own changes), like discover_files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wholerepo.errors import UsageError
from wholerepo.ingest.git_run import decode_path, run_git, split_z

_RENAME_OR_COPY = (b"R", b"C")


@dataclass(frozen=True, slots=True)
class Changes:
    changed: list[str]  # added, modified, renamed (new path), copied, type-changed, untracked
    deleted: list[str]


def changed_paths(root: Path, *, base: str | None = None, staged: bool = False) -> list[str]:
    """Sorted paths added or modified by the change (see the module docstring for which change)."""
    return list_changes(root, base=base, staged=staged).changed


def list_changes(root: Path, *, base: str | None = None, staged: bool = False) -> Changes:
    """Changed and deleted paths of the change, each sorted."""
    root = Path(root).expanduser().resolve()
    if base is not None and staged:
        raise UsageError("pass either a base ref or staged, not both")
    start = _merge_base(root, base) if base is not None else _head_or_empty_tree(root)
    args = ["diff", "--name-status", "-z", "-M", "--relative", "--no-ext-diff"]
    if staged:
        args.append("--cached")
    changed, deleted = _parse_name_status(run_git(root, *args, start, "--"))
    if not staged:
        changed.update(
            decode_path(raw)
            for raw in split_z(run_git(root, "ls-files", "-z", "--others", "--exclude-standard"))
        )
    return Changes(changed=sorted(changed), deleted=sorted(deleted - changed))


def _parse_name_status(output: bytes) -> tuple[set[str], set[str]]:
    """`--name-status -z` records: STATUS\\0PATH\\0, or STATUS\\0OLD\\0NEW\\0 for renames and copies."""
    fields = split_z(output)
    changed: set[str] = set()
    deleted: set[str] = set()
    index = 0
    while index < len(fields):
        status = fields[index]
        if status[:1] in _RENAME_OR_COPY:
            old, new = decode_path(fields[index + 1]), decode_path(fields[index + 2])
            changed.add(new)
            if status[:1] == b"R":
                deleted.add(old)
            index += 3
            continue
        path = decode_path(fields[index + 1])
        (deleted if status[:1] == b"D" else changed).add(path)
        index += 2
    return changed, deleted


def _head_or_empty_tree(root: Path) -> str:
    head = run_git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).strip()
    if head:
        return head.decode()
    # No commit yet: compare with the empty tree, whose id depends on the repository's hash function.
    return run_git(root, "hash-object", "-t", "tree", "--stdin", input_bytes=b"").strip().decode()


def _merge_base(root: Path, base: str) -> str:
    if not run_git(root, "rev-parse", "-q", "--verify", f"{base}^{{commit}}", check=False).strip():
        raise UsageError(f"unknown git revision {base!r}; pass a branch, tag or commit that exists here")
    found = run_git(root, "merge-base", base, "HEAD", check=False).strip()
    if not found:
        raise UsageError(
            f"{base!r} and HEAD share no history; fetch more history in a shallow clone (git fetch --deepen) or pass another base"
        )
    return found.decode()
