"""Run git as a subprocess and get its raw bytes back. Discovery, changes and the secret prefilter all go
through here so that every call gets the same environment: no pager, no optional index locks (a pack
must never write to the user's .git), and a clear typed error when git is missing or refuses."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from wholerepo.errors import NotAGitRepositoryError, UsageError, WholerepoError

# GIT_OPTIONAL_LOCKS=0: `git status`-like refreshes must not take .git/index.lock while the user works.
# LC_ALL=C keeps git's messages stable for the "not a git repository" check below.
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


# Set by git for hooks (often relative to the hook's cwd): with them, `git -C <another root>` would
# query the hook's repository. Without them git finds the repository from the root, as it should.
_DROPPED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_PREFIX", "GIT_COMMON_DIR")


def git_env() -> dict[str, str]:
    """The environment every git call runs with (GIT_INDEX_FILE stays: review --staged in a
    pre-commit hook must see the index being committed)."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    return {**env, **_GIT_ENV}


def git_argv(*args: str) -> list[str]:
    """argv for one git call; `-c` overrides neutralise user config that would change output formats."""
    return ["git", "-c", "core.quotepath=false", "-c", "color.ui=never", *args]


def run_git(cwd: Path, *args: str, check: bool = True, input_bytes: bytes | None = None) -> bytes:
    """Run `git args...` in `cwd` and return stdout bytes (split on NUL by callers that pass -z)."""
    try:
        done = subprocess.run(
            git_argv(*args), cwd=cwd, env=git_env(), input=input_bytes, capture_output=True, check=False
        )
    except FileNotFoundError as error:
        raise _no_git() from error
    if check and done.returncode != 0:
        raise _failed(cwd, args, done.returncode, done.stderr)
    return done.stdout


def start_git(cwd: Path, *args: str, check: bool = True, input_bytes: bytes = b"") -> Callable[[], bytes]:
    """Start `git args...` and return a call that waits for its stdout: git works on another core while
    this process goes on. Input and output go through temporary files, not pipes, so nothing has to
    feed or drain them meanwhile (a thread doing that would take the GIL from the work it overlaps).
    Without a usable temporary folder it runs git at once, as run_git does."""
    try:
        return _start_git(cwd, args, check, input_bytes)
    except OSError:
        output = run_git(cwd, *args, check=check, input_bytes=input_bytes)
        return lambda: output


def _start_git(cwd: Path, args: tuple[str, ...], check: bool, input_bytes: bytes) -> Callable[[], bytes]:
    with contextlib.ExitStack() as opened:  # the outputs stay open for result() once git runs
        stdout = opened.enter_context(tempfile.TemporaryFile())
        stderr = opened.enter_context(tempfile.TemporaryFile())
        with tempfile.TemporaryFile() as stdin:
            stdin.write(input_bytes)
            stdin.seek(0)
            try:
                process = subprocess.Popen(
                    git_argv(*args), cwd=cwd, env=git_env(), stdin=stdin, stdout=stdout, stderr=stderr
                )
            except FileNotFoundError as error:
                raise _no_git() from error
        outputs = opened.pop_all()

    def result() -> bytes:
        with outputs:
            returncode = process.wait()
            if check and returncode != 0:
                stderr.seek(0)
                raise _failed(cwd, args, returncode, stderr.read())
            stdout.seek(0)
            return stdout.read()

    return result


def _no_git() -> UsageError:
    return UsageError("git is not installed or not on PATH; install git or pass --no-git")


def _failed(cwd: Path, args: tuple[str, ...], returncode: int, stderr: bytes) -> WholerepoError:
    message = stderr.decode(errors="replace").strip().splitlines()
    first = message[-1] if message else f"exit status {returncode}"
    if "not a git repository" in first:
        return NotAGitRepositoryError(
            f"{cwd} is not inside a git repository; run `git init` or pass --no-git"
        )
    if "dubious ownership" in " ".join(message):
        return UsageError(
            f"git refuses {cwd} (dubious ownership); run `git config --global --add safe.directory {cwd}`"
        )
    return WholerepoError(f"`git {' '.join(args)}` failed in {cwd}: {first}")


def split_z(output: bytes) -> list[bytes]:
    """Records of a `-z` listing, without the trailing empty one."""
    return [record for record in output.split(b"\0") if record]


def decode_path(raw: bytes) -> str:
    """git paths are bytes; surrogateescape keeps non-UTF-8 names round-trippable through os.fsencode."""
    return raw.decode("utf-8", "surrogateescape")
