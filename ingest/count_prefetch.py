"""Counting file contents on a second thread while the main one parses signatures (costs.CostModel.prefetch).

tiktoken releases the GIL while it encodes and tree-sitter does not, so on a cold pack the counting of the
files a plan will likely hold in full takes the core the parsing leaves idle. When the main thread needs
the counts before the thread is done (it parsed less than the thread had to count: ruff's cold pack
waited up to ~0.3 s), it counts the batches still waiting itself, so both cores count. Results only fill the
count cache: plans start from estimates either way, so what was prefetched never changes a decision.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Sequence

CountInPieces = Callable[[Sequence[str]], tuple[list[int], dict[str, int]]]  # texts -> (counts, middles)
Todo = tuple[str, int, Callable[[], str]]  # (key, length of the text, its loader)


class CountPrefetch:
    """One thread counting (key, length, text loader) triples in batches small enough for tiktoken to run
    each on the calling thread alone. take() counts the batches nobody has started, then waits for the
    rest: a file left half-way would be counted by the next (warm) pack, which would then load the
    tokenizer."""

    BATCH_CHARS = 128 * 1024  # below tokenizer_tiktoken.MIN_THREADED_CHARS: one thread per batch

    def __init__(self, count: CountInPieces, todo: Sequence[Todo]) -> None:
        self._count = count
        self._batches = _batches(todo, self.BATCH_CHARS)
        self._next = 0  # index of the first batch nobody has taken
        self._lock = threading.Lock()
        self._needed: set[str] | None = None  # once take() knows which keys the plan wants: only those
        self._counts: dict[str, int] = {}
        self._middles: dict[str, int] = {}
        self._thread = threading.Thread(target=self._work, name="wholerepo-count-prefetch", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if self._next >= len(self._batches):
                    return
                batch = self._batches[self._next]
                self._next += 1
                if self._needed is not None:
                    batch = [item for item in batch if item[0] in self._needed]
            if not batch:
                continue
            with contextlib.suppress(Exception):  # whatever fails here, make_exact counts (and raises) itself
                counts, middles = self._count([load() for _, _, load in batch])
                with self._lock:
                    self._counts.update(zip((key for key, _, _ in batch), counts, strict=True))
                    self._middles.update(middles)

    def take(self, needed: Collection[str] | None = None) -> tuple[dict[str, int], dict[str, int]]:
        """(key -> count, middle text -> count), once every batch is counted (by this thread too).
        `needed`: the keys the plan asks for now; files of batches nobody has started that are not among
        them are not counted (the prefetch is a guess: a quarter of the text prefetched for ruff's cold
        1M pack ends up not packed in full; a file a later round takes is counted then)."""
        if needed is not None:
            with self._lock:
                self._needed = set(needed)
        self._work()
        self._thread.join()
        return self._counts, self._middles


def _batches(todo: Sequence[Todo], max_chars: int) -> list[list[Todo]]:
    """`todo` in order, cut into runs of about `max_chars` (a run ends with the item that reaches it)."""
    batches: list[list[Todo]] = []
    batch: list[Todo] = []
    size = 0
    for item in todo:
        batch.append(item)
        size += item[1]
        if size >= max_chars:
            batches.append(batch)
            batch, size = [], 0
    if batch:
        batches.append(batch)
    return batches
