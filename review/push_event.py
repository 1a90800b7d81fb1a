"""The commits a GitHub `push` event pushed: the event file's `before`..`after`. A clean CI checkout has no
work-tree change, so without this a push would review nothing. A new branch has an all-zero `before`, and a
shallow clone may lack it; then the last commit (HEAD~1..HEAD) is reviewed, or, with no parent in the clone,
every file of HEAD, and a one-line note says which."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wholerepo.review.diff import EMPTY_TREE

_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")  # SHA-1 or SHA-256 object names, nothing git could read as an option


@dataclass(frozen=True, slots=True)
class PushRange:
    base: str  # a commit id, or EMPTY_TREE when HEAD has no parent in the clone
    head: str
    note: str | None  # set when `before` could not be used, saying what is reviewed instead


def _commit(root: Path, ref: str) -> str | None:
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=root,
                          capture_output=True, check=False)
    return done.stdout.decode().strip() or None


def _read_event(event_path: str) -> tuple[dict[str, object], str | None]:
    """The event payload, or {} and why it could not be read."""
    if not event_path:
        return {}, "GITHUB_EVENT_PATH is not set"
    try:
        payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {}, f"cannot read GITHUB_EVENT_PATH {event_path} ({error.__class__.__name__})"
    return (payload, None) if isinstance(payload, dict) else ({}, "GITHUB_EVENT_PATH does not hold a JSON object")


def _sha(payload: dict[str, object], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and _SHA.fullmatch(value) else None


def resolve_push(root: Path, event_path: str) -> PushRange:
    """before..after from the event when both are in the clone; otherwise HEAD~1..HEAD, else the empty tree."""
    payload, unreadable = _read_event(event_path)
    after = _sha(payload, "after")
    head = (_commit(root, after) if after else None) or _commit(root, "HEAD") or "HEAD"
    before = _sha(payload, "before")
    if before and set(before) != {"0"} and (base := _commit(root, before)):
        return PushRange(base=base, head=head, note=None)
    if unreadable:
        why = unreadable
    elif before is None:
        why = "the push event has no commit id in `before`"
    elif set(before) == {"0"}:
        why = "the push created a branch (`before` is all zeros)"
    else:
        why = f"`before` {before[:12]} is not in this clone (fetch-depth: 0 fetches it)"
    parent = _commit(root, f"{head}~1")
    if parent:
        return PushRange(base=parent, head=head, note=f"GitHub push: {why}; reviewing the last commit only "
                                                       f"({parent[:12]}..{head[:12]})")
    return PushRange(base=EMPTY_TREE, head=head, note=f"GitHub push: {why}, and {head[:12]} has no parent in this "
                                                      f"clone; reviewing every file of {head[:12]}")
