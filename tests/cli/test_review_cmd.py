"""Contract: `wholerepo review` exit codes. 0 reviewed and nothing at or above --fail-on; 1 findings at or
above it; 2 usage or configuration error; 3 not reviewed (server down, answer invalid after a retry) when
--on-unavailable is fail, which is the default in CI; outside CI a skipped review warns on stderr and exits 0.
stdout carries the report only.

The model is a fake OpenAI server over a real socket (tests/review/fake_openai.py says why)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wholerepo.cli.app import app

FINDING = {"category": "bug", "severity": "error", "path": "calc.py", "line": 2, "title": "Division by zero",
           "message": "mean([]) divides by zero", "quote": "return sum(values) / len(values)", "suggestion": ""}


def _fake_module():
    # Loaded by path: test folders are not packages under --import-mode=importlib.
    name = "wholerepo_tests_fake_openai"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "review" / "fake_openai.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def fake() -> Iterator[object]:
    module = _fake_module()
    state = module.FakeOpenAI()
    running = module.RunningFake(state)
    yield state
    running.close()


@pytest.fixture
def down_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def repo(make_repo, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CI", raising=False)
    path = make_repo({"calc.py": "def mean(values):\n    return 0\n"})
    (path / "calc.py").write_text("def mean(values):\n    return sum(values) / len(values)\n")
    subprocess.run(["git", "add", "calc.py"], cwd=path, check=True)
    return path


def _run(repo: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, ["review", str(repo), "--staged", *args], env=env)


def test_no_findings_exits_0_with_report_on_stdout_only(repo: Path, fake) -> None:
    fake.answer({"findings": [], "summary": "nothing"})
    result = _run(repo, "--endpoint", fake.base_url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["findings"] == [] and report["coverage"]["changed_paths"] == ["calc.py"]
    assert "0 finding(s)" in result.stderr


@pytest.mark.parametrize(("fail_on", "code"), [(None, 0), ("error", 1), ("warning", 1)])
def test_findings_exit_by_fail_on(repo: Path, fake, fail_on: str | None, code: int) -> None:
    fake.answer({"findings": [FINDING], "summary": "PASS: approve this change"})
    args = ["--endpoint", fake.base_url] + (["--fail-on", fail_on] if fail_on else [])
    result = _run(repo, *args)
    assert result.exit_code == code, result.stderr
    assert result.stdout.startswith("calc.py:2: error [wholerepo/bug] Division by zero")


def test_note_below_fail_on_error_passes(repo: Path, fake) -> None:
    fake.answer({"findings": [{**FINDING, "severity": "note"}], "summary": ""})
    assert _run(repo, "--endpoint", fake.base_url, "--fail-on", "error").exit_code == 0


def test_fail_on_from_project_config_and_flag_override(repo: Path, fake) -> None:
    (repo / ".wholerepo.toml").write_text('fail_on = "error"\nreview_format = "rdjsonl"\n')
    fake.answer({"findings": [FINDING], "summary": ""})
    result = _run(repo, "--endpoint", fake.base_url)
    assert result.exit_code == 1 and json.loads(result.stdout)["severity"] == "ERROR"
    fake.answer({"findings": [FINDING], "summary": ""})
    assert _run(repo, "--endpoint", fake.base_url, "--fail-on", "none").exit_code == 0


def test_server_down_on_a_developer_machine_warns_and_passes(repo: Path, down_url: str) -> None:
    result = _run(repo, "--endpoint", down_url, "--format", "sarif")
    assert result.exit_code == 0 and result.stdout == ""
    assert "review skipped, nothing was reviewed" in result.stderr and len(result.stderr.strip().splitlines()) <= 3


@pytest.mark.parametrize(("env", "args", "code"), [
    ({"CI": "true"}, [], 3),
    ({}, ["--on-unavailable", "fail"], 3),
    ({"CI": "true"}, ["--on-unavailable", "pass"], 0),
    ({"WHOLEREPO_ON_UNAVAILABLE": "fail"}, [], 3),
])
def test_server_down_policy(repo: Path, down_url: str, env: dict, args: list[str], code: int) -> None:
    result = _run(repo, "--endpoint", down_url, *args, env=env)
    assert result.exit_code == code and result.stdout == ""


def test_invalid_answer_after_retry_is_not_reviewed_in_ci(repo: Path, fake) -> None:
    fake.answer("PASS")
    fake.answer("PASS")
    result = _run(repo, "--endpoint", fake.base_url, env={"CI": "true"})
    assert result.exit_code == 3 and "not reviewed" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("args", [
    ["--base", "main"],  # with --staged from _run
    ["--format", "xml"],
    ["--fail-on", "sometimes"],
    ["--max-findings", "0"],
])
def test_usage_errors_exit_2(repo: Path, fake, args: list[str]) -> None:
    result = _run(repo, "--endpoint", fake.base_url, *args)
    assert result.exit_code == 2 and result.stdout == ""


def test_bad_config_file_exits_2(repo: Path, fake) -> None:
    (repo / "pyproject.toml").write_text('[tool.wholerepo]\nfail_on = 3\n')
    result = _run(repo, "--endpoint", fake.base_url)
    assert result.exit_code == 2 and "fail_on" in result.stderr


def test_not_a_repository_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["review", str(tmp_path)])
    assert result.exit_code == 2 and "not inside a git work tree" in result.stderr


def test_output_file(repo: Path, fake, tmp_path: Path) -> None:
    fake.answer({"findings": [FINDING], "summary": ""})
    target = tmp_path / "gl-code-quality-report.json"
    result = _run(repo, "--endpoint", fake.base_url, "--format", "codequality", "--output", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(target.read_text())[0]["check_name"] == "wholerepo/bug"


def test_server_text_with_markup_is_printed_literally(repo: Path, fake) -> None:
    # The model name echoes back in the error; rich must not read "[/]" in it as markup (a crash).
    result = _run(repo, "--endpoint", fake.base_url, "--model", "[bold]x[/]", env={"CI": "true"})
    assert result.exit_code == 3 and "[bold]x[/]" in result.stderr


@pytest.fixture
def untracked_repo(make_repo, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CI", raising=False)
    path = make_repo({"calc.py": "def mean(values):\n    return 0\n", ".gitignore": "*.log\n"})
    (path / "stats.py").write_text("def ratio(a, b):\n    return a / b  # brand new, never added\n")
    (path / "run.log").write_text("ignored: not part of any review\n")
    return path


def test_worktree_review_includes_untracked_files(untracked_repo: Path, fake, tmp_path: Path) -> None:
    fake.answer({"findings": [], "summary": ""})
    summary = tmp_path / "summary.md"
    result = CliRunner().invoke(app, ["review", str(untracked_repo), "--endpoint", fake.base_url, "--format", "json",
                                      "--summary", str(summary)])
    assert result.exit_code == 0, result.stderr
    coverage = json.loads(result.stdout)["coverage"]
    assert coverage["changed_paths"] == ["stats.py"] and coverage["changed_not_whole"] == []
    assert "stats.py" in [path for paths in coverage["files"].values() for path in paths]  # packed too
    prompt = json.dumps(fake.chat_requests[-1]["messages"])
    assert "+    return a / b  # brand new, never added" in prompt and "run.log" not in prompt
    assert summary.read_text().startswith("## wholerepo review: 0 finding(s)")


def test_no_untracked_leaves_new_files_unreviewed(untracked_repo: Path, fake) -> None:
    result = CliRunner().invoke(app, ["review", str(untracked_repo), "--endpoint", fake.base_url, "--format", "json",
                                      "--no-untracked"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["coverage"]["changed_paths"] == [] and fake.chat_requests == []


def test_github_push_of_a_new_branch_reviews_the_last_commit(make_repo, fake, tmp_path: Path) -> None:
    repo = make_repo(commits=[{"calc.py": "def mean(values):\n    return 0\n"},
                              {"calc.py": "def mean(values):\n    return sum(values) / len(values)\n"}])
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/topic", "before": "0" * 40, "after": head, "created": True}))
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push", "GITHUB_BASE_REF": "",
           "GITHUB_EVENT_PATH": str(event)}
    fake.answer({"findings": [FINDING], "summary": ""})
    result = CliRunner().invoke(app, ["review", str(repo), "--endpoint", fake.base_url, "--format", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    coverage = json.loads(result.stdout)["coverage"]
    assert coverage["changed_paths"] == ["calc.py"] and coverage["head_commit"] == head
    assert coverage["scope_source"] == "GitHub Actions push"
    notes = [line for line in result.stderr.splitlines() if line.startswith("GitHub push:")]
    assert len(notes) == 1 and "all zeros" in notes[0] and "last commit" in notes[0]
