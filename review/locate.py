"""Resolve each finding's quoted code to real line numbers in the reviewed version of its file. Models are
off by a few lines often (and cite diff-hunk numbers), so the model's line is only a tie-breaker between
several places the quote matches. A finding whose quote is found nowhere is dropped and counted, never
printed with an invented line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from wholerepo.review.findings import Finding, ModelFinding, strip_controls


class DropReason(StrEnum):
    PATH_OUTSIDE_REPO = "path-outside-repository"
    FILE_NOT_FOUND = "file-not-in-reviewed-version"
    QUOTE_NOT_FOUND = "quote-not-found"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class DroppedFinding:
    path: str
    title: str
    reason: DropReason


@dataclass(frozen=True, slots=True)
class Located:
    findings: tuple[Finding, ...]
    dropped: tuple[DroppedFinding, ...]


def _norm(line: str) -> str:
    return " ".join(line.split())


def _quote_variants(quote: str) -> list[list[str]]:
    """The quote as given, and without a leading diff marker on every line (models copy from the diff)."""
    lines = [_norm(line) for line in quote.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        return []
    variants = [lines]
    raw = [line for line in quote.splitlines() if line.strip()]
    if raw and all(line[:1] in "+- " for line in raw):
        variants.append([_norm(line[1:]) for line in quote.splitlines() if line.strip()])
    return variants


def _matches(file_lines: Sequence[str], wanted: list[str]) -> list[tuple[int, int]]:
    """0-based inclusive (first, last) file lines where the quote's non-blank lines match the file's non-blank
    lines in order; blank lines on either side are ignored."""
    nonblank = [i for i, line in enumerate(file_lines) if line]
    span = len(wanted)
    places = []
    for j in range(len(nonblank) - span + 1):
        if all(file_lines[nonblank[j + k]] == wanted[k] for k in range(span)):
            places.append((nonblank[j], nonblank[j + span - 1]))
    return places


def _fragment_matches(file_lines: Sequence[str], fragment: str) -> list[tuple[int, int]]:
    # A one-line quote may be part of a line (an expression); 8 characters avoids matching "x = 1" everywhere.
    if len(fragment) < 8:
        return []
    return [(i, i) for i, line in enumerate(file_lines) if fragment in line]


def _safe_path(path: str) -> str | None:
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    return pure.as_posix()


def locate_findings(findings: Sequence[ModelFinding], read_text: Callable[[str], str | None]) -> Located:
    """`read_text(path)` returns the reviewed version of a repository file, or None when it has none."""
    located: list[Finding] = []
    dropped: list[DroppedFinding] = []
    cache: dict[str, list[str] | None] = {}
    seen: set[tuple[str, str, int, int, str]] = set()
    for finding in findings:
        path = _safe_path(finding.path)
        if path is None:
            dropped.append(DroppedFinding(finding.path, finding.title, DropReason.PATH_OUTSIDE_REPO))
            continue
        if path not in cache:
            text = read_text(path)
            cache[path] = None if text is None else text.splitlines()
        raw_lines = cache[path]
        if raw_lines is None:
            dropped.append(DroppedFinding(path, finding.title, DropReason.FILE_NOT_FOUND))
            continue
        place = _find(raw_lines, finding)
        if place is None:
            dropped.append(DroppedFinding(path, finding.title, DropReason.QUOTE_NOT_FOUND))
            continue
        start, end = place
        key = (finding.category.value, path, start, end, finding.title)
        if key in seen:
            dropped.append(DroppedFinding(path, finding.title, DropReason.DUPLICATE))
            continue
        seen.add(key)
        located.append(Finding(
            category=finding.category, severity=finding.severity, path=path, start_line=start, end_line=end,
            title=finding.title, message=finding.message, quote=strip_controls("\n".join(raw_lines[start - 1:end])),
            suggestion=finding.suggestion,
        ))
    return Located(findings=tuple(located), dropped=tuple(dropped))


def _find(raw_lines: list[str], finding: ModelFinding) -> tuple[int, int] | None:
    """1-based inclusive (start, end) of the quote, nearest the model's line when it occurs more than once."""
    file_lines = [_norm(line) for line in raw_lines]
    hint = finding.line - 1
    for variant in _quote_variants(finding.quote):
        wanted = [q for q in variant if q]
        places = _matches(file_lines, wanted)
        if not places and len(wanted) == 1:
            places = _fragment_matches(file_lines, wanted[0])
        if places:
            first, last = min(places, key=lambda p: (abs(p[0] - hint), p[0]))
            return first + 1, last + 1
    return None
