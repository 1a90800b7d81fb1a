"""`wholerepo serve`: start, inspect or stop the local vLLM server that model commands reuse."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import typer

from wholerepo.cli.console import err_console, write_result
from wholerepo.cli.edge import exits_cleanly

IDLE_MINUTES = 30.0  # runtime.local.DEFAULT_IDLE_MINUTES written out (a test keeps them equal): importing
# runtime.local for it would pull httpx (~0.1 s) into the start-up of every command and of --help


def _status() -> None:
    from wholerepo.runtime.server import is_healthy, running_server

    record = running_server()
    if record is None:
        write_result(json.dumps({"running": False}))
        err_console().print("no local server runs; start one with `wholerepo serve`")
        return
    healthy = is_healthy(record.base_url)
    write_result(json.dumps({"running": True, "healthy": healthy, **asdict(record), "base_url": record.base_url}, indent=2))
    uptime = (time.time() - record.started_unix) / 60
    err_console().print(f"{record.served_name} at {record.base_url}, pid {record.pid}, up {uptime:.0f} min, "
                        f"{'healthy' if healthy else 'not answering /health'}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @exits_cleanly
    def serve(
        model: str | None = typer.Option(None, "--model", "-m", help="Profile (smollm2, v4-flash, v4-pro), Hugging Face "
                                         "folder or id [default: smollm2 without GPUs, v4-flash with]."),
        port: int | None = typer.Option(None, "--port", help="Port on 127.0.0.1 [default: a free one]."),
        gpus: str | None = typer.Option(None, "--gpus", help="Plan for these GPUs, e.g. 4xH200 [default: found]."),
        max_model_len: int | None = typer.Option(None, "--max-model-len", help="Cap the context [default: the plan's]."),
        idle_minutes: float = typer.Option(IDLE_MINUTES, "--idle-minutes",
                                           help="Stop after this long without requests; 0 keeps it up."),
        status: bool = typer.Option(False, "--status", help="Print the running server's record as JSON."),
        stop: bool = typer.Option(False, "--stop", help="Stop the server this tool started (by its PID)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the vLLM command and exit."),
    ) -> None:
        """Start the local vLLM server and return once it is healthy.

        Example: wholerepo serve --model smollm2 ; wholerepo serve --status ; wholerepo serve --stop
        """
        from wholerepo.runtime.hardware import detect_gpus, parse_gpu_set
        from wholerepo.runtime.local import plan_local_command, start_local_server
        from wholerepo.runtime.server import running_server, stop_server

        if status:
            _status()
            return
        if stop:
            record = running_server()
            stopped = record is not None and stop_server(record)
            err_console().print(f"stopped pid {record.pid}" if stopped and record else "no local server was running")
            return
        found = parse_gpu_set(gpus) if gpus else detect_gpus()
        if dry_run:
            command = plan_local_command(model, port=port or 8000, gpus=found, max_model_len=max_model_len, convert=False)
            write_result(command.shell_text())
            return
        record = start_local_server(model, port=port, gpus=found, idle_minutes=idle_minutes or None,
                                    max_model_len=max_model_len, progress=err_console().print)
        write_result(record.base_url)
