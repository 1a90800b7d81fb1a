"""Order the question-independent part of a pack for the server's prefix cache.

vLLM reuses the KV cache of the longest prefix a new prompt shares with an earlier one, in whole blocks.
A 1M-token prefill costs minutes, a cached prefix almost nothing, so the pack puts first what is least
likely to differ next time: files that changed least often in recent history, and among those the ones
changed longest ago. A commit that edits a file invalidates the cache from that file on; with recently
edited files last, the usual commit (which touches files that were edited recently) costs only the tail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wholerepo.ingest.history import Churn


def churn_bucket(num_changes: int) -> int:
    """0, 1, 2-3, 4-7, ...: a file moves only when its change count doubles, so the history window
    sliding by one commit (one count more or less) rarely reorders files that did not change."""
    return max(num_changes, 0).bit_length()


def order_files(paths: Sequence[str], churn: Mapping[str, Churn] | None) -> list[str]:
    """Least churn first, most recently changed last, then by path so equal files keep a fixed order.
    A path missing from `churn` (untracked, or unchanged in the window) counts as never changed."""
    churn = churn or {}

    def key(path: str) -> tuple[int, int, str]:
        record = churn.get(path)
        if record is None:
            return (0, 0, path)
        return (churn_bucket(record.num_changes), int(record.last_changed_unix or 0), path)

    return sorted(paths, key=key)
