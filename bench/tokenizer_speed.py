"""Tokenizer benchmark and the exhaustive checks behind the V4 fast path.

    python bench/tokenizer_speed.py                  # every text file of the venv: ids and tokens/s, 2 threads
    python bench/tokenizer_speed.py --limit 3000     # a quicker sample
    python bench/tokenizer_speed.py --codepoints     # every verified code point in every context, V4 vs HF
    python bench/tokenizer_speed.py --write-charset > ingest/tokenizer_v4_charset.py

The table compares, on the same files: HF `tokenizers` with V4's tokenizer.json (the reference), the
tiktoken fast path alone (on every file, to show where it would be wrong), the combined "v4" tokenizer
(fast path + routing), and tiktoken o200k/cl100k (checked against quicktok's ids). Mismatches count files
whose ids differ from the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import time
import unicodedata
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported inside the functions at run time: after the thread settings
    import tiktoken

    from wholerepo.ingest.tokenizer_v4 import V4Tokenizer

NUM_THREADS = 2
SUFFIXES = (".py", ".pyi", ".c", ".h", ".json", ".md", ".txt")
MAX_FILE_BYTES = 4_000_000
CHUNK_FILES = 400  # HF keeps offsets and masks per token: compare in chunks to stay under ~1 GB


def corpus_files(root: Path, limit: int | None) -> list[Path]:
    found = [
        Path(folder) / name for folder, _, names in os.walk(root) for name in names if name.endswith(SUFFIXES)
    ]
    found = sorted(p for p in found if p.is_file() and p.stat().st_size <= MAX_FILE_BYTES)
    if limit and len(found) > limit:
        found = found[:: len(found) // limit][:limit]
    return found


def chunks(paths: list[Path]) -> Iterator[list[str]]:
    for start in range(0, len(paths), CHUNK_FILES):
        yield [p.read_bytes().decode("utf-8", "replace") for p in paths[start : start + CHUNK_FILES]]


class Row:
    def __init__(self, name: str) -> None:
        self.name, self.files, self.tokens, self.mismatches, self.seconds = name, 0, 0, 0, 0.0

    def timed(self, run: Callable[[], list[list[int]]]) -> list[list[int]]:
        start = time.perf_counter()
        ids = run()
        self.seconds += time.perf_counter() - start
        self.files += len(ids)
        self.tokens += sum(map(len, ids))
        return ids

    def compare(self, ids: list[list[int]], reference: list[list[int]]) -> None:
        self.mismatches += sum(a != b for a, b in zip(ids, reference, strict=True))

    def line(self) -> str:
        rate = self.tokens / self.seconds / 1e6 if self.seconds else 0.0
        mismatches = f"{self.mismatches:,}" if self.mismatches >= 0 else "not checked"
        return (
            f"| {self.name:<22} | {self.files:>7,} | {self.tokens:>12,} | {mismatches:>11} "
            f"| {self.seconds:>8.1f} | {rate:>6.2f} |"
        )


def hf_ids(v4: V4Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in v4.hf.model.encode_batch_fast(texts, add_special_tokens=False)]


def tiktoken_ids(encoding: tiktoken.Encoding | None, texts: list[str]) -> list[list[int]]:
    assert encoding is not None
    return encoding.encode_ordinary_batch(texts, num_threads=NUM_THREADS)


def use_two_cores() -> None:
    """Two cores for every row, on any machine: HF's pool (read when `tokenizers` is first imported),
    tiktoken's batches, and the thread count wholerepo derives from the CPU affinity."""
    os.environ.setdefault("RAYON_NUM_THREADS", str(NUM_THREADS))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:NUM_THREADS])


