"""Where the model is: an OpenAI-compatible base URL, an API key and optionally a model name.

Precedence (highest first): the --endpoint flag, WHOLEREPO_ENDPOINT, OPENAI_BASE_URL. Keys: WHOLEREPO_API_KEY,
then OPENAI_API_KEY, else "EMPTY" (what a keyless vLLM accepts). The key never appears in repr or messages.
No explicit endpoint means "the local server": the caller reuses or starts it (runtime.local).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wholerepo.errors import ConfigError

ENDPOINT_VARS = ("WHOLEREPO_ENDPOINT", "OPENAI_BASE_URL")
KEY_VARS = ("WHOLEREPO_API_KEY", "OPENAI_API_KEY")
DEFAULT_API_KEY = "EMPTY"


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str  # scheme://host:port, without /v1
    api_key: str = field(default=DEFAULT_API_KEY, repr=False)
    model: str | None = None  # None: the server's only (first) model

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"endpoint {self.base_url!r} is not an http(s) URL; pass e.g. http://127.0.0.1:8000")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def with_model(self, model: str | None) -> Endpoint:
        return Endpoint(self.base_url, self.api_key, model)


def normalize_base_url(url: str) -> str:
    """Accept http://host:8000, http://host:8000/ and http://host:8000/v1 (what OPENAI_BASE_URL holds)."""
    url = url.strip().rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def resolve_endpoint(url: str | None = None, *, model: str | None = None) -> Endpoint | None:
    """The configured remote endpoint, or None when the local server should be used."""
    source = url or next((os.environ[name] for name in ENDPOINT_VARS if os.environ.get(name)), None)
    if not source:
        return None
    return Endpoint(normalize_base_url(source), api_key_from_env(), model)


def api_key_from_env() -> str:
    return next((os.environ[name] for name in KEY_VARS if os.environ.get(name)), DEFAULT_API_KEY)
