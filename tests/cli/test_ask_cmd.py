"""Contract: `wholerepo ask` end to end on a generated repository against the real SmolLM2 server: the
answer on stdout, usage on stderr, --json with files, citations and usage; the second ask on the same
repository reuses the server's prefix cache; each failure exits with its own code."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from wholerepo.cli.app import app

FILES = {
    "src/mathutil.py": 'def add(a, b):\n    """Add two numbers."""\n    return a + b\n\n\n'
                       "def scale(values, factor):\n    return [v * factor for v in values]\n",
    "main.py": "from src.mathutil import add\n\nprint(add(2, 3))\n",
    "README.md": "# Demo\nA tiny repository with math helpers.\n",
}


def _ask(*args: str) -> object:
    return CliRunner().invoke(app, ["ask", *args])


@pytest.mark.server
def test_ask_json_twice_reuses_the_prefix_cache(llm_server, make_repo) -> None:
    repo = make_repo(FILES)
    first = _ask("What does add do?", str(repo), "--endpoint", llm_server.base_url, "--max-tokens", "12", "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["model"] == "smollm2" and report["answer"].strip()
    assert {f["path"] for f in report["files"]} == set(FILES)
    assert report["usage"]["prompt_tokens"] > report["pack_tokens"] > 0
    assert report["usage"]["ttft_s"] is not None and report["usage"]["ttft_s"] <= report["usage"]["total_s"]
    assert 7000 < report["budget"] < 8192 - 12  # the server context minus answer and template
    assert isinstance(report["citations"], list)
    second = _ask("Where is scale defined?", str(repo), "--endpoint", llm_server.base_url, "--max-tokens", "12", "--json")
    assert second.exit_code == 0, second.stderr
    assert json.loads(second.stdout)["usage"]["cached_tokens"] > 0


@pytest.mark.server
def test_ask_streams_the_answer_to_stdout_and_usage_to_stderr(llm_server, make_repo) -> None:
    repo = make_repo(FILES)
    result = _ask("What does this repository do?", str(repo), "--endpoint", llm_server.base_url, "--max-tokens", "8")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    assert "prompt" in result.stderr and "first token" in result.stderr
    assert "prompt" not in result.stdout.split("\n")[-2:]  # no usage line on stdout


@pytest.mark.server
def test_ask_too_long_for_the_context_exits_4_and_suggests_a_budget(llm_server, make_repo) -> None:
    big = "".join(f"def function_{i}(x):\n    return x * {i} + {i * 7}\n\n" for i in range(900))
    repo = make_repo({"big.py": big})
    result = _ask("What is function_3?", str(repo), "--endpoint", llm_server.base_url, "--budget", "30000")
    assert result.exit_code == 4, result.stderr
    assert "not sent" in result.stderr and "--budget" in result.stderr


@pytest.mark.server
def test_ask_for_a_model_the_server_lacks_exits_7(llm_server, make_repo) -> None:
    repo = make_repo(FILES)
    result = _ask("q?", str(repo), "--endpoint", llm_server.base_url, "--model", "gpt-9")
    assert result.exit_code == 7 and "gpt-9" in result.stderr


def test_ask_against_a_closed_port_exits_3(make_repo) -> None:
    repo = make_repo(FILES)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _ask("q?", str(repo), "--endpoint", f"http://127.0.0.1:{port}")
    assert result.exit_code == 3 and "wholerepo serve" in result.stderr


def test_ask_uses_the_endpoint_variable(make_repo, monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-printed")
    result = _ask("q?", str(make_repo(FILES)))
    assert result.exit_code == 3 and f"127.0.0.1:{port}" in result.stderr
    assert "sk-never-printed" not in result.stderr + result.stdout


def test_empty_question_is_a_usage_error(make_repo) -> None:
    result = _ask("  ", str(make_repo(FILES)), "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2


@pytest.mark.server
def test_ctrl_c_cancels_the_request_and_leaves_the_server_up(llm_server, make_repo) -> None:
    repo = make_repo(FILES)
    process = subprocess.Popen(
        [sys.executable, "-m", "wholerepo", "ask", "Explain every function in detail.", str(repo),
         "--endpoint", llm_server.base_url, "--max-tokens", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    process.stdout.read(1)  # the first answer byte: the request is streaming
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert "interrupted" in process.stderr.read().decode()
    assert httpx.get(f"{llm_server.base_url}/health").status_code == 200
    deadline = time.monotonic() + 20
    running = None
    while time.monotonic() < deadline:  # vLLM aborts the request once the connection closes
        metrics = httpx.get(f"{llm_server.base_url}/metrics").text
        running = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                      if line.startswith("vllm:num_requests_running"))
        if running == 0:
            break
        time.sleep(0.5)
    assert running == 0
