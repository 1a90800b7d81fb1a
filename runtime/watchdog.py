"""Idle timeout for the local server: a small detached process that `serve` starts beside vLLM.

Every POLL_S it reads the server's Prometheus /metrics and sums the request counters (finished requests,
prompt tokens, requests running or waiting). When that signature has not changed for the idle time and
nothing is running, it stops the server by its recorded PID and exits. It also exits when the server is
gone or the record names another server. Run: python -m wholerepo.runtime.watchdog --pid P --port N --idle-minutes M
"""

from __future__ import annotations

import argparse
import re
import time

import httpx

from wholerepo.runtime.server import is_our_process, read_record, stop_server

POLL_S = 30.0
COUNTERS = re.compile(
    r"^vllm:(request_success_total|prompt_tokens_total|num_requests_running|num_requests_waiting)\{[^}]*\}\s+(\S+)$",
    re.MULTILINE,
)


def read_activity(base_url: str) -> tuple[float, float] | None:
    """(monotone request counter sum, requests in flight), or None when /metrics cannot be read."""
    try:
        text = httpx.get(f"{base_url}/metrics", timeout=5.0).text
    except httpx.HTTPError:
        return None
    done = in_flight = 0.0
    for name, value in COUNTERS.findall(text):
        if name.startswith("num_requests"):
            in_flight += float(value)
        else:
            done += float(value)
    return done, in_flight


def watch_server(pid: int, port: int, idle_s: float, *, poll_s: float = POLL_S) -> None:
    last_signature: float | None = None
    last_change = time.monotonic()
    while True:
        record = read_record()
        if record is None or record.pid != pid or not is_our_process(pid, port):
            return
        activity = read_activity(record.base_url)
        now = time.monotonic()
        if activity is not None:
            done, in_flight = activity
            if done != last_signature or in_flight > 0:
                last_signature, last_change = done, now
            elif now - last_change >= idle_s:
                stop_server(record)
                return
        time.sleep(poll_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle-minutes", type=float, required=True)
    parser.add_argument("--poll-seconds", type=float, default=POLL_S)
    args = parser.parse_args()
    watch_server(args.pid, args.port, args.idle_minutes * 60, poll_s=args.poll_seconds)


if __name__ == "__main__":
    main()
