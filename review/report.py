"""The result of one review: the located findings, what was dropped, and exactly what the model saw (the
scope, the diff, each file's pack mode, what did not fit). Every output format renders this one record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wholerepo.ingest.types import Mode, PackedFile, SkippedFile
from wholerepo.review.findings import FailOn, Finding
from wholerepo.review.locate import DroppedFinding


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the model was shown. `changed_not_whole` lists changed files the budget forced below full text:
    the report must say so, because "no findings" about a file the model never read is not a clean review."""

    scope: str
    scope_source: str
    base_commit: str | None
    head_commit: str | None
    changed_paths: tuple[str, ...]
    deleted_paths: tuple[str, ...]
    diff_tokens: int
    pack_budget: int
    pack_tokens: int
    prompt_tokens: int | None
    packed: tuple[PackedFile, ...]
    skipped: tuple[SkippedFile, ...]

    @property
    def changed_not_whole(self) -> tuple[str, ...]:
        full = {f.path for f in self.packed if f.mode is Mode.FULL}
        return tuple(p for p in self.changed_paths if p not in full)

    def count(self, mode: Mode) -> int:
        return sum(1 for f in self.packed if f.mode is mode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "scope_source": self.scope_source,
            "base_commit": self.base_commit,
            "head_commit": self.head_commit,
            "changed_paths": list(self.changed_paths),
            "deleted_paths": list(self.deleted_paths),
            "changed_not_whole": list(self.changed_not_whole),
            "diff_tokens": self.diff_tokens,
            "pack_budget": self.pack_budget,
            "pack_tokens": self.pack_tokens,
            "prompt_tokens": self.prompt_tokens,
            "files": {mode.value: [f.path for f in self.packed if f.mode is mode] for mode in Mode},
            "skipped": [{"path": s.path, "reason": s.reason.value} for s in self.skipped],
        }


@dataclass(frozen=True, slots=True)
class ReviewReport:
    coverage: Coverage
    findings: tuple[Finding, ...]  # located, capped, most severe first
    dropped: tuple[DroppedFinding, ...]  # the model's findings whose quote was found nowhere (or duplicates)
    num_over_cap: int  # located findings left out by --max-findings
    summary: str  # the model's prose, for people only
    model: str
    attempts: int  # model calls made (1, or 2 after an answer that did not validate)
    completion_tokens: int
    seconds: float

    def num_failing(self, fail_on: FailOn) -> int:
        """The pass/fail decision: computed from validated, located findings only."""
        return sum(1 for f in self.findings if fail_on.fails(f.severity))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "tool": "wholerepo",
            "model": self.model,
            "coverage": self.coverage.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "num_dropped": len(self.dropped),
            "dropped": [{"path": d.path, "title": d.title, "reason": d.reason.value} for d in self.dropped],
            "num_over_cap": self.num_over_cap,
            "summary": self.summary,
            "attempts": self.attempts,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
        }
