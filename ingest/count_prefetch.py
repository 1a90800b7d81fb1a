"""Counting file contents on a second thread while the main one parses signatures (costs.CostModel.prefetch).

tiktoken releases the GIL while it encodes and tree-sitter does not, so on a cold pack the counting of the
files a plan will likely hold in full takes the core the parsing leaves idle. Results only fill the count
cache: plans start from estimates either way, so what was prefetched never changes a decision.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence

CountInPieces = Callable[[Sequence[str]], tuple[list[int], dict[str, int]]]  # texts -> (counts, middles)


class CountPrefetch:
    """One thread counting (key, text loader) pairs in batches small enough for tiktoken to run each on this
    thread alone. take() waits for all of it: a file left half-way would be counted by the next (warm)
    pack, which would then load the tokenizer."""

    BATCH_CHARS = 128 * 1024  # below tokenizer_tiktoken.MIN_THREADED_CHARS: one thread per batch

    def __init__(self, count: CountInPieces, todo: Sequence[tuple[str, Callable[[], str]]]) -> None:
        self._count = count
        self._todo = todo
        self._counts: dict[str, int] = {}
        self._middles: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="wholerepo-count-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # whatever fails here, make_exact counts (and raises) itself
            keys: list[str] = []
            texts: list[str] = []
            size = 0
            for index, (key, load) in enumerate(self._todo):
                keys.append(key)
                texts.append(load())
                size += len(texts[-1])
                if size >= self.BATCH_CHARS or index == len(self._todo) - 1:
                    counts, middles = self._count(texts)
                    self._counts.update(zip(keys, counts, strict=True))
                    self._middles.update(middles)
                    keys, texts, size = [], [], 0

    def take(self) -> tuple[dict[str, int], dict[str, int]]:
        """(key -> count, middle text -> count), once the thread is done."""
        self._thread.join()
        return self._counts, self._middles
