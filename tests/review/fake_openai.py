"""A tiny real HTTP server that speaks the three OpenAI/vLLM routes the review path uses (GET /v1/models,
POST /tokenize, POST /v1/chat/completions) and answers with replies a test queues.

Why it stands in for the model: the embedded 135M model almost never produces a real finding, so the
harness (request shape, schema validation, retry, locating quotes, exit codes, every format) could not be
tested deterministically against it. This server sits behind the real client in wholerepo.runtime.client,
over a real socket, so everything but the model's weights is the production path. One end-to-end test
still runs the real vLLM server (tests/review/test_review_server.py).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str
    finish_reason: str = "stop"


@dataclass
class FakeOpenAI:
    model: str = "fake-reviewer"
    max_model_len: int = 32_768
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def answer(self, content: str | dict[str, Any], finish_reason: str = "stop") -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        self.replies.append(Reply(text, finish_reason))

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "messages" in r and "max_tokens" in r]


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            return None

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": state.model, "object": "model", "max_model_len": state.max_model_len}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(body)
            if self.path == "/tokenize":
                text = "".join(m.get("content", "") for m in body.get("messages", []))
                self._send(200, {"count": len(text) // 4 + 8, "max_model_len": state.max_model_len, "tokens": []})
            elif self.path == "/v1/chat/completions":
                reply = state.replies.popleft() if state.replies else Reply('{"findings": [], "summary": "ok"}')
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "model": state.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content},
                                 "finish_reason": reply.finish_reason}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": len(reply.content) // 4,
                              "total_tokens": 100 + len(reply.content) // 4},
                })
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

    return Handler


class RunningFake:
    """Start on an OS-chosen loopback port; `close()` stops the thread."""

    def __init__(self, state: FakeOpenAI) -> None:
        self.state = state
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        state.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
