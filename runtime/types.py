"""Records the runtime hands to jobs: what the server serves, what a chat call cost, what it returned."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of GET /v1/models."""

    name: str
    max_model_len: int | None  # None when the server does not say (non-vLLM servers)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None  # None: the server did not report prompt_tokens_details (unknown, not 0)


@dataclass(frozen=True, slots=True)
class Timings:
    ttft_s: float | None  # seconds from sending to the first answer (or reasoning) text; None if none came
    total_s: float


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    reasoning: str
    usage: Usage
    timings: Timings
    finish_reason: str | None  # "stop", "length", ...
    model: str
