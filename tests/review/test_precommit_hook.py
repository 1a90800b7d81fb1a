"""Contract: the shipped .pre-commit-hooks.yaml works under the real pre-commit framework. The hook repository
is a snapshot of this checkout committed in tmp_path (what a user's `repo:` + `rev:` points at), so
pre-commit builds its own virtualenv and installs wholerepo from it exactly as for a user; the model is the
fake OpenAI server (fake_openai.py says why), reached through the hook's --endpoint argument."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
FINDING = {"category": "bug", "severity": "error", "path": "calc.py", "line": 2, "title": "Division by zero",
           "message": "mean([]) divides by zero", "quote": "return sum(values) / len(values)", "suggestion": ""}

pytestmark = pytest.mark.slow  # pre-commit installs wholerepo into a fresh virtualenv: ~1 minute


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=repo, capture_output=True, check=True)
    return done.stdout.decode().strip()


def _snapshot_checkout(target: Path) -> str:
    """Commit the files git would ship (tracked + untracked, not ignored) into a new repo; return the rev."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    target.mkdir()
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file() and not rel.startswith(("tests/", "bench/")):
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "snapshot")
    return _git(target, "rev-parse", "HEAD")


def _pre_commit(repo: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home)}
    env.pop("CI", None)
    return subprocess.run([str(PRE_COMMIT), "run", *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=540)


def test_shipped_hook_under_pre_commit(tmp_path: Path, make_repo, fake_openai) -> None:
    if not PRE_COMMIT.exists():
        pytest.skip("pre-commit is not installed next to this Python")
    hook_repo = tmp_path / "hook-repo"
    rev = _snapshot_checkout(hook_repo)
    config = {"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [
        {"id": "wholerepo-review", "args": ["--fail-on", "error", "--endpoint", fake_openai.base_url]}]}]}
    repo = make_repo({"calc.py": "def mean(values):\n    return 0\n",
                      ".pre-commit-config.yaml": json.dumps(config)})  # JSON is YAML
    (repo / "calc.py").write_text("def mean(values):\n    return sum(values) / len(values)\n")
    _git(repo, "add", "calc.py")
    (repo / "scratch.py").write_text("UNTRACKED_SCRATCH = 1\n")  # not part of the commit: not reviewed
    home = tmp_path / "pre-commit-home"

    fake_openai.answer({"findings": [FINDING], "summary": "PASS"})
    failed = _pre_commit(repo, "--hook-stage", "manual", "wholerepo-review", home=home)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "wholerepo review" in failed.stdout and "Failed" in failed.stdout
    assert "calc.py:2: error [wholerepo/bug] Division by zero" in failed.stdout
    (chat,) = fake_openai.chat_requests  # one serial call, not one per file
    assert "+    return sum(values) / len(values)" in chat["messages"][0]["content"]
    assert "UNTRACKED_SCRATCH" not in json.dumps(chat["messages"])

    fake_openai.answer({"findings": [], "summary": "fine"})
    passed = _pre_commit(repo, "--hook-stage", "manual", "wholerepo-review", home=home)
    assert passed.returncode == 0 and "Passed" in passed.stdout, passed.stdout + passed.stderr

    # pre-push: the hook reviews exactly the pushed range (PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF)
    _git(repo, "commit", "-q", "-m", "mean")
    fake_openai.answer({"findings": [], "summary": "fine"})
    pushed = _pre_commit(repo, "--hook-stage", "pre-push", "--from-ref", "HEAD~1", "--to-ref", "HEAD",
                         "wholerepo-review", home=home)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "+    return sum(values) / len(values)" in fake_openai.chat_requests[-1]["messages"][0]["content"]
