"""The pack memo: the last pack of a root, answered again without ranking, planning, rendering or
counting when nothing it was made from has changed (ruff, 11k files: ~0.2-0.3 s of a warm pack's
~0.6 s; a hit also skips importing ranking, selection and the cost model).

Why it cannot go stale: a pack is a function of what it is keyed by, and a key that differs is a miss.
- The read result: every packed file's (path, content id, size, origin, invalid UTF-8, redactions) and
  every skipped file's (path, reason, detail), in order. The content id is the git blob id of the text
  as packed (read.py), the id token counts and signatures are already cached by. Everything discovery
  and reading depend on (index, work tree, ignore rules, attributes, read options) acts through it.
- The churn of those files (history.file_churn: what `git log` says, shallow or not) and the commit id.
- The options (all but the path: query, diff ref, budget, tokenizer, profile, format, line numbers,
  ...), the tokenizer's name (hf:<dir> resolved from the working directory) and the changed paths of
  --diff (the ref may move while HEAD stays). The root names the memo's file: one file per root.
- The code: the wholerepo version and the size and mtime of every module of ingest/ and of the
  profiles module; a code change empties the memo.
What it is not keyed by, as the caches it replaces are not: the files of an hf:<dir> tokenizer and the
installed tree-sitter grammars (token counts and signatures are cached by tokenizer name and content id).
Like them it takes a file git reports clean to hold its index blob: a stored pack holds such a file's
text as read last time, where a pack made afresh would read it again (the same bytes, as far as git can
tell: it compares size, mtime and ctime, and content when those are racy).
pack.py uses the memo only with its real stages (a caller's substitute stage is not in the key).

Each file holds the last pack of its root, key and result; a damaged or foreign file is a miss. Every
part of the key has a test that fails when the part is left out (tests/ingest/test_pack_memo.py).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from pathlib import Path

from wholerepo import __version__
from wholerepo.atomic import write_bytes_atomically
from wholerepo.ingest.history import Churn
from wholerepo.ingest.options import PackOptions
from wholerepo.ingest.pickle_store import load_pickled_dict
from wholerepo.ingest.types import Mode, PackedFile, PackResult, SkippedFile, SkipReason, SourceFile

MEMO_VERSION = 1
_PACKAGE = Path(__file__).resolve().parents[1]
# the code a pack depends on: every module of these folders, and these single modules
CODE_FOLDERS: tuple[Path, ...] = (_PACKAGE / "ingest",)
CODE_FILES: tuple[Path, ...] = (_PACKAGE / "runtime" / "profiles.py",)
_FILE_FIELDS = attrgetter(
    "path", "content_sha", "size_bytes", "origin", "invalid_utf8", "num_redactions", "language"
)
_SKIP_FIELDS = attrgetter("path", "reason", "detail")
_MODES = {m.value: m for m in Mode}
_REASONS = {r.value: r for r in SkipReason}


def code_fingerprint() -> tuple[object, ...]:
    """(name, mtime, size) of every module the pack runs; a random value when one cannot be listed."""
    found: list[tuple[str, int, int]] = []
    try:
        for folder in CODE_FOLDERS:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.endswith(".py"):
                        info = entry.stat()
                        found.append((entry.path, info.st_mtime_ns, info.st_size))
        for file in CODE_FILES:
            info = os.stat(file)
            found.append((str(file), info.st_mtime_ns, info.st_size))
    except OSError:
        return (os.urandom(16).hex(),)  # an odd install: a key no stored memo has
    return (MEMO_VERSION, __version__, tuple(sorted(found)))


def options_part(options: PackOptions) -> tuple[object, ...]:
    """Every option but the path (the resolved root is keyed on its own)."""
    return tuple((f.name, getattr(options, f.name)) for f in fields(options) if f.name != "path")


def tree_part(
    files: Sequence[SourceFile], skipped: Sequence[SkippedFile], churn: Mapping[str, Churn]
) -> str:
    """A digest of what was read (and skipped) and of its history."""
    records = (
        list(map(_FILE_FIELDS, files)),  # attrgetter builds the tuples in C: ~4 ms for 10k files, not ~10
        list(map(_SKIP_FIELDS, skipped)),
        sorted((p, c.num_changes, c.last_changed_unix) for p, c in churn.items()),
    )
    return hashlib.blake2b(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL), digest_size=24).hexdigest()


def digest(parts: tuple[object, ...]) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()


class PackMemo:
    """The stored pack of one root. `early` is the part of the key known before reading (code, root,
    commit, options): a match tells pack.py that its frame was counted before (no tokenizer preload)."""

    def __init__(self, folder: Path, root: str, early: tuple[object, ...]) -> None:
        name = hashlib.sha256(os.fsencode(root)).hexdigest()[:20]
        self._file = folder / f"pack-memo-v{MEMO_VERSION}-{name}.pickle"
        self._early = digest(early)
        self._stored = load_pickled_dict(self._file)

    @property
    def early_match(self) -> bool:
        return self._stored.get("early") == self._early

    def get(self, key: str) -> PackResult | None:
        """The stored pack for this full key (timings empty), or None."""
        if not self.early_match or self._stored.get("key") != key:
            return None
        try:
            return _result(self._stored["result"])
        except (KeyError, TypeError, ValueError):  # a damaged entry is a miss
            return None

    def put(self, key: str, result: PackResult) -> None:
        """Keep this pack for the next one (atomically; a read-only cache folder costs speed only)."""
        reasons: dict[str, str] = {}  # one object per distinct reason: a smaller, faster pickle
        packed = [
            (f.path, f.mode.value, f.tokens, reasons.setdefault(f.reason, f.reason), f.invalid_utf8,
             f.num_redactions)
            for f in result.files
        ]  # fmt: skip
        skipped = [(s.path, s.reason.value, s.detail) for s in result.skipped]
        stored = (
            result.repo, result.commit, result.tokenizer, result.budget, result.total_tokens, result.text,
            packed, skipped, result.format, result.num_redactions, result.stable_prefix_chars,
        )  # fmt: skip
        data = pickle.dumps(
            {"early": self._early, "key": key, "result": stored}, protocol=pickle.HIGHEST_PROTOCOL
        )
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(self._file, data)
        except OSError:
            return


def _result(stored: tuple[object, ...]) -> PackResult:
    repo, commit, tokenizer, budget, total, text, packed, skipped, fmt, redactions, prefix = stored
    if not isinstance(packed, list) or not isinstance(skipped, list):
        raise TypeError("not a stored pack")
    return PackResult(
        repo=repo, commit=commit, tokenizer=tokenizer, budget=budget, total_tokens=total, text=text,  # type: ignore[arg-type]
        files=tuple(_packed_file(*record) for record in packed),
        skipped=tuple(SkippedFile(p, _REASONS[r], d) for p, r, d in skipped),
        format=fmt, num_redactions=redactions, stable_prefix_chars=prefix,  # type: ignore[arg-type]
    )  # fmt: skip


def _packed_file(path: str, mode: str, tokens: int, reason: str, invalid: bool, redactions: int) -> PackedFile:
    """PackedFile(...) through its slots' descriptors: half the ~1.5 us of the frozen __init__ (10k files)."""
    made = _new(PackedFile)
    _set_path(made, path)
    _set_mode(made, _MODES[mode])
    _set_tokens(made, tokens)
    _set_reason(made, reason)
    _set_invalid(made, invalid)
    _set_redactions(made, redactions)
    return made


_new = object.__new__
_set_path, _set_mode, _set_tokens, _set_reason, _set_invalid, _set_redactions = (
    getattr(PackedFile, f.name).__set__ for f in fields(PackedFile)
)
