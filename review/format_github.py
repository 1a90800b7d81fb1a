"""GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` annotation per finding, then the
free text inside `::stop-commands::<token>` ... `::<token>::`.

Reviewed code reaches this output through the model, so it is hostile: every value in an annotation is
escaped (newlines become %0A, so nothing can start a line of its own), and all other text is printed while
the runner ignores commands, with a random token the content cannot guess. GitHub shows at most 10
annotations of each level per step; the rest stay in the text block."""

from __future__ import annotations

import secrets

from wholerepo.review.findings import Finding
from wholerepo.review.format_text import format_text
from wholerepo.review.report import ReviewReport

_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}
MAX_PER_LEVEL = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding) -> str:
    props = ",".join((
        f"file={escape_property(f.path)}",
        f"line={f.start_line}",
        f"endLine={f.end_line}",
        f"title={escape_property(f'{f.rule_id}: {f.title}')}",
    ))
    return f"::{_COMMAND[f.severity.value]} {props}::{escape_data(f.message)}"


def format_github(report: ReviewReport, *, token: str | None = None) -> str:
    per_level: dict[str, int] = {}
    lines: list[str] = []
    for f in report.findings:
        level = _COMMAND[f.severity.value]
        per_level[level] = per_level.get(level, 0) + 1
        if per_level[level] <= MAX_PER_LEVEL:
            lines.append(annotation(f))
    body = format_text(report)
    token = token or secrets.token_hex(16)
    while token in body:  # cannot happen by chance (128 bits); kept so a test can force it
        token = secrets.token_hex(16)
    lines.append(f"::stop-commands::{token}")
    lines.append(body.rstrip("\n"))
    lines.append(f"::{token}::")
    return "\n".join(lines) + "\n"
