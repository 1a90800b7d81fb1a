"""The read stage's memo: what the last read of this root decided for each file git reports clean, so an
unchanged tree is neither matched against path rules nor classified by path nor looked up in the
verdict cache again (ruff, 11k files: ~0.05-0.1 s of a warm pack's read).

Why it cannot go stale:
- An entry holds the index blob id it was decided for, and is used only for a file git reports clean
  (DiscoveredFile.blob_sha set: the work tree matches the index) with that same blob id and no symlink.
  Editing, adding, deleting or staging a file changes or clears its blob id: it is decided afresh.
  Untracked files (`--untracked`) and symlinks have no blob id here: never memoised.
- A verdict that lets the file go unread is checked as read_known.py checks it (one lstat: still a
  regular file, the recorded size, under the cap), by the same code (read_known.outcome_of). A file
  that was over the size cap is opened and measured again (read._read_one), as before.
- Everything else an entry depends on is in the memo's key, and a key that differs empties it: the
  read options (keep_* flags, redaction, size cap, --include/--exclude), the text of every
  .wholerepoignore (ignore_rules.PathRules.fingerprint), the root, the wholerepo version, the verdict
  store's version and the size and mtime of the modules that decide (a code change).
- linguist attributes (.gitattributes) are not memoised: `git check-attr` runs every time and read.py
  applies its answer after the memo, as it did before. .gitignore only changes which untracked files
  discovery lists. The tokenizer plays no part in reading.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from wholerepo import __version__
from wholerepo.atomic import write_bytes_atomically
from wholerepo.ingest.pickle_store import load_pickled_dict
from wholerepo.ingest.read_cache import STORE_VERSION, ContentVerdict

MEMO_VERSION = 1
RULED, BY_PATH, KNOWN, TOO_LARGE = 0, 1, 2, 3  # the kinds of entry (see read.py's loop)
# the modules whose code decides what an entry says: a change to any of them empties the memo
_DECIDERS = (
    "classify.py", "ignore_rules.py", "read.py", "read_cache.py", "read_known.py", "read_memo.py", "redact.py",
    "secret_detectors.py", "types.py",
)  # fmt: skip

# (index blob id, kind, verdict): a skip for RULED and BY_PATH, what read_cache holds for KNOWN; for
# TOO_LARGE read.py checks the size again as it always does (no verdict is cached for such files)
Entry = tuple[str, int, ContentVerdict]


class ReadMemo:
    """path -> Entry for one root, one pickle beside the verdict cache; a damaged or foreign file, or
    one written under another key, is an empty memo."""

    def __init__(self, folder: Path, root: str, key_parts: tuple[object, ...]) -> None:
        name = hashlib.sha256(os.fsencode(root)).hexdigest()[:20]
        self._file = folder / f"read-memo-v{MEMO_VERSION}-{name}.pickle"
        self._key = _key(root, key_parts)
        stored = load_pickled_dict(self._file)
        entries = stored.get("entries") if stored.get("key") == self._key else None
        self.entries: dict[str, Entry] = entries if isinstance(entries, dict) else {}
        self._new: dict[str, Entry] = {}

    def get(self, path: str, blob_sha: str) -> Entry | None:
        """The entry for a clean file at this blob id; None (and a note to write) otherwise."""
        entry = self.entries.get(path)
        return entry if entry is not None and entry[0] == blob_sha else None

    def keep(self, path: str, entry: Entry) -> None:
        """Record what this read decided, for the next one."""
        self._new[path] = entry

    def flush(self) -> None:
        """Write this read's entries when they differ from the stored ones (atomically; never fails)."""
        if self._new == self.entries:  # ~1 ms: entries used as stored are the same objects
            return
        data = pickle.dumps({"key": self._key, "entries": self._new}, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(self._file, data)
        except OSError:
            return  # a read-only cache folder costs speed, never the pack


def _key(root: str, key_parts: tuple[object, ...]) -> str:
    here = Path(__file__).parent
    code = []
    for name in _DECIDERS:
        try:
            info = os.stat(here / name)
        except OSError:
            return os.urandom(16).hex()  # an odd install: a key no stored memo has, so nothing is reused
        code.append((name, info.st_mtime_ns, info.st_size))
    parts = (MEMO_VERSION, __version__, STORE_VERSION, tuple(code), root, key_parts)
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()
