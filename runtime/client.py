"""An OpenAI-compatible chat client for vLLM, on httpx.

Why not the openai package: we need vLLM's own /tokenize and max_model_len, and exact control of failure
modes. Rules from vLLM practice: check the fit with /tokenize before sending (a too-long prompt is never
sent); stream so the first byte proves progress; never retry, because a retried 1M-token prefill costs
minutes (a refused connection fails in milliseconds anyway). Ctrl-C closes the connection, which makes
vLLM abort the request while the server stays up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from wholerepo.errors import (
    ContextOverflowError,
    ModelNotFoundError,
    ModelUnavailableError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamBrokenError,
)
from wholerepo.runtime.endpoint import Endpoint
from wholerepo.runtime.types import ChatResult, ModelInfo, Timings, Usage

Message = dict[str, str]
TextSink = Callable[[str], None]

CONNECT_TIMEOUT_S = 5.0
DEFAULT_TIMEOUT_S = 600.0  # longest silence tolerated while waiting for a byte (prefill of a long prompt)


@contextmanager
def _translated(endpoint: Endpoint, *, streaming: bool = False) -> Iterator[None]:
    """httpx failures become the typed errors the CLI maps to exit codes."""
    try:
        yield
    except httpx.ConnectError as error:
        raise ServerUnreachableError(
            f"no server answers at {endpoint.base_url} ({error}); start one with `wholerepo serve` or check --endpoint"
        ) from None
    except httpx.TimeoutException:
        raise RequestTimeoutError(
            f"{endpoint.base_url} did not answer in time; raise --timeout or use a smaller --budget (not retried)"
        ) from None
    except (httpx.RemoteProtocolError, httpx.ReadError) as error:
        if streaming:
            raise StreamBrokenError(
                f"the server at {endpoint.base_url} closed the stream before the answer was complete ({error}); "
                "check `wholerepo serve --status` and the server log"
            ) from None
        raise ServerUnreachableError(f"the connection to {endpoint.base_url} failed ({error})") from None


def _timeout(read_s: float) -> httpx.Timeout:
    return httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=read_s, write=read_s, pool=CONNECT_TIMEOUT_S)


def _raise_for_status(endpoint: Endpoint, response: httpx.Response, model: str | None) -> None:
    if response.status_code < 400:
        return
    body = response.read().decode("utf-8", errors="replace")
    try:
        detail = json.loads(body)
        message = detail.get("error", {}).get("message") if isinstance(detail.get("error"), dict) else None
        message = message or detail.get("message") or detail.get("detail") or body
    except (json.JSONDecodeError, AttributeError):
        message = body
    message = " ".join(str(message).split())[:300]
    if response.status_code == 404 and model and "model" in message.lower():
        raise ModelNotFoundError(f"{endpoint.base_url} does not serve model {model!r}: {message}")
    if response.status_code in (401, 403):
        raise ModelUnavailableError(f"{endpoint.base_url} refused the API key (HTTP {response.status_code}); set WHOLEREPO_API_KEY")
    if response.status_code == 400 and "context length" in message.lower():
        raise ContextOverflowError(f"the server refused the prompt as too long: {message}; use a smaller --budget")
    raise ModelUnavailableError(f"{endpoint.base_url} answered HTTP {response.status_code}: {message}")


def list_models(endpoint: Endpoint, *, timeout_s: float = 30.0) -> list[ModelInfo]:
    """GET /v1/models; vLLM adds max_model_len to each entry."""
    with _translated(endpoint), httpx.Client(timeout=_timeout(timeout_s)) as http:
        response = http.get(f"{endpoint.base_url}/v1/models", headers=endpoint.headers)
        _raise_for_status(endpoint, response, None)
        entries = response.json().get("data", [])
    return [ModelInfo(str(entry["id"]), entry.get("max_model_len")) for entry in entries]


def select_model(endpoint: Endpoint) -> ModelInfo:
    """The endpoint's model if named and served, else the server's first model."""
    models = list_models(endpoint)
    if not models:
        raise ModelNotFoundError(f"{endpoint.base_url} serves no model; start it with a --model")
    if endpoint.model is None:
        return models[0]
    for info in models:
        if info.name == endpoint.model:
            return info
    served = ", ".join(info.name for info in models)
    raise ModelNotFoundError(f"{endpoint.base_url} does not serve {endpoint.model!r} (it serves: {served}); pick one with --model")


def count_chat_tokens(endpoint: Endpoint, model: str, messages: Sequence[Message]) -> int:
    """Exact prompt tokens, chat template included, from vLLM's POST /tokenize."""
    payload = {"model": model, "messages": list(messages), "add_generation_prompt": True}
    with _translated(endpoint), httpx.Client(timeout=_timeout(120.0)) as http:
        response = http.post(f"{endpoint.base_url}/tokenize", json=payload, headers=endpoint.headers)
        _raise_for_status(endpoint, response, model)
        return int(response.json()["count"])


