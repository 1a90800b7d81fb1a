"""How often and how lately each file changed, from one `git log` over recent history.

The selection stage orders the question-independent part of a pack by it (least changed first) so that
the server's prefix cache survives the next commit; see order.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wholerepo.errors import WholerepoError
from wholerepo.ingest.git_run import start_git

MAX_COMMITS = 500  # ~0.1 s of git log on ruff (16k commits); older history says little about what
# changes next, and the bucketed order (order.py) only needs counts to within a factor of two
COMMIT_MARK = "\x1ecommit "  # record separator: cannot appear in a path git prints with -z


@dataclass(frozen=True, slots=True)
class Churn:
    num_changes: int  # commits among the last MAX_COMMITS that touched the file
    last_changed_unix: int  # committer time of the newest of them


def file_churn(root: Path | str, paths: Iterable[str], *, max_commits: int = MAX_COMMITS) -> dict[str, Churn]:
    """Churn for each of `paths` that changed in the last `max_commits` commits of HEAD. Files that did
    not change there are absent (callers treat them as never changed). An empty repository, a shallow
    clone or a folder git does not know gives what history there is, possibly nothing: never an error."""
    wanted = set(paths)
    if not wanted:
        return {}
    try:
        # start_git: git's output goes to a temporary file, so no thread drains a pipe (and takes the GIL
        # from the read this overlaps) while it runs
        log = start_git(
            Path(root), "log", f"--max-count={max_commits}", "--no-merges", "--no-renames", "--name-only",
            "-z", f"--format={COMMIT_MARK}%ct", "HEAD", "--",
        )()  # fmt: skip
    except (OSError, WholerepoError):  # no git, no commits yet, not a repository: no history to speak of
        return {}
    return _parse(log.decode("utf-8", errors="surrogateescape"), wanted)


def _parse(log: str, wanted: set[str]) -> dict[str, Churn]:
    counts: dict[str, int] = {}
    newest: dict[str, int] = {}
    for record in log.split(COMMIT_MARK)[1:]:
        stamp, *names = record.split("\0")  # "%ct\0" then "\n" then NUL-terminated names
        when = int(stamp.strip() or 0)
        if names:
            names[0] = names[0].removeprefix("\n")
        for name in names:
            if name in wanted:
                counts[name] = counts.get(name, 0) + 1
                if when > newest.get(name, 0):
                    newest[name] = when
    return {p: Churn(n, newest[p]) for p, n in counts.items()}
