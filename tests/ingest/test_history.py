"""Contract: file_churn counts the commits that touched each file and when the last one was, from one git
log call; a shallow clone, an empty repository and a plain folder give what history there is, never an
error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from wholerepo.ingest.history import file_churn


def test_counts_changes_and_last_time(make_repo, tmp_path: Path) -> None:
    repo = make_repo(commits=[{"a.py": "1", "b.py": "1"}, {"a.py": "2"}, {"a.py": "3", "c d.py": "x"}])
    churn = file_churn(repo, ["a.py", "b.py", "c d.py", "never.py"])
    assert churn["a.py"].num_changes == 3
    assert churn["b.py"].num_changes == 1
    assert churn["c d.py"].num_changes == 1
    assert "never.py" not in churn
    assert churn["a.py"].last_changed_unix >= churn["b.py"].last_changed_unix > 0


def test_window_limits_history(make_repo) -> None:
    repo = make_repo(commits=[{"a.py": str(i)} for i in range(5)])
    assert file_churn(repo, ["a.py"], max_commits=2)["a.py"].num_changes == 2


def test_odd_file_names(make_repo) -> None:
    repo = make_repo({"new\nline.py": "x", "ünïcode.py": "y"})
    churn = file_churn(repo, ["new\nline.py", "ünïcode.py"])
    assert set(churn) == {"new\nline.py", "ünïcode.py"}


def test_shallow_clone(make_repo, tmp_path: Path) -> None:
    origin = make_repo(commits=[{"a.py": "1"}, {"a.py": "2"}, {"a.py": "3", "b.py": "b"}])
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)], check=True)
    churn = file_churn(clone, ["a.py", "b.py"])
    assert churn["a.py"].num_changes == 1  # only the one commit the clone has
    assert churn["b.py"].num_changes == 1


def test_empty_repository_and_plain_folder(make_repo, tmp_path: Path) -> None:
    empty = make_repo({"a.py": "x"}, commit=False)
    assert file_churn(empty, ["a.py"]) == {}
    plain = tmp_path / "plain"
    plain.mkdir()
    assert file_churn(plain, ["a.py"]) == {}
