"""Contract: every printed finding carries line numbers found in the reviewed file; a finding whose quote is
found nowhere is dropped and counted, never printed with the model's invented line."""

from __future__ import annotations

from wholerepo.review.findings import Category, ModelFinding, Severity
from wholerepo.review.locate import DropReason, locate_findings

FILES = {
    "app.py": "import os\n\n\ndef load(path):\n    handle = open(path)\n    return handle.read()\n\n"
              "def again(path):\n    handle = open(path)\n    return handle.read()\n",
    "lib/util.py": "def helper(a, b):\n    return a / b\n",
}


def _read(path: str) -> str | None:
    return FILES.get(path)


def _mf(quote: str, *, path: str = "app.py", line: int = 1, title: str = "t") -> ModelFinding:
    return ModelFinding(Category.RESOURCE_LEAK, Severity.WARNING, path, line, title, "m", quote, None)


def test_exact_quote_gets_real_lines_despite_wrong_hint() -> None:
    located = locate_findings([_mf("    return a / b", path="lib/util.py", line=99)], _read)
    (finding,) = located.findings
    assert (finding.start_line, finding.end_line, finding.quote) == (2, 2, "    return a / b")


def test_multi_line_quote_with_other_indentation() -> None:
    (finding,) = locate_findings([_mf("handle = open(path)\nreturn   handle.read()", line=5)], _read).findings
    assert (finding.start_line, finding.end_line) == (5, 6)


def test_repeated_code_resolves_to_the_occurrence_nearest_the_hint() -> None:
    quote = "handle = open(path)"
    assert locate_findings([_mf(quote, line=8)], _read).findings[0].start_line == 9
    assert locate_findings([_mf(quote, line=2)], _read).findings[0].start_line == 5


def test_diff_markers_are_stripped() -> None:
    (finding,) = locate_findings([_mf("+    handle = open(path)\n+    return handle.read()", line=5)], _read).findings
    assert (finding.start_line, finding.end_line) == (5, 6)




def test_short_fragment_is_not_guessed_but_long_one_is() -> None:
    assert locate_findings([_mf("a / b", path="lib/util.py")], _read).findings == ()
    (finding,) = locate_findings([_mf("return a / b", path="lib/util.py")], _read).findings
    assert finding.start_line == 2


def test_blank_lines_inside_quote_are_ignored() -> None:
    (finding,) = locate_findings([_mf("import os\n\n\n\ndef load(path):")], _read).findings
    assert (finding.start_line, finding.end_line) == (1, 4)


def test_unlocatable_findings_are_dropped_and_counted() -> None:
    located = locate_findings([
        _mf("this code does not exist anywhere"),
        _mf("return 1", path="missing.py"),
        _mf("root:x:0:0", path="../../etc/passwd"),
        _mf("x", path="/etc/passwd"),
        _mf("handle = open(path)", line=5, title="dup"),
        _mf("handle = open(path)", line=5, title="dup"),
    ], _read)
    assert [d.reason for d in located.dropped] == [
        DropReason.QUOTE_NOT_FOUND, DropReason.FILE_NOT_FOUND, DropReason.PATH_OUTSIDE_REPO,
        DropReason.PATH_OUTSIDE_REPO, DropReason.DUPLICATE,
    ]
    assert len(located.findings) == 1
