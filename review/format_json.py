"""JSON (the whole report, schema in review/report.schema.json) and JSON Lines (one finding per line)."""

from __future__ import annotations

import json

from wholerepo.review.report import ReviewReport


def format_json(report: ReviewReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def format_jsonl(report: ReviewReport) -> str:
    return "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in report.findings)