def run_table(root: Path, limit: int | None) -> None:
    use_two_cores()
    try:
        import quicktok  # the independent reference for o200k/cl100k ids
    except ImportError:  # e.g. another Python than quicktok's wheel was built for: no id check then
        quicktok = None

    from wholerepo.ingest.tokenizers import get_tokenizer

    paths = corpus_files(root, limit)
    v4 = get_tokenizer("v4")
    assert type(v4).__name__ == "V4Tokenizer"
    v4.can_take_fast_path("")  # type: ignore[attr-defined]  # load outside the timings
    assert v4._fast is not None
    o200k, cl100k = get_tokenizer("o200k"), get_tokenizer("cl100k")
    references = {
        name: quicktok.get_encoding(f"{name}_base") if quicktok else None for name in ("o200k", "cl100k")
    }
    rows = {
        n: Row(n) for n in ("HF tokenizers (V4)", "fast path alone (V4)", "v4 combined", "o200k", "cl100k")
    }
    hf, fast, combined = rows["HF tokenizers (V4)"], rows["fast path alone (V4)"], rows["v4 combined"]
    num_routed = num_chars = 0
    for texts in chunks(paths):
        num_chars += sum(map(len, texts))
        reference = hf.timed(partial(hf_ids, v4, texts))
        fast_ids = fast.timed(partial(tiktoken_ids, v4._fast, texts))
        fast.compare(fast_ids, reference)
        start = time.perf_counter()
        counts = v4.count_many(texts)  # the production path: guard, fast path, HF for the rest
        combined.seconds += time.perf_counter() - start
        combined.files += len(counts)
        combined.tokens += sum(counts)
        routed = [not v4.can_take_fast_path(t) for t in texts]
        num_routed += sum(routed)
        combined.mismatches += sum(
            counts[i] != len(reference[i]) or (not routed[i] and fast_ids[i] != reference[i])
            for i in range(len(texts))
        )
        for name, tokenizer in (("o200k", o200k), ("cl100k", cl100k)):
            ids = rows[name].timed(partial(tiktoken_ids, tokenizer.encoding, texts))  # type: ignore[attr-defined]
            reference_encoding = references[name]
            if reference_encoding is not None:
                rows[name].compare(ids, [list(reference_encoding.encode_ordinary(t)) for t in texts])
            else:
                rows[name].mismatches = -1
        print(f"  {hf.files:,} files ...", file=sys.stderr, flush=True)
    print(
        f"corpus: {root} ({len(paths):,} files, {num_chars / 1e6:.1f} M chars); {NUM_THREADS} threads; "
        f"{num_routed:,} files routed to HF by the v4 guard"
    )
    print("| tokenizer              |   files |       tokens |  mismatches |  seconds | M tok/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows.values():
        print(row.line())


def safe_ranges() -> list[tuple[int, int]]:
    """Code points of Unicode letters, marks, numbers, punctuation, symbols and separators, plus the
    whitespace controls both regex engines agree on."""
    whitespace = "\t\n\x0b\x0c\r\x85"
    ranges: list[tuple[int, int]] = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        if unicodedata.category(ch)[0] in "LMNPSZ" or ch in whitespace:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return ranges


CONTEXTS = (
    "{c}",
    "a{c}",
    "{c}a",
    "!{c}",
    "{c}!",
    " {c}",
    "{c} ",
    "1{c}",
    "{c}1",
    "{c}{c}",
    "\n{c}",
    "{c}\n",
    "{c} a",
    "\u4e2d{c}",
    "{c}\u4e2d",
    "{c}{c}{c}a",
    " {c}{c}",
    " \u3041{c}",
)


def render_charset() -> str:
    def escape(cp: int) -> str:
        return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"

    parts = [escape(a) if a == b else f"{escape(a)}-{escape(b)}" for a, b in safe_ranges()]
    lines, current = [], ""
    for part in parts:
        if len(current) + len(part) > 96:
            lines.append(current)
            current = ""
        current += part
    lines.append(current)
    body = "\n".join(f'    r"{line}"' for line in lines)
    version = unicodedata.unidata_version
    contexts = "\n".join(f"    {json.dumps(c, ensure_ascii=False)}," for c in CONTEXTS)
    return f'''"""Characters on which the V4 fast path (tokenizer_v4.FAST_PATTERN) is verified to give HF's ids.

Generated by `python bench/tokenizer_speed.py --write-charset` (do not edit): every code point that Unicode
{version} (Python's unicodedata) assigns to a letter, mark, number, punctuation, symbol or
separator category, plus the whitespace controls \\t \\n \\v \\f \\r and U+0085. `--codepoints` checks each
of them against HF in 18 contexts. Left out: other controls (U+001C-U+001F are whitespace to Python but
not to the regex engines), format characters (bidi controls, zero-width space), private use,
surrogates and characters unassigned in Unicode {version}: HF keeps those as pieces of
their own where tiktoken's pattern has no match and skips them.
"""

SAFE_CHARS = (
{body}
)

# The contexts each code point is checked in ("{{c}}" is the code point): alone, doubled, beside letters,
# punctuation, spaces, digits, newlines and CJK, which covers every alternative of the pattern.
VERIFY_CONTEXTS = (
{contexts}
)
'''


def check_codepoints() -> None:
    from wholerepo.ingest.tokenizer_v4 import V4Tokenizer, unsafe_char_pattern
    from wholerepo.ingest.tokenizer_v4_charset import VERIFY_CONTEXTS
    from wholerepo.ingest.tokenizers import get_tokenizer

    v4 = get_tokenizer("v4")
    assert isinstance(v4, V4Tokenizer)
    v4.can_take_fast_path("")
    assert v4._fast is not None
    unsafe = unsafe_char_pattern()
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000 and not unsafe.match(chr(c))]
    start, bad = time.perf_counter(), set()
    for first in range(0, len(chars), 5_000):
        part = chars[first : first + 5_000]
        texts = [context.replace("{c}", ch) for ch in part for context in VERIFY_CONTEXTS]
        fast = v4._fast.encode_ordinary_batch(texts, num_threads=NUM_THREADS)
        reference = [e.ids for e in v4.hf.model.encode_batch_fast(texts, add_special_tokens=False)]
        bad |= {part[i // len(VERIFY_CONTEXTS)] for i in range(len(texts)) if fast[i] != reference[i]}
        print(f"  {first + len(part):,} / {len(chars):,}", file=sys.stderr, flush=True)
    print(
        f"{len(chars):,} verified code points x {len(VERIFY_CONTEXTS)} contexts: {len(bad)} differ "
        f"({time.perf_counter() - start:.0f} s)"
    )
    for ch in sorted(bad):
        print(f"  U+{ord(ch):04X} {unicodedata.category(ch)} {unicodedata.name(ch, '?')}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(sysconfig.get_paths()["purelib"]),
        help="folder of text files (default: this Python's site-packages)",
    )
    parser.add_argument("--limit", type=int, default=None, help="use about this many files, spread evenly")
    parser.add_argument("--codepoints", action="store_true", help="check every verified code point")
    parser.add_argument("--write-charset", action="store_true", help="print ingest/tokenizer_v4_charset.py")
    args = parser.parse_args()
    if args.write_charset:
        sys.stdout.write(render_charset())
    elif args.codepoints:
        check_codepoints()
    else:
        run_table(args.corpus, args.limit)


if __name__ == "__main__":
    main()
