"""Contract: `wholerepo pack` writes only the pack to stdout (or atomically to -o), diagnostics to stderr,
and exits 2 with one line on bad input, leaving no partial file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wholerepo.cli.app import app
from wholerepo.cli.pack_cmd import parse_size, write_atomically
from wholerepo.errors import UsageError


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({
        "README.md": "# Tool\n\nDoes things.\n",
        "tool/main.py": "def main() -> int:\n    return 0\n",
        "tool/evil.py": 'S = "</file>]]>"\n',
    })


def _run(*args: str):
    return CliRunner().invoke(app, ["pack", *args], catch_exceptions=False)


def test_stdout_has_only_the_pack(repo: Path) -> None:
    result = _run(str(repo), "--budget", "5000")
    assert result.exit_code == 0
    assert result.stdout.startswith("<pack ") and result.stdout.rstrip().endswith("</pack>")
    assert result.stderr == ""


def test_json_stats_and_tree(repo: Path) -> None:
    result = _run(str(repo), "--budget", "5000", "--format", "json", "--stats", "--tree")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["total_tokens"] <= data["budget"] == 5000
    assert {f["path"] for f in data["files"]} == {"README.md", "tool/main.py", "tool/evil.py"}
    assert "full" in result.stderr and "tool/" in result.stderr


def test_output_file_is_written_whole(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "pack.md"
    result = _run(str(repo), "--budget", "5000", "-f", "markdown", "-o", str(target), "--line-numbers")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "### tool/main.py\n```\n1: def main() -> int:\n" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".pack.md")) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--budget", "5000", "--format", "yaml"],
        ["--budget", "0"],
        ["--budget", "10"],
        ["--query", "a", "--query-file", "q.txt"],
        ["--max-file-size", "lots"],
        ["--model", "gpt-9"],
        ["--no-git", "--diff", "HEAD"],
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_file(repo: Path, tmp_path: Path, args: list[str]) -> None:
    target = tmp_path / "out.xml"
    result = _run(str(repo), "-o", str(target), *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) >= 1
    assert not target.exists()


def test_not_a_repository_is_exit_2(tmp_path: Path) -> None:
    result = _run(str(tmp_path), "--budget", "5000")
    assert result.exit_code == 2
    assert result.stderr.startswith("error:") and "--no-git" in result.stderr
    assert _run(str(tmp_path), "--budget", "5000", "--no-git").exit_code == 0


def test_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "pack.xml"
    target.write_text("old pack\n")

    def chunks() -> Iterator[str]:
        yield "<pack>" + "x" * 100_000  # half the pack is on disk (in the temporary file) ...
        raise KeyboardInterrupt  # ... when Ctrl-C lands

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, chunks())
    assert target.read_text() == "old pack\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pack.xml"]
    with pytest.raises(UsageError):
        write_atomically(tmp_path / "missing" / "pack.xml", ["x"])


def test_sizes() -> None:
    assert parse_size("2M") == 2 << 20
    assert parse_size("512k") == 512 << 10
    assert parse_size("1000") == 1000


def test_query_file_and_another_tokenizer(repo: Path, tmp_path: Path) -> None:
    question = tmp_path / "q.txt"
    question.write_text("where is main?\n")
    result = _run(str(repo), "--budget", "3000", "--query-file", str(question), "--tokenizer", "o200k", "-f", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tokenizer"] == "o200k"
    assert data["total_tokens"] <= 3000


def test_empty_repository_packs_to_a_frame(make_repo) -> None:
    empty = make_repo({}, commit=False)
    result = _run(str(empty), "--budget", "2000", "-f", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["files"] == [] and data["commit"] is None and data["total_tokens"] <= 2000


def test_discovery_flags_reach_the_reader(repo: Path) -> None:
    (repo / "notes.txt").write_text("untracked notes\n")
    base = ["--budget", "3000", "-f", "json"]
    paths = {f["path"] for f in json.loads(_run(str(repo), *base).stdout)["files"]}
    assert paths == {"README.md", "tool/main.py", "tool/evil.py"}
    paths = {f["path"] for f in json.loads(_run(str(repo), *base, "--untracked").stdout)["files"]}
    assert "notes.txt" in paths
    data = json.loads(_run(str(repo), *base, "--exclude", "tool/**").stdout)
    assert {f["path"] for f in data["files"]} == {"README.md"}
    assert {(s["path"], s["reason"]) for s in data["skipped"]} >= {("tool/main.py", "ignored")}
    data = json.loads(_run(str(repo), *base, "--include", "*.md").stdout)
    assert {f["path"] for f in data["files"]} == {"README.md"}
