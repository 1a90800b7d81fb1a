"""The local vLLM server's life: start it detached, wait for /health, record it, report on it, stop it.

The record (state_dir()/server.json) holds PID, port, model and log path. `stop_server` signals only that
PID, and only after checking that the process still runs our command line (a recycled PID is left alone).
vLLM's API process shuts its engine process down on SIGTERM; SIGKILL follows after STOP_GRACE_S.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from wholerepo import paths
from wholerepo.errors import ServerUnreachableError
from wholerepo.runtime.serve_command import ServeCommand

RECORD_NAME = "server.json"
START_TIMEOUT_S = 600.0  # SmolLM2 on 2 busy cores took 40-130 s; V4 weight loading takes much longer
STOP_GRACE_S = 20.0


@dataclass(frozen=True, slots=True)
class ServerRecord:
    pid: int
    port: int
    host: str
    served_name: str
    model: str
    log_path: str
    started_unix: float
    idle_minutes: float | None = None
    watchdog_pid: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def record_path() -> Path:
    return paths.state_dir() / RECORD_NAME


def read_record() -> ServerRecord | None:
    try:
        return ServerRecord(**json.loads(record_path().read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def write_record(record: ServerRecord) -> None:
    scratch = record_path().with_suffix(".tmp")
    scratch.write_text(json.dumps(asdict(record), indent=2))
    scratch.replace(record_path())


def clear_record() -> None:
    record_path().unlink(missing_ok=True)


def is_our_process(pid: int, port: int) -> bool:
    """The PID runs and its command line is a vLLM server on our port (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (macOS): trust the PID
    text = [part.decode(errors="replace") for part in cmdline]
    return any("vllm" in part for part in text) and str(port) in text


def is_healthy(base_url: str, *, timeout_s: float = 2.0) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def find_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def running_server() -> ServerRecord | None:
    """The recorded server if its process is still ours; a stale record is removed."""
    record = read_record()
    if record is None:
        return None
    if is_our_process(record.pid, record.port):
        return record
    clear_record()
    return None


def launch_server(command: ServeCommand, *, port: int, host: str = "127.0.0.1") -> ServerRecord:
    """Start the server detached (its own session, so Ctrl-C in the shell does not reach it)."""
    log_path = paths.state_dir() / f"server-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(command.argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **command.env}, start_new_session=True,
        )
    record = ServerRecord(process.pid, port, host, command.served_name, command.model, str(log_path), time.time())
    write_record(record)
    return record


def wait_until_healthy(record: ServerRecord, *, timeout_s: float = START_TIMEOUT_S, poll_s: float = 1.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_healthy(record.base_url):
            return
        if not _is_alive(record.pid):
            clear_record()
            raise ServerUnreachableError(
                f"the vLLM server exited during start-up; last log lines: {log_tail(record.log_path)} (log: {record.log_path})"
            )
        time.sleep(poll_s)
    raise ServerUnreachableError(
        f"the vLLM server did not become healthy within {timeout_s:.0f} s; see {record.log_path} "
        "or stop it with `wholerepo serve --stop`"
    )


def log_tail(log_path: str, lines: int = 3) -> str:
    try:
        text = Path(log_path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip()[:200] for line in text[-lines:])


def _is_alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reaps it if it is our exited child
        if waited == pid:
            return False
    except ChildProcessError:
        pass  # started by another wholerepo process
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def stop_server(record: ServerRecord) -> bool:
    """SIGTERM the recorded PID (then SIGKILL after STOP_GRACE_S); True if a process was stopped."""
    if record.watchdog_pid and record.watchdog_pid != os.getpid() and _is_watchdog(record.watchdog_pid):
        os.kill(record.watchdog_pid, signal.SIGTERM)
    if not is_our_process(record.pid, record.port):
        clear_record()
        return False
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and _is_alive(record.pid):
        time.sleep(0.2)
    if _is_alive(record.pid):
        os.kill(record.pid, signal.SIGKILL)
    clear_record()
    return True


def _is_watchdog(pid: int) -> bool:
    try:
        return b"wholerepo.runtime.watchdog" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
