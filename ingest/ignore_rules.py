"""Extra path rules on top of git's view: `.wholerepoignore` files, `--exclude` and `--include`.

All three use gitignore syntax (pathspec's gitwildmatch), so `*.md` matches at any depth, `docs/`
matches a folder and everything in it, `/top.txt` only at the root, and `!keep.md` re-includes. A nested
`.wholerepoignore` applies to paths below its folder, matched relative to that folder (like a nested
.gitignore); a negation in a nested file cannot re-include what a shallower file excluded.
`--include` narrows: a file matching no include is skipped NOT_INCLUDED. It never overrides the
lock/vendored/generated/binary rules; the keep_* options do that.

pathspec is imported only when there is a rule to compile (~10 ms of start-up most packs skip).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wholerepo.ingest.types import SkippedFile, SkipReason

if TYPE_CHECKING:
    import pathspec

IGNORE_FILE_NAME = ".wholerepoignore"


@dataclass(frozen=True, slots=True)
class _RuleFile:
    base: str  # folder prefix ending in "/", "" for the root
    source: str  # where the rules came from, for the skip detail
    spec: pathspec.GitIgnoreSpec


@dataclass(frozen=True, slots=True)
class PathRules:
    """Compiled rules; `check(path)` says whether a path is ruled out and by which pattern."""

    ignore_files: tuple[_RuleFile, ...]
    excludes: pathspec.GitIgnoreSpec | None
    includes: pathspec.GitIgnoreSpec | None
    fingerprint: str = ""  # digest of every rule's text, where it came from: read_memo.py's key

    def check(self, path: str) -> SkippedFile | None:
        for rules in self.ignore_files:
            if rules.base and not path.startswith(rules.base):
                continue
            pattern = _matching_pattern(rules.spec, path[len(rules.base) :])
            if pattern is not None:
                return SkippedFile(path, SkipReason.IGNORED, f"{rules.source}: {pattern}")
        if self.excludes is not None:
            pattern = _matching_pattern(self.excludes, path)
            if pattern is not None:
                return SkippedFile(path, SkipReason.IGNORED, f"--exclude {pattern}")
        if self.includes is not None and _matching_pattern(self.includes, path) is None:
            return SkippedFile(path, SkipReason.NOT_INCLUDED, "matches no --include pattern")
        return None


def load_ignore_rules(
    root: Path, paths: Iterable[str], *, includes: Sequence[str] = (), excludes: Sequence[str] = ()
) -> PathRules:
    """Compile the rules for a tree: the root `.wholerepoignore` (read from disk, tracked or not), any
    nested ones among `paths`, and the command-line globs."""
    rule_files: list[_RuleFile] = []
    digest = hashlib.sha256(repr((tuple(includes), tuple(excludes))).encode("utf-8", "surrogateescape"))
    nested = sorted(p for p in paths if p.endswith("/" + IGNORE_FILE_NAME))
    for rel in [IGNORE_FILE_NAME, *nested]:
        lines = _read_lines(root / rel)
        if lines is None:
            continue
        digest.update(repr((rel, lines)).encode("utf-8", "surrogateescape"))
        spec = _compile(lines)
        if spec.patterns:
            rule_files.append(_RuleFile(rel[: -len(IGNORE_FILE_NAME)], rel, spec))
    return PathRules(
        ignore_files=tuple(rule_files),
        excludes=_compile(excludes) if excludes else None,
        includes=_compile(includes) if includes else None,
        fingerprint=digest.hexdigest(),
    )


def _read_lines(file: Path) -> list[str] | None:
    try:
        return file.read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _compile(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _matching_pattern(spec: pathspec.GitIgnoreSpec, path: str) -> str | None:
    """The pattern that decides `path` is matched (last match wins, `!` re-includes), else None."""
    result = spec.check_file(path)
    if not result.include or result.index is None:
        return None
    pattern = spec.patterns[result.index]
    return str(getattr(pattern, "pattern", pattern))
