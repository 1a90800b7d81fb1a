"""Contract: the model's answer is data until it validates against the schema; severities, fail-on and the
fingerprint behave the same for every format."""

from __future__ import annotations

import json

import pytest

from wholerepo.errors import InvalidModelOutputError
from wholerepo.review.findings import (
    Category,
    FailOn,
    Finding,
    Severity,
    answer_max_chars,
    answer_schema,
    parse_answer,
)

ITEM = {"category": "bug", "severity": "error", "path": "./app.py", "line": 3, "title": "Off by one",
        "message": "range stops early", "quote": "for i in range(n - 1):", "suggestion": ""}


def test_valid_answer_parses_and_normalizes() -> None:
    answer = parse_answer(json.dumps({"findings": [ITEM], "summary": "one bug"}), answer_schema(5))
    (finding,) = answer.findings
    assert finding.path == "app.py" and finding.severity is Severity.ERROR and finding.category is Category.BUG
    assert finding.suggestion is None and answer.summary == "one bug"


def test_empty_review_is_valid() -> None:
    assert parse_answer('{"findings": [], "summary": ""}', answer_schema(5)).findings == ()


def test_fenced_json_is_accepted() -> None:
    text = "```json\n" + json.dumps({"findings": [], "summary": "x"}) + "\n```"
    assert parse_answer(text, answer_schema(3)).summary == "x"


@pytest.mark.parametrize(
    ("reply", "where"),
    [
        ("PASS: looks good to me", "not JSON"),
        ('{"findings": [], "summary": "ok", "verdict": "pass"}', "top level"),
        (json.dumps({"findings": [{**ITEM, "severity": "critical"}], "summary": ""}), "findings/0/severity"),
        (json.dumps({"findings": [{**ITEM, "quote": ""}], "summary": ""}), "findings/0/quote"),
        (json.dumps({"findings": [ITEM] * 3, "summary": ""}), "findings"),
        ('{"summary": "no findings key"}', "top level"),
    ],
)
def test_invalid_answers_raise(reply: str, where: str) -> None:
    with pytest.raises(InvalidModelOutputError, match=where):
        parse_answer(reply, answer_schema(2))


def test_control_characters_are_stripped_from_model_text() -> None:
    item = {**ITEM, "title": "bad\x1b[31m red\x07", "message": "line1\nline2\r"}
    (finding,) = parse_answer(json.dumps({"findings": [item], "summary": "\x1b]0;owned\x07"}), answer_schema(1)).findings
    assert finding.title == "bad[31m red" and finding.message == "line1\nline2"


def test_schema_bounds_answer_size() -> None:
    small, large = answer_schema(1), answer_schema(10)
    assert large["properties"]["findings"]["maxItems"] == 10
    assert 2_000 < answer_max_chars(small) < answer_max_chars(large) < 40_000


@pytest.mark.parametrize(
    ("fail_on", "severity", "fails"),
    [
        (FailOn.NONE, Severity.ERROR, False),
        (FailOn.ERROR, Severity.ERROR, True),
        (FailOn.ERROR, Severity.WARNING, False),
        (FailOn.WARNING, Severity.ERROR, True),
        (FailOn.WARNING, Severity.NOTE, False),
        (FailOn.NOTE, Severity.NOTE, True),
    ],
)
def test_fail_on_threshold(fail_on: FailOn, severity: Severity, fails: bool) -> None:
    assert fail_on.fails(severity) is fails


def _finding(**changes: object) -> Finding:
    base = dict(category=Category.BUG, severity=Severity.ERROR, path="a.py", start_line=10, end_line=10,
                title="t", message="m", quote="x = compute( a,b )")
    return Finding(**{**base, **changes})  # type: ignore[arg-type]


def test_fingerprint_ignores_lines_and_whitespace_but_not_rule_or_path() -> None:
    first = _finding()
    assert first.fingerprint == _finding(start_line=50, end_line=50, quote="    x =  compute( a,b )").fingerprint
    assert first.fingerprint == _finding(title="other words", severity=Severity.NOTE).fingerprint
    assert first.fingerprint != _finding(path="b.py").fingerprint
    assert first.fingerprint != _finding(category=Category.SECURITY).fingerprint
    assert first.fingerprint != _finding(quote="x = compute(a, b)").fingerprint
