"""Reuse or start the local server, and decide which endpoint a model command talks to.

`connect_endpoint` is what ask/review call: an explicit endpoint (--endpoint, WHOLEREPO_ENDPOINT,
OPENAI_BASE_URL) wins; otherwise the running local server is reused; otherwise the local default is started
(SmolLM2 on the CPU build where no GPU is present, v4-flash on GPU hosts). Starting is serialised by a lock
file, so two commands launched together start one server, not two.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from wholerepo import paths
from wholerepo.errors import UsageError
from wholerepo.runtime.endpoint import Endpoint, api_key_from_env, resolve_endpoint
from wholerepo.runtime.hardware import GpuSet, detect_gpus
from wholerepo.runtime.profiles import PROFILES, Engine
from wholerepo.runtime.serve_command import ServeCommand, build_serve_command
from wholerepo.runtime.server import (
    ServerRecord,
    find_free_port,
    is_healthy,
    launch_server,
    running_server,
    stop_server,
    wait_until_healthy,
    write_record,
)

DEFAULT_IDLE_MINUTES = 30.0  # an auto-started server goes away half an hour after its last request
Progress = Callable[[str], None]


@contextmanager
def _start_lock() -> Iterator[None]:
    with open(paths.state_dir() / ".serve.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def plan_local_command(
    model: str | None, *, port: int, gpus: GpuSet | None, max_model_len: int | None = None, convert: bool
) -> ServeCommand:
    """The command for `model` here; with convert, the SmolLM2 folder is built first (once)."""
    model_dir = None
    profile = PROFILES.get(model or ("v4-flash" if gpus else "smollm2"))
    if convert and profile is not None and profile.engine is Engine.CPU:
        from wholerepo.runtime.smollm2 import ensure_model_dir

        model_dir = ensure_model_dir()
    return build_serve_command(model, gpus=gpus, port=port, max_model_len=max_model_len, model_dir=model_dir)


def start_local_server(
    model: str | None = None,
    *,
    port: int | None = None,
    gpus: GpuSet | None = None,
    idle_minutes: float | None = DEFAULT_IDLE_MINUTES,
    max_model_len: int | None = None,
    progress: Progress | None = None,
) -> ServerRecord:
    """Start (or reuse) the local server and return once /health answers."""
    say = progress or (lambda _message: None)
    with _start_lock():
        current = running_server()
        if current is not None:
            wanted = model or current.served_name
            if wanted not in (current.served_name, current.model):
                raise UsageError(
                    f"a local server already serves {current.served_name!r}; stop it with `wholerepo serve --stop` "
                    f"before serving {wanted!r}"
                )
            wait_until_healthy(current)
            return current
        gpus = gpus if gpus is not None else detect_gpus()
        chosen_port = port or find_free_port()
        if (model or ("v4-flash" if gpus else "smollm2")) == "smollm2":
            from wholerepo.runtime.smollm2 import is_model_ready

            if not is_model_ready():
                say("converting SmolLM2 from its GGUF into the user cache (once, about 30 s)")
        command = plan_local_command(model, port=chosen_port, gpus=gpus, max_model_len=max_model_len, convert=True)
        say(f"starting vLLM ({command.served_name}) on 127.0.0.1:{chosen_port}")
        record = launch_server(command, port=chosen_port)
        try:
            wait_until_healthy(record)
        except BaseException:
            stop_server(record)  # Ctrl-C or a failed start leaves nothing behind
            raise
        if idle_minutes:
            record = replace(record, idle_minutes=idle_minutes, watchdog_pid=_start_watchdog(record, idle_minutes))
            write_record(record)
        say(f"vLLM ready at {record.base_url} (log: {record.log_path})")
        return record


def _start_watchdog(record: ServerRecord, idle_minutes: float) -> int:
    process = subprocess.Popen(
        [sys.executable, "-m", "wholerepo.runtime.watchdog", "--pid", str(record.pid), "--port", str(record.port),
         "--idle-minutes", str(idle_minutes)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    return process.pid


def connect_endpoint(url: str | None = None, *, model: str | None = None, progress: Progress | None = None) -> Endpoint:
    """The endpoint a model command should use (see the module docstring)."""
    remote = resolve_endpoint(url, model=model)
    if remote is not None:
        return remote
    current = running_server()
    if current is not None and is_healthy(current.base_url):
        name = current.served_name if model in (None, current.served_name, current.model) else model
        return Endpoint(current.base_url, api_key_from_env(), name)
    record = start_local_server(model, progress=progress)
    return Endpoint(record.base_url, api_key_from_env(), record.served_name)
