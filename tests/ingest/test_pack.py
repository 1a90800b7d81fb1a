"""Contract: a pack never exceeds its budget (counted on the final text with the real tokenizer), every
file read has a mode or an over-budget skip, and what does not depend on the question comes first."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from wholerepo.errors import NotAGitRepositoryError, UsageError
from wholerepo.ingest.options import PackOptions
from wholerepo.ingest.pack import STAGES, pack_repository
from wholerepo.ingest.render import render_json
from wholerepo.ingest.tokenizers import get_tokenizer
from wholerepo.ingest.types import Mode, SkipReason


def git(repo: Path, *args: str) -> str:
    """conftest's helpers are not importable under --import-mode=importlib; make_repo set the identity."""
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def write_files(repo: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        (repo / rel).write_text(content)


def _module(name: str, num_functions: int) -> str:
    body = "".join(
        textwrap.dedent(f'''
        def {name}_step_{i}(value: int, scale: float = 1.5) -> float:
            """Step {i} of {name}: scale the value and add a constant."""
            result = value * scale + {i}
            if result > 1000:
                result = result / 3
            return result
        ''')
        for i in range(num_functions)
    )
    return f'"""The {name} module."""\n' + body


@pytest.fixture
def project(make_repo) -> Path:
    """A repository with history: core files committed once, hot.py changed in every commit."""
    files: dict[str, str | bytes] = {
        "README.md": "# Demo\n\nA demo project about parsing and billing.\n\n## Layout\n",
        "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0binary",
    }
    files |= {f"src/mod_{i:02}.py": _module(f"mod{i}", 6 + i % 5) for i in range(24)}
    files["src/billing.py"] = _module("invoice", 8)
    files["src/parser.py"] = _module("parse", 8)
    commits = [{"src/hot.py": _module(f"hot{n}", 3)} for n in range(3)]
    return make_repo(files, commits=commits)


def _pack(repo: Path, **kw: object):
    return pack_repository(PackOptions(path=repo, **kw))  # type: ignore[arg-type]


def test_budget_holds_on_the_final_text_and_nothing_is_lost(project: Path) -> None:
    for budget in (3_000, 9_000, 40_000):
        result = _pack(project, budget=budget)
        assert result.total_tokens == get_tokenizer(result.tokenizer).count(result.text)
        assert result.total_tokens <= budget
        packed = {f.path for f in result.files}
        skipped = {s.path for s in result.skipped}
        tracked = set(git(project, "ls-files").splitlines())
        assert packed | skipped == tracked
        assert not packed & skipped
        assert {s.path: s.reason for s in result.skipped}["logo.png"] is SkipReason.BINARY
        for f in result.files:
            if f.mode is not Mode.PATH:
                assert f'path="{f.path}"' in result.text


def test_degrades_full_then_signatures_then_path(project: Path) -> None:
    modes = {f.path: f.mode for f in _pack(project, budget=40_000).files}
    assert set(modes.values()) == {Mode.FULL}
    tight = _pack(project, budget=3_500)
    modes = {f.path: f.mode for f in tight.files}
    assert Mode.FULL in modes.values() and Mode.SIGNATURES in modes.values()
    sig_file = next(p for p, m in modes.items() if m is Mode.SIGNATURES)
    assert f'<file path="{sig_file}" mode="signatures">' in tight.text
    tiny = _pack(project, budget=700)
    reasons = {s.reason for s in tiny.skipped}
    assert SkipReason.OVER_BUDGET in reasons or any(f.mode is Mode.PATH for f in tiny.files)
    assert tiny.total_tokens <= 700


def test_too_small_a_budget_is_a_usage_error(project: Path) -> None:
    with pytest.raises(UsageError, match="budget"):
        _pack(project, budget=20)


def test_two_questions_share_the_stable_prefix(project: Path) -> None:
    first = _pack(project, budget=8_000, query="invoice billing")
    second = _pack(project, budget=8_000, query="parse parser")
    shared = 0
    while shared < min(len(first.text), len(second.text)) and first.text[shared] == second.text[shared]:
        shared += 1
    # on an 8k budget the question gets 75% (select.split_budget); on 1M it gets 25%. A question whose
    # files a plain pack holds anyway has a longer stable prefix (all of it): the shorter one is shared
    stable = min(first.stable_prefix_chars, second.stable_prefix_chars)
    assert shared >= stable > len(first.text) // 5
    assert first.text != second.text
    assert {f.path: f.mode for f in first.files}["src/billing.py"] is Mode.FULL
    assert {f.path: f.mode for f in second.files}["src/parser.py"] is Mode.FULL


def test_recently_changed_files_come_last_in_the_core(project: Path) -> None:
    result = _pack(project, budget=40_000)
    core = result.text[: result.stable_prefix_chars]
    assert core.index('path="src/mod_00.py"') < core.index('path="src/hot.py"')
    write_files(project, {"src/hot.py": _module("hot-edited", 3)})
    git(project, "commit", "-qam", "edit hot")
    after = _pack(project, budget=40_000)
    cut = result.text.index('<file path="src/hot.py"')
    assert after.text[:cut] == result.text[:cut]


def test_diff_and_explicit_changes_pick_the_changed_file(project: Path) -> None:
    plain = _pack(project, budget=4_000)
    target = next(f.path for f in plain.files if f.mode is not Mode.FULL and f.path.startswith("src/mod"))
    write_files(project, {target: _module("edited", 8)})
    by_ref = _pack(project, budget=4_000, diff_ref="HEAD")
    by_list = _pack(project, budget=4_000, changed_paths=(target,))
    for result in (by_ref, by_list):
        assert {f.path: f.mode for f in result.files}[target] is Mode.FULL
        assert f'path="{target}"' in result.text[result.stable_prefix_chars :]
        assert "def edited_step_7(" in result.text


def test_formats_line_numbers_and_json_report(project: Path) -> None:
    for fmt in ("xml", "markdown", "plain", "json"):
        result = _pack(project, budget=4_000, format=fmt, line_numbers=True)
        assert result.total_tokens <= 4_000
        assert result.format == fmt
    assert re.search(r'<file path="[^"]+"><!\[CDATA\[\n1: """The \w+ module."""\n2: \n3: def ', result.text)
    data = json.loads(render_json(result))
    assert data["budget"] == 4_000 and data["total_tokens"] == result.total_tokens
    assert {f["mode"] for f in data["files"]} <= {"full", "signatures", "path"}
    assert all(f["reason"] for f in data["files"])


def test_progress_reports_each_stage_and_errors_are_typed(project: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    _pack_with = pack_repository(
        PackOptions(path=project, budget=5_000), progress=lambda s, i, n: seen.append(s)
    )
    assert _pack_with.total_tokens <= 5_000
    assert seen[:4] == list(STAGES[:4]) and set(seen) == set(STAGES)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("def f():\n    return 1\n")
    with pytest.raises(NotAGitRepositoryError):
        _pack(plain, budget=5_000)
    assert {f.path for f in _pack(plain, budget=5_000, no_git=True).files} == {"a.py"}
    with pytest.raises(UsageError):
        PackOptions(path=plain, format="yaml")
    with pytest.raises(UsageError):
        PackOptions(path=plain, budget=0)


def test_cold_and_warm_packs_are_identical(project: Path, tmp_path: Path, monkeypatch) -> None:
    """Caches save work but never change a decision: a pack with empty caches, the same pack with the
    caches it filled, and one more with other empty caches are byte-identical (else the server's prefix
    cache would miss between a cold and a warm run of one commit)."""
    cold = _pack(project, budget=3_500)
    warm = _pack(project, budget=3_500)
    monkeypatch.setenv("WHOLEREPO_HOME", str(tmp_path / "other-home"))
    again = _pack(project, budget=3_500)
    assert cold.text == warm.text == again.text
    assert any(f.mode is Mode.SIGNATURES for f in cold.files)


def _cold_and_warm_after(project: Path, tmp_path: Path, monkeypatch, change) -> None:
    """Warm the caches on the committed tree, apply `change`, then pack with those caches and with empty
    ones: the warm pack reuses verdicts of unchanged files without reading them, never those of others."""
    monkeypatch.setenv("WHOLEREPO_HOME", str(tmp_path / "warm-home"))
    before = _pack(project, budget=3_500)
    change()
    warm = _pack(project, budget=3_500)
    again = _pack(project, budget=3_500)
    monkeypatch.setenv("WHOLEREPO_HOME", str(tmp_path / "cold-home"))
    cold = _pack(project, budget=3_500)
    assert warm.text == again.text == cold.text != before.text
    assert [(f.path, f.mode, f.tokens) for f in warm.files] == [
        (f.path, f.mode, f.tokens) for f in cold.files
    ]


def test_a_modified_and_staged_file_packs_the_same_cold_and_warm(
    project: Path, tmp_path: Path, monkeypatch
) -> None:
    def change() -> None:
        (project / "src/billing.py").write_text(_module("refund", 9))
        git(project, "add", "src/billing.py")

    _cold_and_warm_after(project, tmp_path, monkeypatch, change)
    assert "refund_step_8" in _pack(project, budget=100_000).text


def test_a_work_tree_edit_not_staged_packs_the_same_cold_and_warm(
    project: Path, tmp_path: Path, monkeypatch
) -> None:
    """The index still holds the old blob id; git reports the file modified, so it is read and hashed."""

    def change() -> None:
        (project / "src/parser.py").write_text(_module("lexer", 8))  # same length as before: parse -> lexer
        (project / "README.md").write_text("# Demo\n\nNow about lexing.\n")

    _cold_and_warm_after(project, tmp_path, monkeypatch, change)
    text = _pack(project, budget=100_000).text
    assert "lexer_step_7" in text and "parse_step_7" not in text and "Now about lexing." in text


def test_questions_on_a_repo_that_fits_give_the_same_pack(project: Path) -> None:
    """Everything fits: the question adds nothing a plain pack lacks, so the whole pack is the stable
    one and a second question reuses all of it from the server's prefix cache."""
    plain = _pack(project, budget=200_000)
    first = _pack(project, budget=200_000, query="invoice billing")
    second = _pack(project, budget=200_000, query="how does the parser parse")
    assert {f.mode for f in first.files} == {Mode.FULL}
    assert first.text == second.text == plain.text
    trailer = first.text.rindex("<commit>")
    assert first.stable_prefix_chars == second.stable_prefix_chars == trailer
    assert 'part="question"' not in first.text
    assert all(f.reason.endswith("stable part") for f in first.files)
