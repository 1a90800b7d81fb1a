"""Contract: every --format renders the same report, each validates against its consumer's schema (SARIF
2.1.0 official schema, reviewdog's Diagnostic, GitLab Code Quality, our report schema), and hostile text in
findings cannot issue GitHub workflow commands or close Markdown fences."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from wholerepo.ingest.types import Mode, PackedFile, SkippedFile, SkipReason
from wholerepo.review.findings import Category, Finding, Severity
from wholerepo.review.format_github import format_github
from wholerepo.review.locate import DroppedFinding, DropReason
from wholerepo.review.render import ReportFormat, render_report, report_format
from wholerepo.review.report import Coverage, ReviewReport

DATA = Path(__file__).with_name("data")
HOSTILE = "done\n::error file=x.py,line=1::forged\r\n::add-mask::secret %0A ::set-output name=a::b"


def _schema(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def _report(findings: tuple[Finding, ...] | None = None) -> ReviewReport:
    if findings is None:
        findings = (
            Finding(Category.BUG, Severity.ERROR, "src/app.py", 4, 5, "Division by zero",
                    "b can be 0 when the list is empty", "    total = a / b\n    return total",
                    "    return a / b if b else 0.0"),
            Finding(Category.SECURITY, Severity.WARNING, "dir with space/naïve.py", 1, 1, "Title, with: colon",
                    HOSTILE, "x = '```'"),
            Finding(Category.PERFORMANCE, Severity.NOTE, "lib/util.py", 10, 10, "Quadratic", "loop in loop", "for a in b:"),
        )
    coverage = Coverage(
        scope="staged changes (index vs HEAD)", scope_source="--staged", base_commit="a" * 40, head_commit=None,
        changed_paths=("src/app.py", "dir with space/naïve.py", "big.py"), deleted_paths=("old.py",), diff_tokens=120,
        pack_budget=5000, pack_tokens=4800, prompt_tokens=5400,
        packed=(PackedFile("src/app.py", Mode.FULL, 300, "changed"), PackedFile("big.py", Mode.SIGNATURES, 80, "changed"),
                PackedFile("lib/util.py", Mode.PATH, 5, "rest")),
        skipped=(SkippedFile("logo.png", SkipReason.BINARY),),
    )
    return ReviewReport(coverage=coverage, findings=findings,
                        dropped=(DroppedFinding("src/app.py", "ghost", DropReason.QUOTE_NOT_FOUND),),
                        num_over_cap=0, summary="PASS. Looks fine.", model="fake-reviewer", attempts=1,
                        completion_tokens=50, seconds=1.25)


def test_sarif_validates_against_official_schema_and_github_minimum() -> None:
    log = json.loads(render_report(_report(), ReportFormat.SARIF))
    jsonschema.Draft4Validator(_schema("sarif-schema-2.1.0.json")).validate(log)
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "wholerepo"
    for rule in rules:  # fields GitHub's reference marks required
        assert rule["id"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert not location["artifactLocation"]["uri"].startswith("/")
        assert location["region"]["startLine"] >= 1
        assert result["partialFingerprints"]["primaryLocationLineHash"]
    assert [r["level"] for r in run["results"]] == ["error", "warning", "note"]
    assert run["results"][0]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"]


def test_sarif_rule_indexes_are_stable_across_reports() -> None:
    one = json.loads(render_report(_report(), ReportFormat.SARIF))["runs"][0]["tool"]["driver"]["rules"]
    empty = json.loads(render_report(_report(()), ReportFormat.SARIF))
    jsonschema.Draft4Validator(_schema("sarif-schema-2.1.0.json")).validate(empty)
    assert empty["runs"][0]["tool"]["driver"]["rules"] == one and empty["runs"][0]["results"] == []


def test_rdjsonl_each_line_is_a_reviewdog_diagnostic() -> None:
    text = render_report(_report(), ReportFormat.RDJSONL)
    lines = text.splitlines()
    assert len(lines) == 3 and text.endswith("\n")
    validator = jsonschema.Draft202012Validator(_schema("rdjsonl-diagnostic.schema.json"))
    diagnostics = [json.loads(line) for line in lines]
    for diagnostic in diagnostics:
        validator.validate(diagnostic)
    assert [d["severity"] for d in diagnostics] == ["ERROR", "WARNING", "INFO"]
    assert diagnostics[0]["location"]["range"] == {"start": {"line": 4}, "end": {"line": 5}}
    assert diagnostics[0]["suggestions"][0]["text"] == "    return a / b if b else 0.0"
    assert "suggestions" not in diagnostics[2]
    assert render_report(_report(()), ReportFormat.RDJSONL) == ""


def test_codequality_matches_gitlab_fields_and_fingerprints_ignore_lines() -> None:
    report = _report()
    issues = json.loads(render_report(report, ReportFormat.CODEQUALITY))
    jsonschema.Draft202012Validator(_schema("codequality.schema.json")).validate(issues)
    assert [i["severity"] for i in issues] == ["critical", "major", "info"]
    assert issues[0]["location"] == {"path": "src/app.py", "lines": {"begin": 4, "end": 5}}
    moved = Finding(**{**{s: getattr(report.findings[0], s) for s in Finding.__slots__}, "start_line": 40, "end_line": 41})
    assert json.loads(render_report(_report((moved,)), ReportFormat.CODEQUALITY))[0]["fingerprint"] == issues[0]["fingerprint"]
    assert len({i["fingerprint"] for i in issues}) == 3
    raw = render_report(_report(()), ReportFormat.CODEQUALITY)
    assert json.loads(raw) == [] and not raw.startswith("\ufeff")


def test_json_and_jsonl_validate_against_report_schema() -> None:
    schema = json.loads(resources.files("wholerepo.review").joinpath("report.schema.json").read_text())
    data = json.loads(render_report(_report(), ReportFormat.JSON))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["coverage"]["changed_not_whole"] == ["dir with space/naïve.py", "big.py"]
    assert data["num_dropped"] == 1
    finding_schema = {**schema["$defs"]["finding"], "$defs": schema["$defs"]}
    lines = render_report(_report(), ReportFormat.JSONL).splitlines()
    assert len(lines) == 3
    for line in lines:
        jsonschema.Draft202012Validator(finding_schema).validate(json.loads(line))


def test_github_annotations_cannot_be_forged_by_finding_text() -> None:
    out = format_github(_report(), token="f" * 32)
    command_lines = [line for line in out.splitlines() if line.startswith("::")]
    token = re.search(r"^::stop-commands::([0-9a-f]{32})$", out, re.MULTILINE).group(1)
    # exactly ours: three annotations, one stop, one resume; nothing from the hostile message
    assert [line.split(" ")[0].split("::")[1] for line in command_lines[:3]] == ["error", "warning", "notice"]
    assert command_lines[3:] == [f"::stop-commands::{token}", f"::{token}::"]
    annotation = command_lines[1]
    assert "file=dir with space/naïve.py" in annotation and "title=wholerepo/security%3A Title%2C with%3A colon" in annotation
    assert "%0A::error file=x.py" in annotation and "%0D%0A::add-mask::" in annotation and "%250A" in annotation
    # the free text (coverage, the model's summary) sits between stop and resume
    block = out.split(f"::stop-commands::{token}\n", 1)[1].split(f"\n::{token}::", 1)[0]
    assert "PASS. Looks fine." in block and "reviewed:" in block


def test_github_token_is_random_and_never_in_the_body() -> None:
    first, second = format_github(_report()), format_github(_report())
    assert re.search(r"stop-commands::(\w+)", first).group(1) != re.search(r"stop-commands::(\w+)", second).group(1)


def test_github_caps_annotations_per_level() -> None:
    many = tuple(Finding(Category.BUG, Severity.ERROR, "a.py", i, i, f"t{i}", "m", f"q{i}") for i in range(1, 13))
    out = format_github(_report(many))
    assert sum(1 for line in out.splitlines() if line.startswith("::error ")) == 10
    assert "a.py:12: error" in out  # the rest stay readable in the text block


def test_markdown_fences_outlast_backticks_in_content() -> None:
    out = render_report(_report(), ReportFormat.MARKDOWN)
    assert "````\nx = '```'\n````" in out
    assert "::error file=x.py" in out and "\n::error" not in out  # hostile message folded to one line


def test_text_lists_coverage_and_dropped() -> None:
    out = render_report(_report(), ReportFormat.TEXT)
    assert out.startswith("src/app.py:4-5: error [wholerepo/bug] Division by zero\n")
    assert "not read whole (did not fit): dir with space/naïve.py, big.py" in out
    assert "dropped: 1 finding(s)" in out and "1 files whole, 1 as signatures, 1 by path only, 1 skipped" in out
    assert "not used to decide pass/fail" in out


def test_unknown_format_is_usage_error() -> None:
    from wholerepo.errors import UsageError

    with pytest.raises(UsageError, match="sarif"):
        report_format("xml")


@pytest.mark.parametrize("fmt", [ReportFormat.TEXT, ReportFormat.MARKDOWN])
def test_human_formats_print_no_line_a_ci_runner_would_run(fmt: ReportFormat) -> None:
    # GitHub's runner trims leading whitespace before looking for "::", so indentation alone is no defence.
    hostile = Finding(Category.BUG, Severity.ERROR, "a.py", 1, 2, "::set-output name=x::y",
                      HOSTILE + "\n   ##[error]old style", "  ::add-mask::abc\n::endgroup::", "::stop-commands::zzz")
    out = render_report(_report((hostile,)), fmt)
    offending = [line for line in out.splitlines() if line.lstrip().startswith(("::", "##["))]
    assert offending == []
    assert "error file=x.py,line=1::forged" in out  # still shown, just not runnable
