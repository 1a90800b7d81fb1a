"""One real vLLM CPU server with SmolLM2 for the whole test run.

Registered from tests/conftest.py with `pytest_plugins = ["tests.server_fixture"]`. Tests that need it take
the `llm_server` fixture (and carry @pytest.mark.server); they talk to it by URL (`--endpoint`,
`Endpoint(llm_server.base_url)`), since each test has its own WHOLEREPO_HOME. The server is started through
the same code as `wholerepo serve` (under a session-wide WHOLEREPO_HOME, no idle watchdog), listens on
127.0.0.1 on a free port, and is stopped by its PID at the end. Its log is printed when a test using it fails
and when it does not start.

The converted model (and SmolLM2's tokenizer) is kept in one folder shared across runs
(WHOLEREPO_MODEL_CACHE), so the one-time 40 s conversion is not repeated per test or per run.
Set WHOLEREPO_TEST_LLM_URL to reuse a SmolLM2 server you already run (saves its 40-250 s start).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REUSE_ENV = "WHOLEREPO_TEST_LLM_URL"  # e.g. http://127.0.0.1:8123 from `wholerepo serve`
MODEL_CACHE = Path(tempfile.gettempdir()) / "wholerepo-test-models"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("WHOLEREPO_MODEL_CACHE", str(MODEL_CACHE))


@dataclass(frozen=True)
class LlmServer:
    base_url: str  # http://127.0.0.1:PORT (no /v1)
    model: str  # served model name: "smollm2"
    max_model_len: int
    pid: int
    log_path: Path
    home: Path  # the WHOLEREPO_HOME whose state folder records this server

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmServer]:
    from wholerepo.runtime.local import start_local_server
    from wholerepo.runtime.profiles import PROFILES
    from wholerepo.runtime.server import log_tail, read_record, stop_server

    home = tmp_path_factory.mktemp("llm-server-home")
    reuse = os.environ.get(REUSE_ENV)
    if reuse:  # a developer's already running SmolLM2 server: not started, not stopped here
        yield LlmServer(reuse.rstrip("/"), "smollm2", PROFILES["smollm2"].context_length, 0, Path("/dev/null"), home)
        return
    with _session_home(home):
        try:
            record = start_local_server("smollm2", gpus=None, idle_minutes=None)
        except Exception as error:
            log = read_record()
            pytest.fail(f"the vLLM CPU server did not start: {error}\n{log_tail(log.log_path, 60) if log else ''}")
    server = LlmServer(record.base_url, record.served_name, PROFILES["smollm2"].context_length, record.pid,
                       Path(record.log_path), home)
    try:
        yield server
    finally:
        with _session_home(home):  # the record to clear lives in the session home, not a test's
            stop_server(record)


@contextmanager
def _session_home(home: Path) -> Iterator[None]:
    previous = os.environ.get("WHOLEREPO_HOME")
    os.environ["WHOLEREPO_HOME"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("WHOLEREPO_HOME", None)
        else:
            os.environ["WHOLEREPO_HOME"] = previous


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Print the server's log under a failing test that used it."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("llm_server")
    if report.failed and isinstance(server, LlmServer):
        report.sections.append(("vLLM server log (last 60 lines)", server.log_tail()))
