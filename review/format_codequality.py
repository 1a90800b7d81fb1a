"""GitLab Code Quality (a JSON array, `artifacts: reports: codequality:`). The fingerprint comes from rule,
path and normalized snippet, not the line, so a finding keeps its identity when code above it moves and
GitLab's merge request widget does not show it as fixed-and-new."""

from __future__ import annotations

import json
from typing import Any

from wholerepo.review.findings import TOOL_NAME, Finding
from wholerepo.review.report import ReviewReport

_SEVERITY = {"error": "critical", "warning": "major", "note": "info"}
_CATEGORY = {"security": "Security", "performance": "Performance"}


def issue(f: Finding) -> dict[str, Any]:
    return {
        "type": "issue",
        "engine_name": TOOL_NAME,
        "check_name": f.rule_id,
        "description": f"{f.title}: {f.message}",
        "categories": [_CATEGORY.get(f.category.value, "Bug Risk")],
        "severity": _SEVERITY[f.severity.value],
        "fingerprint": f.fingerprint,
        "location": {"path": f.path, "lines": {"begin": f.start_line, "end": f.end_line}},
    }


def format_codequality(report: ReviewReport) -> str:
    # No BOM, an array even when empty: GitLab rejects anything else.
    return json.dumps([issue(f) for f in report.findings], indent=2, ensure_ascii=False) + "\n"
