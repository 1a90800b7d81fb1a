"""GitHub-flavoured Markdown, for $GITHUB_STEP_SUMMARY or a merge request comment. Code goes in fences
longer than any backtick run it holds, so reviewed content cannot close its own fence."""

from __future__ import annotations

import re

from wholerepo.review.findings import defang_workflow_commands
from wholerepo.review.format_text import coverage_lines
from wholerepo.review.report import ReviewReport

_ICON = {"error": "🔴", "warning": "🟠", "note": "🔵"}


def _fence(code: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{code}\n{ticks}"


def _inline(text: str) -> str:
    """One line of model text with Markdown/HTML that could restyle the page neutralised."""
    return re.sub(r"([\\`*_{}\[\]<>#|!])", r"\\\1", " ".join(text.split()))


def format_markdown(report: ReviewReport) -> str:
    out = [f"## wholerepo review: {len(report.findings)} finding(s)", ""]
    for f in report.findings:
        where = f"{f.path}:{f.start_line}" + (f"-{f.end_line}" if f.end_line != f.start_line else "")
        out.append(f"### {_ICON[f.severity.value]} {_inline(f.title)}")
        out.append(f"`{f.rule_id}` · **{f.severity.value}** · `{where}`")
        out.append("")
        out.append(_fence(f.quote))
        out.append("")
        out.append(_inline(f.message))
        if f.suggestion:
            out.extend(["", "Suggested replacement:", "", _fence(f.suggestion)])
        out.append("")
    out.append("<details><summary>What was reviewed</summary>")
    out.append("")
    out.extend(f"- {_inline(line)}" for line in coverage_lines(report))
    out.extend(["", "</details>", ""])
    return defang_workflow_commands("\n".join(out))
