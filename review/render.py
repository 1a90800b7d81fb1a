"""`--format`: one name per output, each a function of the same ReviewReport."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from wholerepo.errors import UsageError
from wholerepo.review.format_codequality import format_codequality
from wholerepo.review.format_github import format_github
from wholerepo.review.format_json import format_json, format_jsonl
from wholerepo.review.format_markdown import format_markdown
from wholerepo.review.format_rdjsonl import format_rdjsonl
from wholerepo.review.format_sarif import format_sarif
from wholerepo.review.format_text import format_text
from wholerepo.review.report import ReviewReport


class ReportFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"
    JSONL = "jsonl"
    SARIF = "sarif"
    RDJSONL = "rdjsonl"
    GITHUB = "github"
    CODEQUALITY = "codequality"


_RENDERERS: dict[ReportFormat, Callable[[ReviewReport], str]] = {
    ReportFormat.TEXT: format_text,
    ReportFormat.MARKDOWN: format_markdown,
    ReportFormat.JSON: format_json,
    ReportFormat.JSONL: format_jsonl,
    ReportFormat.SARIF: format_sarif,
    ReportFormat.RDJSONL: format_rdjsonl,
    ReportFormat.GITHUB: format_github,
    ReportFormat.CODEQUALITY: format_codequality,
}


def report_format(name: str) -> ReportFormat:
    try:
        return ReportFormat(name)
    except ValueError:
        known = ", ".join(f.value for f in ReportFormat)
        raise UsageError(f"unknown review --format {name!r}; choose one of: {known}") from None


def render_report(report: ReviewReport, fmt: ReportFormat) -> str:
    return _RENDERERS[fmt](report)
