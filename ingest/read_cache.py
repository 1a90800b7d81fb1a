"""What reading decided about a file's content, on disk, keyed by the content's blob id and the path, so a
second pack of an unchanged repository neither classifies nor scans for secrets again, nor (for files
git reports clean) reads them at all: read_known.py keys them by the index's blob id, loads text lazily.

Per file a warm read of ruff (10k files, 77 MB) spent ~0.13 s classifying content, ~0.09 s scanning for
secret triggers and ~0.16 s redacting the 38 files that had one; a lookup costs ~1 us. The key is the
blob id of the bytes as read (git's own id when the work tree matches the index, else hashed), so an
edited file misses the cache whatever its timestamps say. The path is part of the key because config
rules depend on it; the options that change a verdict (keep_* flags, redact) are too.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import NamedTuple

from wholerepo import paths
from wholerepo.atomic import write_bytes_atomically
from wholerepo.ingest.pickle_store import load_pickled_dict
from wholerepo.ingest.types import SkipReason

STORE_VERSION = 2  # bump when classify_content, has_secret_trigger or redact_secrets change what they decide
MAX_ENTRIES = 300_000  # ~30 MB of pickle at most; past it a flush keeps only this run's entries


class ContentVerdict(NamedTuple):
    """A skip (reason and detail), or a kept file: invalid UTF-8 or not, and its redaction if it had one.
    A NamedTuple, not a frozen dataclass: 10k of them unpickle in ~5 ms, dataclasses in ~70 ms."""

    skip: SkipReason | None = None
    detail: str = ""
    invalid_utf8: bool = False
    num_redactions: int = 0
    redacted_text: str | None = None  # the whole redacted text: only the few files with secrets carry it
    redacted_sha: str | None = None
    # what lets read_known.py hand out a kept file without reading it (types.lazy_source_file): its
    # size, checked against the work tree's (CRLF conversion changes it), and len/newlines of its text
    size_bytes: int = -1
    num_chars: int = -1
    num_newlines: int = -1


class ReadCache:
    """key -> ContentVerdict, one pickle under paths.cache_dir(); missing or damaged: start empty. Loaded
    on first use: a read that read_memo.py answers whole never needs it (~15-25 ms on ruff)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or paths.cache_dir()
        self._file = self.folder / f"read-verdicts-v{STORE_VERSION}.pickle"
        self._loaded: dict[str, ContentVerdict] | None = None
        self._used: set[str] = set()
        self._dirty = False

    @property
    def _entries(self) -> dict[str, ContentVerdict]:
        if self._loaded is None:
            self._loaded = load_pickled_dict(self._file)
        return self._loaded

    @staticmethod
    def key(content_sha: str, path: str, options_key: str) -> str:
        return f"{content_sha}\0{options_key}\0{path}"

    def get(self, key: str) -> ContentVerdict | None:
        verdict = self._entries.get(key)
        if verdict is not None:
            self._used.add(key)
        return verdict

    def put(self, key: str, verdict: ContentVerdict) -> None:
        self._entries[key] = verdict
        self._used.add(key)
        self._dirty = True

    def flush(self) -> None:
        """Write atomically (temp file + rename): two packs at once lose entries, never the file."""
        if not self._dirty:
            return
        if len(self._entries) > MAX_ENTRIES:
            self._loaded = {k: v for k, v in self._entries.items() if k in self._used}
        data = pickle.dumps(self._entries, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(self._file, data)
        except OSError:
            return  # a read-only cache folder costs speed, never the pack
        self._dirty = False
