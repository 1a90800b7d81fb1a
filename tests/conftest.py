"""Shared fixtures. Every test gets its own WHOLEREPO_HOME (hermetic user state) and real git repositories
built in tmp_path. The real vLLM server fixture lives in tests/server_fixture.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

# The session-scoped real vLLM server (`llm_server`); resolved through the editable install, which maps `wholerepo` to the checkout.
pytest_plugins = ["wholerepo.tests.server_fixture"]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def wholerepo_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """All user state (caches, server records, config) goes to a fresh folder per test."""
    home = tmp_path_factory.mktemp("wholerepo-home")
    monkeypatch.setenv("WHOLEREPO_HOME", str(home))
    for name in ("WHOLEREPO_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY", "GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    return home


def git(repo: Path, *args: str, input_bytes: bytes | None = None) -> str:
    """Run git in `repo`, fail the test loudly on error, return stdout."""
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=repo, env=env, input=input_bytes, capture_output=True, check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode(errors="surrogateescape")


RepoFactory = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[RepoFactory]:
    """Build a real git repository: `make_repo({"a.py": "x = 1\\n"}, commit=True)`.

    Values may be str or bytes. Pass `commits=[{...}, {...}]` to build history, one commit per mapping
    (a value of None deletes the file).
    """
    counter = {"n": 0}

    def build(
        files: Mapping[str, str | bytes] | None = None,
        *,
        commit: bool = True,
        commits: list[Mapping[str, str | bytes | None]] | None = None,
        name: str | None = None,
    ) -> Path:
        counter["n"] += 1
        repo = tmp_path / (name or f"repo{counter['n']}")
        repo.mkdir(parents=True)
        git(repo, "init", "-q")
        history = list(commits or [])
        if files is not None:
            history.insert(0, files)
        for index, snapshot in enumerate(history):
            write_files(repo, snapshot)
            if commit or index < len(history) - 1:
                git(repo, "add", "-A")
                git(repo, "commit", "-q", "--allow-empty", "-m", f"commit {index}")
        return repo

    yield build


def write_files(repo: Path, files: Mapping[str, str | bytes | None]) -> None:
    for rel, content in files.items():
        target = repo / rel
        if content is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(content.encode())


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests run on the device machine only; here they are reported as skipped, never faked."""
    if any("gpu" in item.keywords for item in items) and not _has_cuda():
        skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU: run on the device machine (see kernels/README.md)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)
