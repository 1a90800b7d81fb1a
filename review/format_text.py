"""Plain text for a terminal or a pre-commit log: one block per finding, then what was reviewed."""

from __future__ import annotations

import textwrap

from wholerepo.ingest.types import Mode
from wholerepo.review.findings import defang_workflow_commands
from wholerepo.review.report import ReviewReport


def _lines(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}-{end}"


def format_text(report: ReviewReport) -> str:
    """Every line of reviewed or model text is defanged: this format lands in CI logs too."""
    return defang_workflow_commands(_format_text(report))


def _format_text(report: ReviewReport) -> str:
    out: list[str] = []
    for f in report.findings:
        out.append(f"{f.path}:{_lines(f.start_line, f.end_line)}: {f.severity.value} [{f.rule_id}] {f.title}")
        out.append(textwrap.indent(f.message, "    "))
        if f.suggestion:
            out.append("    suggested replacement:")
            out.append(textwrap.indent(f.suggestion, "      | ", lambda _line: True))
        out.append("")
    out.extend(coverage_lines(report))
    return "\n".join(out) + "\n"


def coverage_lines(report: ReviewReport) -> list[str]:
    """The honest footer every human-readable format shares: scope, what fit, what did not, what was dropped."""
    c = report.coverage
    counts = {sev: sum(1 for f in report.findings if f.severity.value == sev) for sev in ("error", "warning", "note")}
    found = ", ".join(f"{n} {sev}{'s' if n != 1 else ''}" for sev, n in counts.items() if n) or "no findings"
    lines = [
        f"reviewed: {c.scope} ({c.scope_source}); {len(c.changed_paths)} changed file(s), "
        f"{len(c.deleted_paths)} deleted; {found}",
        f"context: {c.count(Mode.FULL)} files whole, {c.count(Mode.SIGNATURES)} as signatures, "
        f"{c.count(Mode.PATH)} by path only, {len(c.skipped)} skipped; pack {c.pack_tokens:,}/{c.pack_budget:,} "
        f"tokens, diff {c.diff_tokens:,} tokens; model {report.model or 'none'}",
    ]
    if c.changed_not_whole:
        lines.append("not read whole (did not fit): " + ", ".join(c.changed_not_whole))
    if report.dropped:
        lines.append(f"dropped: {len(report.dropped)} finding(s) whose quoted code was not found in the reviewed files")
    if report.num_over_cap:
        lines.append(f"over the cap: {report.num_over_cap} more finding(s) not shown (raise --max-findings)")
    if report.summary:
        lines.append("model's summary (not used to decide pass/fail): " + report.summary)
    return lines
