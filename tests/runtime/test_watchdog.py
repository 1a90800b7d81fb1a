"""Contract: the idle watchdog stops the recorded server only after its request counters stop moving,
never while a request runs, and it stops it by PID.

The "server" here is a real process whose command line names vllm and the port (what stop_server checks
before signalling) plus a real HTTP server in this test serving /metrics: a real vLLM start costs ~40 s,
and the watchdog only reads /metrics and signals a PID."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wholerepo.runtime.server import ServerRecord, read_record, write_record
from wholerepo.runtime.watchdog import read_activity, watch_server


class _Metrics:
    def __init__(self) -> None:
        self.done = 0.0
        self.running = 0.0


def _serve_metrics(state: _Metrics) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = (
                f'vllm:num_requests_running{{engine="0",model_name="m"}} {state.running}\n'
                f'vllm:request_success_total{{engine="0",finished_reason="stop",model_name="m"}} {state.done}\n'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_idle_server_is_stopped_busy_one_is_not() -> None:
    state = _Metrics()
    http = _serve_metrics(state)
    port = http.server_address[1]
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "vllm", str(port)])
    try:
        write_record(ServerRecord(target.pid, port, "127.0.0.1", "m", "m", "/dev/null", time.time()))
        assert read_activity(f"http://127.0.0.1:{port}") == (0.0, 0.0)
        state.running = 1.0  # a request in flight: never idle
        watcher = threading.Thread(target=watch_server, args=(target.pid, port, 0.5), kwargs={"poll_s": 0.1})
        watcher.start()
        time.sleep(1.5)
        assert target.poll() is None
        state.running, state.done = 0.0, 1.0
        watcher.join(timeout=10)
        assert not watcher.is_alive()
        assert target.wait(timeout=5) is not None
        assert read_record() is None
    finally:
        if target.poll() is None:
            target.kill()
        http.shutdown()
