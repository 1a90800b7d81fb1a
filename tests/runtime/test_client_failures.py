"""Contract: every way a model call can fail ends in its own typed error (and exit code), never a hang, a
traceback or a silently short answer. Each case runs against a real socket: a closed port, or a tiny HTTP
server in this file that misbehaves in one specific way."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from wholerepo.errors import (
    ContextOverflowError,
    ModelNotFoundError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamBrokenError,
)
from wholerepo.runtime.client import check_fit, complete_chat, select_model
from wholerepo.runtime.endpoint import Endpoint, normalize_base_url, resolve_endpoint

MESSAGES = [{"role": "user", "content": "hi"}]
Handler = Callable[[socket.socket, str], None]


def _json_response(conn: socket.socket, body: object) -> None:
    data = json.dumps(body).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s" % (len(data), data))


def _models(conn: socket.socket) -> None:
    _json_response(conn, {"data": [{"id": "tiny", "max_model_len": 4096}]})


def _read_request(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return head.split(b"\r\n")[0].decode()


@pytest.fixture
def tiny_server() -> Iterator[Callable[[Handler], str]]:
    """Start a one-thread HTTP server whose chat endpoint is `handler`; yields its base URL."""
    sockets: list[socket.socket] = []

    def start(chat: Handler) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sockets.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    line = _read_request(conn)
                    if line.startswith("GET /v1/models"):
                        _models(conn)
                    elif line.startswith("POST /tokenize"):
                        _json_response(conn, {"count": 5, "max_model_len": 4096})
                    else:
                        chat(conn, line)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in sockets:
        listener.close()


def _sse(conn: socket.socket, events: list[str], *, chunked: bool) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    conn.sendall(head + (b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Connection: close\r\n\r\n"))
    for event in events:
        payload = f"data: {event}\n\n".encode()
        conn.sendall(b"%x\r\n%s\r\n" % (len(payload), payload) if chunked else payload)


def _delta(text: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def test_closed_port_is_unreachable() -> None:
    with socket.socket() as probe:  # bind then close: a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServerUnreachableError, match="wholerepo serve"):
        complete_chat(Endpoint(f"http://127.0.0.1:{port}"), MESSAGES, max_tokens=8)


def test_server_dying_mid_chunk_is_a_broken_stream(tiny_server) -> None:
    def die(conn: socket.socket, _line: str) -> None:
        _sse(conn, [_delta("The answer is")], chunked=True)  # then the socket closes mid-body

    received: list[str] = []
    with pytest.raises(StreamBrokenError, match="closed the stream"):
        complete_chat(Endpoint(tiny_server(die)), MESSAGES, max_tokens=8, stream=True, on_text=received.append)
    assert received == ["The answer is"]  # what arrived was shown, then the failure


def test_stream_ending_without_done_is_a_broken_stream(tiny_server) -> None:
    def stop_early(conn: socket.socket, _line: str) -> None:
        _sse(conn, [_delta("partial")], chunked=False)

    with pytest.raises(StreamBrokenError, match="without \\[DONE\\]"):
        complete_chat(Endpoint(tiny_server(stop_early)), MESSAGES, max_tokens=8, stream=True)


def test_complete_stream_reports_usage_and_first_token_time(tiny_server) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}}

    def good(conn: socket.socket, _line: str) -> None:
        _sse(conn, [_delta("a"), _delta("b"), json.dumps({"choices": [], "usage": usage}), "[DONE]"], chunked=True)
        conn.sendall(b"0\r\n\r\n")

    result = complete_chat(Endpoint(tiny_server(good)), MESSAGES, max_tokens=8, stream=True)
    assert result.text == "ab" and result.usage.cached_tokens == 4 and result.usage.prompt_tokens == 5
    assert result.timings.ttft_s is not None and result.timings.ttft_s <= result.timings.total_s


def test_silent_server_times_out_without_retry(tiny_server) -> None:
    calls: list[str] = []

    def hang(conn: socket.socket, line: str) -> None:
        calls.append(line)
        conn.recv(1)  # returns when the client gives up and closes

    with pytest.raises(RequestTimeoutError, match="not retried"):
        complete_chat(Endpoint(tiny_server(hang)), MESSAGES, max_tokens=8, timeout_s=0.5)
    assert len(calls) == 1


def test_model_missing_from_server(tiny_server) -> None:
    url = tiny_server(lambda conn, line: None)
    with pytest.raises(ModelNotFoundError, match="'other'.*tiny"):
        select_model(Endpoint(url, model="other"))


def test_prompt_too_long_is_refused_before_sending(tiny_server) -> None:
    sent: list[str] = []
    url = tiny_server(lambda conn, line: sent.append(line))
    with pytest.raises(ContextOverflowError, match="by 909 tokens"):
        complete_chat(Endpoint(url), MESSAGES, max_tokens=5_000)  # 5 prompt + 5,000 > 4,096
    assert sent == []
    with pytest.raises(ContextOverflowError, match="--budget 1,000"):
        check_fit(7_000, 1_000, 7_000, budget_hint=2_000)


def test_endpoint_precedence_and_key_hiding(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-var:1/v1")
    monkeypatch.setenv("WHOLEREPO_ENDPOINT", "http://wholerepo-var:2/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    endpoint = resolve_endpoint()
    assert endpoint is not None and endpoint.base_url == "http://wholerepo-var:2"
    assert "sk-secret" not in repr(endpoint) and endpoint.api_key == "sk-secret"
    assert resolve_endpoint("http://flag:3").base_url == "http://flag:3"
    assert normalize_base_url("http://h:8000/v1/") == "http://h:8000"
