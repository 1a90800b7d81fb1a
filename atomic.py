"""One way to replace a file: write a temporary file in the same folder, then os.replace it. A reader (or
a second process) sees the old file or the new one, never half of either; on any error or Ctrl-C the
temporary file is removed and the exception goes on."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomically(target: Path, chunks: Iterable[bytes], *, sync: bool = False) -> None:
    """Replace `target` with the concatenated chunks. `sync` flushes to disk first (user-visible output);
    caches skip it, since losing a cache entry to a power cut only costs time."""
    folder = target.parent if str(target.parent) else Path(".")
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_bytes_atomically(target: Path, data: bytes) -> None:
    write_atomically(target, (data,))
