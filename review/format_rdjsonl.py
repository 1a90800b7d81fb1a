"""reviewdog's rdjsonl: one Diagnostic per line, for `wholerepo review --format rdjsonl | reviewdog
-f=rdjsonl -reporter=github-pr-review` (or gitlab-mr-discussion, gerrit, ...). Ranges omit columns, which
reviewdog reads as whole lines, end line included."""

from __future__ import annotations

import json
from typing import Any

from wholerepo.review.findings import TOOL_NAME, Finding
from wholerepo.review.report import ReviewReport

_SEVERITY = {"error": "ERROR", "warning": "WARNING", "note": "INFO"}


def diagnostic(f: Finding) -> dict[str, Any]:
    line_range = {"start": {"line": f.start_line}, "end": {"line": f.end_line}}
    item: dict[str, Any] = {
        "message": f"{f.title}\n\n{f.message}",
        "location": {"path": f.path, "range": line_range},
        "severity": _SEVERITY[f.severity.value],
        "source": {"name": TOOL_NAME},
        "code": {"value": f.rule_id},
    }
    if f.suggestion:
        item["suggestions"] = [{"range": line_range, "text": f.suggestion.rstrip("\n")}]
    return item


def format_rdjsonl(report: ReviewReport) -> str:
    return "".join(json.dumps(diagnostic(f), ensure_ascii=False) + "\n" for f in report.findings)
