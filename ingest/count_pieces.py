"""Counting the final pack without counting its files a second time.

The planner counts every file it packs in full, exactly; the final text is counted again, whole, because
tokens are not additive in general. They are additive across a *line-start cut*: a position right after
a newline, at a character that is neither whitespace nor "/". In the V4, o200k and cl100k pre-tokenizers
a newline is matched only by whitespace runs (which stop before such a character) or as the tail of a
punctuation run (`[\r\n]*`; o200k's `[\r\n/]*` would take a "/" along, hence the exception), no
alternative looks behind, and no added token holds a newline; so pre-tokenization, and BPE inside its
pieces, never crosses the cut and the counts of the pieces add up to the count of the whole. (The
letter case is tokenizer_tiktoken.split_at_line_starts's, which count() relies on for long texts;
tests/ingest/test_count_pieces.py checks the rest on real files and on random strings of the
characters that matter, for all three tokenizers, and that "/" and whitespace do break it.)

So a file's text is counted as head + middle + tail, the middle running from its first line-start cut to
its last, and the middle's count is cached under the key of its own text. The final pack is then cut at
those same places wherever a middle sits in it verbatim between two line-start cuts (checked on the
final text itself), the middles' counts are looked up, and only what lies between them (frames, tree
edges, signatures, the first and last lines of each file) is counted: ~10% of a 1M-token pack instead
of all of it (0.35 s of the cold pack of ruff). Exactness does not depend on finding the middles: a
middle not found (escaped in a CDATA section, say) is counted as part of a gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

MIN_MIDDLE_CHARS = 2048  # shorter middles are not worth a cache entry: the final count takes them along
_FIRST_CUT = re.compile(r"\n[^\s/]")
_LAST_CUT = re.compile(r".*\n[^\s/]", re.DOTALL)  # greedy: backtracks from the end to the last cut


def middle_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the text between its first and last line-start cuts, None when that is short."""
    if len(text) < MIN_MIDDLE_CHARS:
        return None
    first = _FIRST_CUT.search(text)
    if first is None:
        return None
    last = _LAST_CUT.match(text, first.end())
    if last is None:
        return None
    start, end = first.start() + 1, last.end() - 1
    return (start, end) if end - start >= MIN_MIDDLE_CHARS else None


def is_cut(text: str, at: int) -> bool:
    """Whether `at` is a line-start cut of `text`."""
    return 0 < at < len(text) and text[at - 1] == "\n" and not text[at].isspace() and text[at] != "/"


def split_for_counting(texts: Sequence[str]) -> tuple[list[str], list[int], dict[str, int]]:
    """(pieces, owner of each piece, middle text -> index of its piece) for counting `texts` in pieces."""
    pieces: list[str] = []
    owners: list[int] = []
    middles: dict[str, int] = {}
    for owner, text in enumerate(texts):
        span = middle_span(text)
        if span is None:
            parts = [text]
        else:
            start, end = span
            middles[text[start:end]] = len(pieces) + 1
            parts = [text[:start], text[start:end], text[end:]]
        pieces.extend(parts)
        owners.extend([owner] * len(parts))
    return pieces, owners, middles


def count_with_known_middles(
    text: str,
    known: Sequence[tuple[str, int]],
    count_many: Callable[[Sequence[str]], list[int]],
) -> int:
    """Exact count of `text`, given (middle, count) pairs in the order the middles appear in it: each
    middle found in place, with a line-start cut at both ends, is taken as counted; the gaps are counted."""
    gaps: list[str] = []
    total = 0
    at = 0
    for middle, count in known:
        found = text.find(middle, at, at + 2 * len(middle) + 65_536)  # a few lines of frame and head away
        if found < 0 or not is_cut(text, found) or not is_cut(text, found + len(middle)):
            continue
        gaps.append(text[at:found])
        total += count
        at = found + len(middle)
    gaps.append(text[at:])
    return total + sum(count_many([gap for gap in gaps if gap]))


def middles_of(texts: Sequence[str]) -> list[str]:
    """The middles of `texts` that have one, in order."""
    found: list[str] = []
    for text in texts:
        span = middle_span(text)
        if span is not None:
            found.append(text[span[0] : span[1]])
    return found


def known_in_order(middles: Sequence[str], counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return [(m, counts[m]) for m in middles if m in counts]
