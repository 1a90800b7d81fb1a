"""A file git reports clean (its index blob id is valid for the work-tree file) whose verdict read_cache
already holds is not read at all: one lstat checks that it is still a regular file of the size the
verdict recorded (CRLF conversion on checkout changes the size; then read.py reads and hashes it as
before), and its SourceFile loads its text on first use (types.lazy_source_file) through WorkTreeText.
A warm pack of ruff (10k files, 77 MB) so reads only the ~300 files it packs in full, and skips most
of ~0.2 s of open/read/decode (0.1-0.15 s CPU saved, measured contended). Also the byte-level helpers
read.py shares: read_all and decode_text.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from wholerepo.errors import WholerepoError
from wholerepo.ingest.read_cache import ContentVerdict, ReadCache
from wholerepo.ingest.types import DiscoveredFile, SkippedFile, SourceFile, lazy_source_file

OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class WorkTreeText:
    """The TextLoader of lazy SourceFiles: reads and decodes a work-tree file when its text is needed."""

    root: str

    def load_text(self, path: str) -> str:
        try:
            fd = os.open(f"{self.root}/{path}", OPEN_FLAGS)
            try:
                data = read_all(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
        except OSError as error:
            why = error.strerror or error
            raise WholerepoError(
                f"{path} could not be read while packing ({why}); run the pack again"
            ) from error
        return decode_text(data)[0]


def read_known(
    root: str,
    found: DiscoveredFile,
    max_file_bytes: int | None,
    lazy: tuple[str, WorkTreeText],  # (the verdict options' cache key, the loader of lazy texts)
    cache: ReadCache,
) -> SourceFile | SkippedFile | None:
    """The outcome of a file git reports clean and the cache has a verdict for, without reading it; None
    when it must be read (unknown, a link, a size the verdict does not match, over the cap)."""
    if found.blob_sha is None or found.is_symlink:
        return None
    options_key, loader = lazy
    known = cache.get(ReadCache.key(found.blob_sha, found.path, options_key))
    return None if known is None else outcome_of(root, found, max_file_bytes, loader, known)


def outcome_of(
    root: str, found: DiscoveredFile, max_file_bytes: int | None, loader: WorkTreeText, known: ContentVerdict
) -> SourceFile | SkippedFile | None:
    """read_known's answer once the verdict for `found`'s index blob is known (from the cache, or from
    read_memo.py): checks the work-tree file's size (git's index has it for most clean files, see
    discover.py; else one lstat), None when it must be read."""
    if found.blob_sha is None or found.is_symlink or known.size_bytes < 0:
        return None
    size = found.index_size
    if size is None:
        try:
            info = os.lstat(f"{root}/{found.path}")
        except OSError:
            return None  # read.py's _read_one says why
        if not stat.S_ISREG(info.st_mode):
            return None
        size = info.st_size
    if (max_file_bytes is not None and size > max_file_bytes) or size != known.size_bytes:
        return None
    if known.skip is not None:
        return SkippedFile(found.path, known.skip, known.detail)
    if known.redacted_text is not None and known.redacted_sha is not None:
        return SourceFile(
            found.path, known.redacted_text, size, known.redacted_sha, origin=found.origin,
            invalid_utf8=known.invalid_utf8, num_redactions=known.num_redactions,
        )  # fmt: skip
    if known.num_chars < 0:
        return None
    stats = (known.num_chars, known.num_newlines)
    return lazy_source_file(
        found.path, loader, size, found.blob_sha, stats, origin=found.origin, invalid_utf8=known.invalid_utf8
    )


def read_all(fd: int, size: int) -> bytes:
    """One read() for files under the cap; a loop for the rare file above Linux's 2 GiB per call."""
    data = os.read(fd, size)
    if len(data) < size:
        chunks = [data]
        while chunk := os.read(fd, size - sum(map(len, chunks))):
            chunks.append(chunk)
        data = b"".join(chunks)
    return data


def decode_text(data: bytes) -> tuple[str, bool]:
    """(text, invalid_utf8). UTF-16 only with its BOM: without one, UTF-16 has NULs and is binary."""
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True
