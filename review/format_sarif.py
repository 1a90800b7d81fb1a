"""SARIF 2.1.0 as GitHub code scanning reads it (github/codeql-action/upload-sarif). Every category is a
rule, always listed in the same order, so rule ids and indexes stay stable across runs; results carry a
fingerprint from rule + path + normalized snippet so alerts survive code moving above them."""

from __future__ import annotations

import json
from typing import Any

from wholerepo import __version__
from wholerepo.review.findings import TOOL_NAME, Category, Finding
from wholerepo.review.report import ReviewReport

SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/wholerepo/wholerepo"

RULE_TEXT = {
    Category.BUG: ("Likely bug", "The change makes the code compute a wrong result or crash on some input."),
    Category.SECURITY: ("Security defect", "The change opens an injection, leak, or authorization hole."),
    Category.CONCURRENCY: ("Concurrency defect", "A race, deadlock or unsynchronised shared state."),
    Category.ERROR_HANDLING: ("Error handling defect", "An error is swallowed, mis-reported, or left unhandled."),
    Category.RESOURCE_LEAK: ("Resource leak", "A file, socket, lock or other resource is not released."),
    Category.PERFORMANCE: ("Performance defect", "Needless quadratic work, repeated I/O, or unbounded growth."),
    Category.BROKEN_CALLER: ("Broken caller", "A changed contract that code elsewhere in the repository relies on."),
    Category.DATA_LOSS: ("Data loss", "Data can be overwritten, truncated or dropped."),
}
_RULES = list(Category)


def _rule(category: Category) -> dict[str, Any]:
    short, full = RULE_TEXT[category]
    return {
        "id": category.rule_id,
        "name": category.value.replace("-", " ").title().replace(" ", ""),
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": full + " Reported by a language model with the whole repository in context; verify it.",
                 "markdown": f"**{short}.** {full}\n\nReported by a language model: verify before acting."},
        "defaultConfiguration": {"level": "warning"},
        # LLM findings: GitHub orders by precision; "medium" keeps them below hand-written analyzers.
        "properties": {"tags": [category.value, "wholerepo"], "precision": "medium"},
    }


def _region(f: Finding) -> dict[str, Any]:
    return {"startLine": f.start_line, "endLine": f.end_line, "snippet": {"text": f.quote}}


def _result(f: Finding) -> dict[str, Any]:
    location = {"physicalLocation": {"artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                                     "region": _region(f)}}
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": _RULES.index(f.category),
        "level": f.severity.value,
        "message": {"text": f"{f.title}\n\n{f.message}"},
        "locations": [location],
        "partialFingerprints": {"primaryLocationLineHash": f.fingerprint[:32] + ":1",
                                "wholerepoFindingHash/v1": f.fingerprint},
    }
    if f.suggestion:
        result["fixes"] = [{
            "description": {"text": "Suggested replacement"},
            "artifactChanges": [{
                "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                "replacements": [{"deletedRegion": {"startLine": f.start_line, "endLine": f.end_line},
                                  "insertedContent": {"text": f.suggestion}}],
            }],
        }]
    return result


def sarif_log(report: ReviewReport) -> dict[str, Any]:
    c = report.coverage
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": [_rule(c) for c in _RULES]}},
            "automationDetails": {"id": "wholerepo/review/"},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
            "invocations": [{"executionSuccessful": True}],
            "results": [_result(f) for f in report.findings],
            "properties": {"coverage": c.to_dict(), "numDropped": len(report.dropped),
                           "numOverCap": report.num_over_cap, "model": report.model},
        }],
    }


def format_sarif(report: ReviewReport) -> str:
    return json.dumps(sarif_log(report), indent=2, ensure_ascii=False) + "\n"
