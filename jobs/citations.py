"""Find `path:line` citations in an answer and check them against the pack.

A citation is valid when its path was packed (exactly, or as the unique packed path ending in what the
model wrote) and its line exists in that file. Anything else is flagged, never silently dropped: a small
model invents paths, and a reader must be able to tell which references to trust.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# path:line or path:line-line; the path needs a dot or a slash so that "note:3" or "12:30" do not count.
CITATION = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)+|(?:[\w.-]+/)+[\w.-]+):(\d+)(?:-(\d+))?")


@dataclass(frozen=True, slots=True)
class Citation:
    text: str  # as written in the answer
    path: str  # resolved packed path, or as written when unknown
    line: int
    end_line: int | None
    valid: bool
    problem: str | None  # why it is not valid


def _resolve(path: str, packed: Mapping[str, int]) -> str | None:
    if path in packed:
        return path
    stripped = path.removeprefix("./")
    if stripped in packed:
        return stripped
    matches = [candidate for candidate in packed if candidate.endswith("/" + stripped)]
    return matches[0] if len(matches) == 1 else None


def check_citations(answer: str, packed_line_counts: Mapping[str, int]) -> tuple[Citation, ...]:
    """Every distinct citation in order of first appearance, checked against {packed path: number of lines}."""
    seen: set[str] = set()
    found: list[Citation] = []
    for match in CITATION.finditer(answer):
        text = match.group(0)
        if text in seen:
            continue
        seen.add(text)
        path, line = match.group(1), int(match.group(2))
        end = int(match.group(3)) if match.group(3) else None
        resolved = _resolve(path, packed_line_counts)
        if resolved is None:
            found.append(Citation(text, path, line, end, False, "path not in the pack"))
            continue
        num_lines = packed_line_counts[resolved]
        last = end if end is not None else line
        if line < 1 or last > num_lines or last < line:
            found.append(Citation(text, resolved, line, end, False, f"line out of range (file has {num_lines} lines)"))
        else:
            found.append(Citation(text, resolved, line, end, True, None))
    return tuple(found)


def count_lines(texts: Iterable[tuple[str, str]]) -> dict[str, int]:
    """{path: number of lines} from (path, text) pairs."""
    return {path: len(text.splitlines()) for path, text in texts}
