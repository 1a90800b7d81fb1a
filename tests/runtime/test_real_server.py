"""Contract, against the real vLLM CPU server with SmolLM2: the client reads the context length, counts
exactly, refuses what cannot fit without sending it, names a missing model, streams, and sees the prefix
cache on a repeated prompt. The local SmolLM2 tokenizer counts exactly what the server counts."""

from __future__ import annotations

import json

import httpx
import pytest
from tokenizers import Tokenizer

from wholerepo.errors import ContextOverflowError, ModelNotFoundError
from wholerepo.runtime.client import complete_chat, count_chat_tokens, select_model
from wholerepo.runtime.endpoint import Endpoint
from wholerepo.runtime.smollm2 import ensure_tokenizer_dir

pytestmark = pytest.mark.server

CODE = "def scale(values, factor):\n    return [v * factor for v in values]\n"


def test_models_endpoint_gives_the_context(llm_server) -> None:
    info = select_model(Endpoint(llm_server.base_url))
    assert (info.name, info.max_model_len) == ("smollm2", 8192)


def test_unknown_model_is_named(llm_server) -> None:
    with pytest.raises(ModelNotFoundError, match="'gpt-9'.*smollm2"):
        complete_chat(Endpoint(llm_server.base_url, model="gpt-9"), [{"role": "user", "content": "hi"}], max_tokens=4)


def test_too_long_prompt_is_refused_with_the_excess(llm_server) -> None:
    endpoint = Endpoint(llm_server.base_url)
    messages = [{"role": "user", "content": CODE * 600}]  # ~12K tokens > 8,192
    tokens = count_chat_tokens(endpoint, "smollm2", messages)
    with pytest.raises(ContextOverflowError, match=f"by {tokens + 64 - 8192:,} tokens"):
        complete_chat(endpoint, messages, max_tokens=64)


def test_repeated_prompt_reports_cached_tokens(llm_server) -> None:
    endpoint = Endpoint(llm_server.base_url)
    messages = [{"role": "user", "content": CODE * 30 + "\nWhat does scale do? (cache probe)"}]
    first = complete_chat(endpoint, messages, max_tokens=4, stream=True)
    second = complete_chat(endpoint, messages, max_tokens=4, stream=True)
    assert first.usage.prompt_tokens == second.usage.prompt_tokens > 600
    assert second.usage.cached_tokens is not None
    assert second.usage.cached_tokens >= second.usage.prompt_tokens - 128  # whole 128-token CPU KV blocks; the last is recomputed
    assert second.timings.ttft_s is not None and second.timings.ttft_s < second.timings.total_s + 1e-9


def test_local_tokenizer_counts_what_the_server_counts(llm_server) -> None:
    text = CODE * 20 + "Ünïcödé, emoji 🎉, tabs\tand CRLF\r\n"
    served = httpx.post(f"{llm_server.base_url}/tokenize",
                        json={"model": "smollm2", "prompt": text, "add_special_tokens": False}).json()["tokens"]
    local = Tokenizer.from_file(str(ensure_tokenizer_dir() / "tokenizer.json")).encode(text, add_special_tokens=False)
    assert local.ids == served


def test_json_schema_response_format_constrains_the_answer(llm_server) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
              "additionalProperties": False}
    result = complete_chat(
        Endpoint(llm_server.base_url), [{"role": "user", "content": "Is 2 + 2 = 4? Answer in JSON."}],
        max_tokens=48, response_format={"type": "json_schema", "json_schema": {"name": "check", "schema": schema}},
    )
    assert result.finish_reason == "stop", result.text
    assert isinstance(json.loads(result.text)["ok"], bool)
