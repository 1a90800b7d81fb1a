"""Contract: every tokenizer is the target model's own, works offline, and counts all of the text.

o200k/cl100k must equal OpenAI's encodings (checked against quicktok, an independent implementation of
the same vocabularies) without any download; text that looks like a special token is counted as text.
The V4 fast path must give HF `tokenizers`' ids exactly; see test_tokenizers_v4.py for that.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import quicktok

from wholerepo.errors import UsageError
from wholerepo.ingest.tokenizer_tiktoken import split_at_line_starts
from wholerepo.ingest.tokenizer_v4 import V4Tokenizer, v4_tokenizer_dir
from wholerepo.ingest.tokenizers import get_tokenizer

SITE_PACKAGES = Path(quicktok.__file__).parent.parent


def real_texts(limit_chars: int = 1_500_000) -> list[str]:
    """Real source files of installed packages, some with non-ASCII text: a bounded, fixed sample."""
    texts: list[str] = []
    total = 0
    for package in ("click", "rich", "typer", "jsonschema", "pathspec", "idna", "tiktoken_ext"):
        for path in sorted((SITE_PACKAGES / package).rglob("*")):
            if path.suffix in {".py", ".pyi", ".json", ".md", ".txt"} and path.is_file():
                text = path.read_bytes().decode("utf-8", "replace")
                texts.append(text)
                total += len(text)
                if total > limit_chars:
                    return texts
    return texts


@pytest.mark.parametrize(("name", "quicktok_name"), [("o200k", "o200k_base"), ("cl100k", "cl100k_base")])
def test_openai_encodings_equal_quicktok_on_real_files(name: str, quicktok_name: str) -> None:
    tokenizer = get_tokenizer(name)
    reference = quicktok.get_encoding(quicktok_name)
    texts = real_texts(600_000)
    texts.append(
        'END = "<|endoftext|>"\n'
    )  # quicktok's encode() refuses it like tiktoken's: compare ordinary
    assert [tokenizer.encode(t) for t in texts] == [list(reference.encode_ordinary(t)) for t in texts]
    assert tokenizer.count_many(texts) == [len(reference.encode_ordinary(t)) for t in texts]


def test_known_ids() -> None:
    assert get_tokenizer("o200k").encode("hello world") == [24912, 2375]
    assert get_tokenizer("cl100k").encode("hello world") == [15339, 1917]


def test_openai_encodings_build_without_network(tmp_path: Path) -> None:
    """A fresh process with an empty tiktoken cache and sockets that refuse to connect still builds both
    (tiktoken's own get_encoding would try to download here)."""
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from wholerepo.ingest.tokenizers import get_tokenizer\n"
        "print(get_tokenizer('o200k').count('hello world'), get_tokenizer('cl100k').count('hello world'))\n"
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty"), "DATA_GYM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "2"]
    assert not any(tmp_path.iterdir())  # nothing was written to a download cache


@pytest.mark.parametrize("name", ["o200k", "cl100k", "v4"])
def test_special_token_text_is_counted_not_refused(name: str) -> None:
    tokenizer = get_tokenizer(name)
    text = 'END = "<|endoftext|>"  # <|endofprompt|>\n'
    assert tokenizer.count(text) > 5
    assert tokenizer.count_many([text, ""]) == [tokenizer.count(text), 0]


def test_threaded_batch_equals_one_by_one() -> None:
    tokenizer = get_tokenizer("o200k")
    texts = real_texts(1_200_000)  # over the threading threshold (256 KiB)
    assert sum(map(len, texts)) > 256 * 1024
    assert tokenizer.count_many(texts) == [tokenizer.count(t) for t in texts]


def test_tokenizers_are_built_once_per_process() -> None:
    assert get_tokenizer("o200k") is get_tokenizer("o200k")
    assert get_tokenizer("v4") is get_tokenizer()
    assert get_tokenizer("v4").name == "v4"


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown tokenizer 'gpt5'.*v4, o200k, cl100k, smollm2, hf:<dir>"):
        get_tokenizer("gpt5")


def test_hf_folder_without_tokenizer_json(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no tokenizer.json"):
        get_tokenizer(f"hf:{tmp_path}")


def test_hf_folder_equals_v4(tmp_path: Path) -> None:
    """hf:<dir> loads any tokenizer.json; V4's own file through it gives V4's ids."""
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(v4_tokenizer_dir() / "tokenizer.json", folder / "tokenizer.json")
    tokenizer = get_tokenizer(f"hf:{folder}")
    assert tokenizer.name == f"hf:{folder.resolve()}"
    texts = real_texts(100_000)
    assert tokenizer.count_many(texts) == get_tokenizer("v4").count_many(texts)
    assert tokenizer.encode("def f(x):\n    return x\n") == get_tokenizer("v4").encode(
        "def f(x):\n    return x\n"
    )


@pytest.mark.slow
def test_smollm2_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """SmolLM2's tokenizer comes from the runtime's one-time GGUF extraction (~14 s, shared across tests
    through WHOLEREPO_MODEL_CACHE, as tests/server_fixture.py does)."""
    pytest.importorskip("gguf")
    shared = Path(os.environ.get("WHOLEREPO_MODEL_CACHE", Path("/tmp") / "wholerepo-test-models"))
    monkeypatch.setenv("WHOLEREPO_MODEL_CACHE", str(shared))
    tokenizer = get_tokenizer("smollm2")
    assert tokenizer.name == "smollm2"
    ids = tokenizer.encode("def hello():\n    return 'world'\n")
    assert 5 < len(ids) < 20
    assert tokenizer.count_many(["a b c", "<|im_start|>"]) == [tokenizer.count("a b c"), 1]


def test_no_socket_is_opened_for_v4(monkeypatch: pytest.MonkeyPatch) -> None:
    # Patched to prove the V4 path is offline: a connect attempt fails this test instead of timing out.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    fresh = V4Tokenizer()  # not the per-process one, which an earlier test may have loaded already
    assert fresh.count("print('hi')\n") == fresh.hf.count("print('hi')\n") == 4


@pytest.mark.parametrize("name", ["o200k", "cl100k", "v4"])
def test_one_long_text_counted_in_parts_counts_the_same(name: str) -> None:
    """count() of a whole pack cuts it at line starts to use every core; the sum must be exact."""
    text = "\n".join(real_texts(700_000)) + "\r\nEnd\n\nİstanbul\n"
    parts = split_at_line_starts(text, 16)
    assert len(parts) > 8 and "".join(parts) == text
    tokenizer = get_tokenizer(name)
    assert tokenizer.count(text) == len(tokenizer.encode(text))
