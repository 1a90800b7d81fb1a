"""Token counts on disk, keyed by (git blob sha, tokenizer), so a second pack of an unchanged repository
tokenizes nothing.

One file per tokenizer under paths.cache_dir()/token-counts/. The format is a flat array of fixed-size
records (sha bytes, u32 count) per key length, behind a small header and a CRC32, each read in one
`dict(iter_unpack(...))` call: 11k entries parse in 1.2 ms and 11k lookups take 1.7 ms (best of 7 here;
a pickled dict of hex strings parses no faster, 1.4 ms, and is 2x the size). Writes go to a temp file
that replaces the old one (os.replace is atomic), so a pack killed mid-write leaves the old file; a file
that fails its checks is discarded with a warning and rebuilt.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from wholerepo import paths
from wholerepo.atomic import write_bytes_atomically

MAGIC = b"WRTC"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHH")  # magic, format version, number of sections
SECTION = struct.Struct("<HI")  # key length in bytes, number of records of (key, u32 count)
TRAILER = struct.Struct("<I")  # CRC32 of everything before it
# 4.8 MB. Parsing is not linear here (fresh memory is slow to fault in): 11k entries 1.2 ms, 100k 48-125 ms,
# 400k 0.7-0.9 s on the loaded 2-core machine. A flush keeps this process's entries first.
MAX_ENTRIES = 200_000


def cache_file_for(tokenizer_name: str, folder: Path | None = None) -> Path:
    """File names from tokenizer names such as "hf:/some/dir": keep it readable, make it unique."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in tokenizer_name)
    if safe != tokenizer_name:
        safe = f"{safe[:60]}-{zlib.crc32(tokenizer_name.encode()):08x}"
    return (folder or paths.cache_dir() / "token-counts") / f"{safe}.bin"


def _warn(message: str) -> None:
    print(f"wholerepo: {message}", file=sys.stderr)


def read_counts(file: Path) -> dict[bytes, int]:
    """Parse a cache file; raise ValueError when it is not one we wrote whole."""
    data = file.read_bytes()
    if len(data) < HEADER.size + TRAILER.size:
        raise ValueError("truncated")
    body, (crc,) = data[: -TRAILER.size], TRAILER.unpack(data[-TRAILER.size :])
    if zlib.crc32(body) != crc:
        raise ValueError("checksum mismatch")
    magic, version, num_sections = HEADER.unpack_from(body)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ValueError("not a token-count cache of this version")
    counts: dict[bytes, int] = {}
    at = HEADER.size
    view = memoryview(body)
    for _ in range(num_sections):
        sha_len, num_records = SECTION.unpack_from(body, at)
        at += SECTION.size
        end = at + num_records * (sha_len + 4)
        if sha_len == 0 or end > len(body):
            raise ValueError("record table has the wrong size")
        counts.update(struct.iter_unpack(f"<{sha_len}sI", view[at:end]))
        at = end
    if at != len(body):
        raise ValueError("trailing bytes after the record tables")
    return counts


def write_counts(file: Path, counts: Mapping[bytes, int]) -> None:
    """Write atomically: temp file in the same folder, then os.replace. One section per key length
    (SHA-1 blob ids and derived keys are 20 bytes; blob ids of SHA-256 repositories are 32)."""
    by_length: dict[int, list[tuple[bytes, int]]] = {}
    for sha, count in counts.items():
        by_length.setdefault(len(sha), []).append((sha, count))
    body = bytearray(HEADER.pack(MAGIC, FORMAT_VERSION, len(by_length)))
    for sha_len, records in by_length.items():
        record = struct.Struct(f"<{sha_len}sI")
        body += SECTION.pack(sha_len, len(records))
        for sha, count in records:
            body += record.pack(sha, count)
    body += TRAILER.pack(zlib.crc32(body))
    file.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(file, bytes(body))


class TokenCountCache:
    """(blob sha -> token count) for one tokenizer. Shas are hex strings of 16-64 bytes (SHA-1: 40 digits,
    SHA-256: 64); anything else is simply never cached."""

    def __init__(
        self, tokenizer_name: str, folder: Path | None = None, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.tokenizer_name = tokenizer_name
        self.max_entries = max_entries
        self.file = cache_file_for(tokenizer_name, folder)
        self._counts: dict[bytes, int] = self._load()
        self._fresh: dict[bytes, int] = {}  # put in this process, not yet on disk
        self._used: set[bytes] = set()  # looked up by this process: kept first when the cache is full

    def _load(self) -> dict[bytes, int]:
        try:
            return read_counts(self.file)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, struct.error) as error:
            _warn(f"discarding the damaged token-count cache {self.file} ({error}); it will be rebuilt")
            self.file.unlink(missing_ok=True)
            return {}

    @staticmethod
    def _key(sha: str) -> bytes | None:
        try:
            key = bytes.fromhex(sha)
        except ValueError:
            return None
        return key if 16 <= len(key) <= 64 else None

    def get_many(self, shas: Iterable[str]) -> dict[str, int]:
        """The known counts among `shas`; unknown shas are left out."""
        found: dict[str, int] = {}
        for sha in shas:
            key = self._key(sha)
            if key is None:
                continue
            count = self._counts.get(key)
            if count is not None:
                found[sha] = count
                self._used.add(key)
        return found

    def put_many(self, counts: Mapping[str, int]) -> None:
        for sha, count in counts.items():
            key = self._key(sha)
            if key is not None and 0 <= count < 2**32:
                self._counts[key] = count
                self._fresh[key] = count

    def flush(self) -> None:
        """Merge with what another process may have written since we loaded, then replace the file."""
        if not self._fresh:
            return
        merged = self._load() if self.file.exists() else {}
        merged.update(self._fresh)
        if len(merged) > self.max_entries:
            merged = self._trimmed(merged)
        write_counts(self.file, merged)
        self._counts = merged
        self._fresh = {}

    def _trimmed(self, merged: dict[bytes, int]) -> dict[bytes, int]:
        """Keep what this process used or counted, then the newest-written rest (dicts keep order)."""
        keep = {k: merged[k] for k in self._fresh.keys() | self._used if k in merged}
        room = self.max_entries - len(keep)
        if room > 0:
            rest = [k for k in reversed(merged) if k not in keep][:room]
            keep.update((k, merged[k]) for k in reversed(rest))
        return keep
