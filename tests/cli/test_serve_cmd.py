"""Contract: `serve` prints the exact vLLM command on --dry-run, refuses hardware that cannot serve a model
(exit 2, naming what would work), reports the running server on --status, and --stop signals only the
process it recorded, after checking that the PID still runs a vLLM server on that port."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from wholerepo.cli.app import app
from wholerepo.runtime.server import ServerRecord, read_record, write_record


def _serve(*args: str) -> object:
    return CliRunner().invoke(app, ["serve", *args])


def test_dry_run_prints_the_cpu_command() -> None:
    result = _serve("--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "-m vllm.entrypoints.launchers.api_server.entry" in result.stdout
    assert "--served-model-name smollm2" in result.stdout and "--enable-prompt-tokens-details" in result.stdout


def test_dry_run_for_named_gpus_prints_the_recipe() -> None:
    result = _serve("--dry-run", "--model", "v4-pro", "--gpus", "8xB200")
    assert result.exit_code == 0, result.stderr
    assert "--data-parallel-size 8 --enable-expert-parallel" in result.stdout
    assert "--attention_config.use_fp4_indexer_cache=True" in result.stdout


def test_one_h200_is_refused_for_flash() -> None:
    result = _serve("--dry-run", "--model", "v4-flash", "--gpus", "1xH200")
    assert result.exit_code == 2 and "2xH200" in result.stderr


def _sleeper(*argv_tail: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *argv_tail])


def test_stop_signals_the_recorded_server_only() -> None:
    # A real process standing in for vLLM: stop_server checks the command line names vllm and the port.
    target = _sleeper("vllm", "--port", "45678")
    try:
        write_record(ServerRecord(target.pid, 45678, "127.0.0.1", "smollm2", "m", "/dev/null", time.time()))
        result = _serve("--stop")
        assert result.exit_code == 0 and f"stopped pid {target.pid}" in result.stderr
        assert target.wait(timeout=10) is not None
        assert read_record() is None
    finally:
        if target.poll() is None:
            target.kill()


def test_stop_leaves_a_recycled_pid_alone() -> None:
    stranger = _sleeper("not-a-model-server")
    try:
        write_record(ServerRecord(stranger.pid, 45679, "127.0.0.1", "smollm2", "m", "/dev/null", time.time()))
        result = _serve("--stop")
        assert result.exit_code == 0 and "no local server" in result.stderr
        time.sleep(0.3)
        assert stranger.poll() is None  # still running
        assert read_record() is None  # the stale record is gone
    finally:
        stranger.kill()


def test_status_without_a_server() -> None:
    result = _serve("--status")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"running": False}


@pytest.mark.server
def test_status_reports_the_running_server(llm_server, monkeypatch) -> None:
    if not llm_server.pid:
        pytest.skip("WHOLEREPO_TEST_LLM_URL: the reused server has no record here")
    monkeypatch.setenv("WHOLEREPO_HOME", str(llm_server.home))
    result = _serve("--status")
    status = json.loads(result.stdout)
    assert status["running"] and status["healthy"] and status["pid"] == llm_server.pid
    assert status["base_url"] == llm_server.base_url and status["served_name"] == "smollm2"
