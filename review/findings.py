"""The one finding model every output format renders, and the parser that turns the model's JSON answer into
it. The model's answer is untrusted: it is validated against review/answer.schema.json before anything reads
it, and the pass/fail decision is computed from the validated findings only, never from its prose."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from wholerepo.errors import InvalidModelOutputError

TOOL_NAME = "wholerepo"
RULE_PREFIX = "wholerepo/"


class Severity(StrEnum):
    """Three levels, the same three SARIF uses, so no format has to invent a mapping for a fourth."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {"note": 1, "warning": 2, "error": 3}[self.value]


class Category(StrEnum):
    """Closed set of defect kinds; the rule id is `wholerepo/<category>` and stays stable across runs."""

    BUG = "bug"
    SECURITY = "security"
    CONCURRENCY = "concurrency"
    ERROR_HANDLING = "error-handling"
    RESOURCE_LEAK = "resource-leak"
    PERFORMANCE = "performance"
    BROKEN_CALLER = "broken-caller"  # a changed contract that an unchanged caller still relies on
    DATA_LOSS = "data-loss"

    @property
    def rule_id(self) -> str:
        return RULE_PREFIX + self.value


class FailOn(StrEnum):
    """`--fail-on`: the lowest severity that makes the run exit 1. NONE never fails (reviewdog's default)."""

    NONE = "none"
    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"

    def fails(self, severity: Severity) -> bool:
        return self is not FailOn.NONE and severity.rank >= Severity(self.value).rank


@dataclass(frozen=True, slots=True)
class ModelFinding:
    """One finding as the model wrote it: its line is a hint only, the quote is what locates it."""

    category: Category
    severity: Severity
    path: str
    line: int
    title: str
    message: str
    quote: str
    suggestion: str | None


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    findings: tuple[ModelFinding, ...]
    summary: str  # the model's prose: shown to people, never used to decide pass or fail


@dataclass(frozen=True, slots=True)
class Finding:
    """A finding whose quote was found in the reviewed version of the file: its lines are real."""

    category: Category
    severity: Severity
    path: str
    start_line: int
    end_line: int
    title: str
    message: str
    quote: str  # the reviewed file's own lines start_line..end_line, not the model's copy
    suggestion: str | None = None

    @property
    def rule_id(self) -> str:
        return self.category.rule_id

    @property
    def fingerprint(self) -> str:
        """Stable across edits elsewhere in the file: rule + path + normalized snippet, no line numbers."""
        key = "\0".join((self.rule_id, self.path, normalize_snippet(self.quote)))
        return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "category": self.category.value,
            "severity": self.severity.value,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "title": self.title,
            "message": self.message,
            "quote": self.quote,
            "suggestion": self.suggestion,
            "fingerprint": self.fingerprint,
        }


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """Drop terminal control characters (ESC sequences, BEL, CR...) from untrusted text; keep tab and newline.
    Reviewed files and the model's answer reach terminals and CI logs through every format."""
    return _CONTROLS.sub("", text)


_COMMAND_LINE = re.compile(r"^(\s*)(::|##\[)", re.MULTILINE)


def defang_workflow_commands(text: str) -> str:
    """Break lines that a CI runner would read as a command: GitHub's runner trims leading whitespace and
    runs any line starting with "::" (or the older "##["), so reviewed text printed in a CI log could set
    outputs or mask values. ": :" stays readable and is not a command."""
    return _COMMAND_LINE.sub(lambda m: m.group(1) + (": :" if m.group(2) == "::" else "# #["), text)


def normalize_snippet(text: str) -> str:
    """Whitespace-insensitive form of code: indentation and spacing changes keep the same fingerprint."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


@cache
def _base_answer_schema() -> dict[str, Any]:
    text = resources.files("wholerepo.review").joinpath("answer.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


# Floors for the string bounds when a small answer budget shrinks them: below these a finding says nothing.
_MIN_LENGTHS = {"path": 80, "title": 24, "message": 60, "quote": 40, "suggestion": 0, "summary": 0}


def answer_schema(max_findings: int, *, max_chars: int | None = None) -> dict[str, Any]:
    """The schema sent as vLLM's response_format and used to validate the reply. Arrays and strings are
    bounded so the grammar itself caps the answer; with `max_chars`, the string bounds shrink (down to the
    floors above) until the longest admissible answer fits, so a small model's budget is not cut mid-JSON."""
    schema = copy.deepcopy(_base_answer_schema())
    schema["properties"]["findings"]["maxItems"] = max_findings
    if max_chars is not None and answer_max_chars(schema) > max_chars:
        item = schema["properties"]["findings"]["items"]["properties"]
        specs = {**{k: v for k, v in item.items() if "maxLength" in v}, "summary": schema["properties"]["summary"]}
        fixed = answer_max_chars(schema) - max_findings * sum(v["maxLength"] for k, v in specs.items()
                                                              if k != "summary") - specs["summary"]["maxLength"]
        scale = max(0.0, max_chars - fixed) / (answer_max_chars(schema) - fixed)
        for key, spec in specs.items():
            spec["maxLength"] = max(_MIN_LENGTHS[key], int(spec["maxLength"] * scale))
    return schema


def answer_max_chars(schema: dict[str, Any]) -> int:
    """Upper bound on the characters of any answer the schema admits (string bounds plus JSON syntax)."""
    item = schema["properties"]["findings"]["items"]["properties"]
    per_item = sum(spec.get("maxLength", 12) + 24 for spec in item.values())
    summary = schema["properties"]["summary"]["maxLength"] + 24
    return 64 + summary + schema["properties"]["findings"]["maxItems"] * per_item


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


def parse_answer(text: str, schema: dict[str, Any]) -> ModelAnswer:
    """Validate the model's reply against `schema`; anything else is InvalidModelOutputError."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise InvalidModelOutputError(f"the model's review is not JSON ({error.msg} at char {error.pos})") from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise InvalidModelOutputError(f"the model's review does not match the schema at {where}: {error.message[:200]}") from None
    findings = tuple(
        ModelFinding(
            category=Category(item["category"]),
            severity=Severity(item["severity"]),
            path=item["path"].strip().removeprefix("./"),
            line=int(item["line"]),
            title=strip_controls(item["title"]).strip(),
            message=strip_controls(item["message"]).strip(),
            quote=item["quote"],
            suggestion=strip_controls(item["suggestion"]) if item.get("suggestion", "").strip() else None,
        )
        for item in data["findings"]
    )
    return ModelAnswer(findings=findings, summary=strip_controls(str(data.get("summary", ""))).strip())
