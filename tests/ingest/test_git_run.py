"""Contract: start_git runs git beside the caller and answers like run_git: the same stdout for the same
call, the same typed error when git refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from wholerepo.errors import NotAGitRepositoryError
from wholerepo.ingest.git_run import run_git, split_z, start_git


def test_started_git_answers_like_run_git(make_repo) -> None:
    repo = make_repo({".gitattributes": "*.gen linguist-generated\n", "a.gen": "x\n", "b.py": "y\n"})
    listing = b"a.gen\0b.py\0"
    args = ("check-attr", "-z", "--stdin", "linguist-generated")
    answer = start_git(repo, *args, input_bytes=listing)()
    assert answer == run_git(repo, *args, input_bytes=listing)
    assert split_z(answer)[:3] == [b"a.gen", b"linguist-generated", b"set"]


def test_a_refusal_is_raised_when_the_answer_is_asked_for(tmp_path: Path) -> None:
    call = start_git(tmp_path, "rev-parse", "--is-inside-work-tree")
    with pytest.raises(NotAGitRepositoryError):
        call()
    assert start_git(tmp_path, "rev-parse", "--is-inside-work-tree", check=False)() == b""