def check_fit(prompt_tokens: int, max_tokens: int, max_model_len: int | None, *, budget_hint: int | None = None) -> None:
    """Raise ContextOverflowError (before sending) when prompt + answer exceed the server's context."""
    if max_model_len is None or prompt_tokens + max_tokens <= max_model_len:
        return
    excess = prompt_tokens + max_tokens - max_model_len
    hint = f" (e.g. --budget {max(budget_hint - excess, 0):,})" if budget_hint else ""
    raise ContextOverflowError(
        f"prompt is {prompt_tokens:,} tokens; with {max_tokens:,} kept for the answer it exceeds the server's "
        f"{max_model_len:,}-token context by {excess:,} tokens; not sent: pack {excess:,} fewer tokens{hint}"
    )


def _usage_from(raw: dict[str, Any] | None) -> Usage:
    raw = raw or {}
    details = raw.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(int(raw.get("prompt_tokens", 0)), int(raw.get("completion_tokens", 0)), cached)


def complete_chat(
    endpoint: Endpoint,
    messages: Sequence[Message],
    *,
    max_tokens: int,
    temperature: float = 0.0,
    response_format: dict[str, Any] | None = None,
    stream: bool = False,
    on_text: TextSink | None = None,
    on_reasoning: TextSink | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    check_context: bool = True,
    budget_hint: int | None = None,
    extra_body: dict[str, Any] | None = None,
) -> ChatResult:
    """One chat completion. With check_context, the prompt is counted by the server first and refused
    locally (ContextOverflowError) if it cannot fit; the answer streams to on_text when stream=True."""
    info = select_model(endpoint)
    if check_context:
        prompt_tokens = count_chat_tokens(endpoint, info.name, messages)
        check_fit(prompt_tokens, max_tokens, info.max_model_len, budget_hint=budget_hint)
    payload: dict[str, Any] = {
        "model": info.name, "messages": list(messages), "max_tokens": max_tokens, "temperature": temperature,
        "stream": stream, **(extra_body or {}),
    }
    if response_format is not None:
        payload["response_format"] = response_format
    if stream:
        payload["stream_options"] = {"include_usage": True}
    started = time.perf_counter()
    with _translated(endpoint, streaming=stream), httpx.Client(timeout=_timeout(timeout_s)) as http:
        if not stream:
            response = http.post(f"{endpoint.base_url}/v1/chat/completions", json=payload, headers=endpoint.headers)
            _raise_for_status(endpoint, response, info.name)
            return _result_from_body(response.json(), info.name, time.perf_counter() - started)
        with http.stream(
            "POST", f"{endpoint.base_url}/v1/chat/completions", json=payload, headers=endpoint.headers
        ) as response:
            _raise_for_status(endpoint, response, info.name)
            return _read_stream(endpoint, response, info.name, started, on_text, on_reasoning)


def _result_from_body(body: dict[str, Any], model: str, elapsed: float) -> ChatResult:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    reasoning = message.get("reasoning") or message.get("reasoning_content") or ""
    return ChatResult(
        message.get("content") or "", reasoning, _usage_from(body.get("usage")), Timings(elapsed, elapsed),
        choice.get("finish_reason"), model,
    )


def _read_stream(
    endpoint: Endpoint, response: httpx.Response, model: str, started: float,
    on_text: TextSink | None, on_reasoning: TextSink | None,
) -> ChatResult:
    text: list[str] = []
    reasoning: list[str] = []
    usage, finish_reason, first_at, done = Usage(0, 0, None), None, None, False
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # SSE comments and blank keep-alive lines
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            done = True
            break
        chunk = json.loads(data)
        if chunk.get("error"):
            raise StreamBrokenError(f"the server reported an error mid-stream: {chunk['error']}")
        if chunk.get("usage"):
            usage = _usage_from(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            thought = delta.get("reasoning") or delta.get("reasoning_content")
            piece = delta.get("content")
            if (thought or piece) and first_at is None:
                first_at = time.perf_counter()
            if thought:
                reasoning.append(thought)
                if on_reasoning:
                    on_reasoning(thought)
            if piece:
                text.append(piece)
                if on_text:
                    on_text(piece)
            finish_reason = choice.get("finish_reason") or finish_reason
    if not done:
        raise StreamBrokenError(
            f"the stream from {endpoint.base_url} ended without [DONE] after {len(''.join(text))} characters; "
            "the server may have died: check `wholerepo serve --status`"
        )
    ttft = None if first_at is None else first_at - started
    return ChatResult(
        "".join(text), "".join(reasoning), usage, Timings(ttft, time.perf_counter() - started), finish_reason, model,
    )
