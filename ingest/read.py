"""Read the discovered files: path rules, classification, decoding and secret redaction, one outcome
per file (a SourceFile or a SkippedFile; nothing is dropped silently).

Decoding keeps bytes as they are (CRLF stays CRLF). Invalid UTF-8 is decoded with U+FFFD and flagged
(SourceFile.invalid_utf8); UTF-16 with a BOM is decoded as UTF-16. A symlink inside the root is packed as
its link text, "symlink to <target>" (see discover.py); it is never followed.

content_sha is the git blob id of the packed text's bytes, the token-count cache key: git's own id
from the index when the work-tree file is unchanged (no hashing), else computed; a redacted text gets
the id of its redacted bytes, so `--no-redact` never reuses a redacted count.

Files git reports clean whose verdict the cache holds are not read here: see read_known.py.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from wholerepo.errors import UsageError
from wholerepo.ingest.classify import (
    NO_ATTRIBUTES,
    classify_content,
    classify_path,
    start_linguist_attributes,
)
from wholerepo.ingest.discover import Discovery
from wholerepo.ingest.ignore_rules import load_ignore_rules
from wholerepo.ingest.read_cache import ContentVerdict, ReadCache
from wholerepo.ingest.read_known import (
    OPEN_FLAGS,
    WorkTreeText,
    decode_text,
    outcome_of,
    read_all,
    read_known,
)
from wholerepo.ingest.read_memo import BY_PATH, KNOWN, RULED, TOO_LARGE, Entry, ReadMemo
from wholerepo.ingest.types import DiscoveredFile, FileOrigin, SkippedFile, SkipReason, SourceFile

DEFAULT_MAX_FILE_BYTES = 1 << 20  # 1 MiB: 0.4% of ruff's text files, 1.2% of torch's, are larger


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What to read. Every default skip can be switched off here; includes/excludes are gitignore-style
    globs (see ignore_rules.py)."""

    includes: Sequence[str] = ()
    excludes: Sequence[str] = ()
    keep_lock_files: bool = False
    keep_vendored: bool = False
    keep_generated: bool = False  # also brings back SVG images
    keep_minified: bool = False
    max_file_bytes: int | None = DEFAULT_MAX_FILE_BYTES  # None: no cap
    redact: bool = True

    def __post_init__(self) -> None:
        if self.max_file_bytes is not None and self.max_file_bytes <= 0:
            raise UsageError(f"max_file_bytes must be positive, not {self.max_file_bytes}; omit it for 1 MiB")

    def kept_reasons(self) -> frozenset[SkipReason]:
        pairs = (
            (self.keep_lock_files, SkipReason.LOCK_FILE),
            (self.keep_vendored, SkipReason.VENDORED),
            (self.keep_generated, SkipReason.GENERATED),
            (self.keep_minified, SkipReason.MINIFIED),
        )
        return frozenset(reason for keep, reason in pairs if keep)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """`files` in discovery order; `skipped` holds discovery's skips first, then this stage's."""

    files: list[SourceFile]
    skipped: list[SkippedFile]
    num_bytes_read: int = 0


def read_files(
    discovery: Discovery, options: ReadOptions | None = None, *, cache: ReadCache | None = None
) -> ReadResult:
    """Apply path rules and classification, read and decode what survives, redact secrets. What the
    content decided (skip, invalid UTF-8, redaction) is remembered by content id in `cache`.

    `git check-attr` (linguist attributes, 0.05-0.1 s on ruff's 11k paths) runs beside the reading: files
    are read as if no attribute applied, and the few paths it marks are decided again once it answers."""
    options = options or ReadOptions()
    cache = cache if cache is not None else ReadCache()
    root = str(discovery.root)
    kept = options.kept_reasons()
    options_key = _options_key(options, kept)
    paths = [found.path for found in discovery.files]
    rules = load_ignore_rules(discovery.root, paths, includes=options.includes, excludes=options.excludes)
    attribute_files = [p for p in paths if p == ".gitattributes" or p.endswith("/.gitattributes")]
    loader = WorkTreeText(root)
    max_bytes = options.max_file_bytes

    def read_one(found: DiscoveredFile) -> SourceFile | SkippedFile:
        outcome = read_known(root, found, max_bytes, (options_key, loader), cache)
        return outcome if outcome is not None else _read_one(root, found, options, (kept, options_key), cache)

    def decide(found: DiscoveredFile, blob: str | None) -> SourceFile | SkippedFile:
        """One file's outcome before linguist attributes, recorded in the memo when it may be reused."""
        ruled_out = rules.check(found.path)
        if ruled_out is not None:
            ruled.add(found.path)
            if blob is not None:
                memo.keep(found.path, (blob, RULED, ContentVerdict(ruled_out.reason, ruled_out.detail)))
            return ruled_out
        verdict = classify_path(found.path, kept=kept)
        if verdict is not None:
            by_path.add(found.path)
            if blob is not None:
                memo.keep(found.path, (blob, BY_PATH, ContentVerdict(verdict.reason, verdict.detail)))
            return SkippedFile(found.path, verdict.reason, verdict.detail)
        outcome = read_one(found)
        if blob is None:
            return outcome
        if isinstance(outcome, SkippedFile) and outcome.reason is SkipReason.TOO_LARGE:
            memo.keep(found.path, (blob, TOO_LARGE, ContentVerdict(outcome.reason, outcome.detail)))
            return outcome
        known = cache.get(ReadCache.key(blob, found.path, options_key))  # what read_known finds next time
        if known is not None and known.size_bytes >= 0:  # (nothing for a CRLF checkout: it is re-read)
            memo.keep(found.path, (blob, KNOWN, known))
        return outcome

    outcomes: list[SourceFile | SkippedFile] = []
    ruled: set[str] = set()
    by_path: set[str] = set()  # skipped by classify_path without attributes
    memo = ReadMemo(cache.folder, root, (repr(options), rules.fingerprint))
    attributes_call = (
        start_linguist_attributes(discovery.root, paths, attribute_files) if discovery.is_git else None
    )
    try:
        for found in discovery.files:
            blob = found.blob_sha if discovery.is_git and not found.is_symlink else None
            entry = memo.get(found.path, blob) if blob is not None else None
            outcome = None
            if entry is not None and entry[1] == TOO_LARGE:  # measured again, as _read_one always does
                outcome = _read_one(root, found, options, (kept, options_key), cache)
                if not isinstance(outcome, SkippedFile) or outcome.reason is not SkipReason.TOO_LARGE:
                    outcome = None
            elif entry is not None:
                outcome = _from_memo(root, found, max_bytes, loader, entry)
            if entry is None or outcome is None:
                outcomes.append(decide(found, blob))
                continue
            memo.keep(found.path, entry)
            if entry[1] == RULED:
                ruled.add(found.path)
            elif entry[1] == BY_PATH:
                by_path.add(found.path)
            outcomes.append(outcome)
    finally:  # on an error too: git is waited for, not left behind
        attributes = attributes_call() if attributes_call is not None else NO_ATTRIBUTES
    marked = (attributes.vendored.keys() | attributes.generated.keys()) - ruled
    if marked:  # decided again with the attributes: only these few, not a second pass over every file
        for index in [i for i, found in enumerate(discovery.files) if found.path in marked]:
            found = discovery.files[index]
            verdict = classify_path(found.path, kept=kept, attributes=attributes)
            if verdict is not None:
                outcomes[index] = SkippedFile(found.path, verdict.reason, verdict.detail)
            elif found.path in by_path:  # in a vendored folder, kept by linguist-vendored=false
                outcomes[index] = read_one(found)
    files = [outcome for outcome in outcomes if not isinstance(outcome, SkippedFile)]
    skipped = [*discovery.skipped, *(outcome for outcome in outcomes if isinstance(outcome, SkippedFile))]
    num_bytes = sum(f.size_bytes for f in files)
    cache.flush()
    memo.flush()
    return ReadResult(files=files, skipped=skipped, num_bytes_read=num_bytes)


def _from_memo(
    root: str, found: DiscoveredFile, max_file_bytes: int | None, loader: WorkTreeText, entry: Entry
) -> SourceFile | SkippedFile | None:
    """The outcome a memo entry gives (path rules and path verdicts as they were; a content verdict
    checked against the work tree as read_known checks it), or None: decide afresh."""
    _blob, kind, known = entry
    if kind == KNOWN:
        return outcome_of(root, found, max_file_bytes, loader, known)
    return SkippedFile(found.path, known.skip, known.detail) if known.skip is not None else None


def _read_one(
    root: str,
    found: DiscoveredFile,
    options: ReadOptions,
    verdict_options: tuple[frozenset[SkipReason], str],  # (kept skip reasons, their cache key)
    cache: ReadCache,
) -> SourceFile | SkippedFile:
    kept, options_key = verdict_options
    full = f"{root}/{found.path}"  # os.path.join costs 6 us a file; root is absolute, path relative
    if found.is_symlink and os.path.islink(full):  # else the work tree replaced the link by a file
        return _link(full, found)
    if found.blob_sha is None and found.origin is FileOrigin.TRACKED and not _stays_inside(root, full):
        return SkippedFile(
            found.path, SkipReason.SYMLINK_OUTSIDE, "resolves outside the root through a symlink"
        )
    try:
        fd = os.open(full, OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:  # a link where the index has a file: same policy as a tracked link
            return _link(full, found) if _stays_inside(root, full) else _outside(found.path, full)
        return SkippedFile(found.path, SkipReason.UNREADABLE, _why_unreadable(error, found))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return SkippedFile(found.path, SkipReason.UNREADABLE, "not a regular file")
        if options.max_file_bytes is not None and info.st_size > options.max_file_bytes:
            detail = f"{info.st_size:,} bytes, over the {options.max_file_bytes:,}-byte cap"
            return SkippedFile(found.path, SkipReason.TOO_LARGE, detail)
        data = read_all(fd, info.st_size)
    except OSError as error:
        return SkippedFile(found.path, SkipReason.UNREADABLE, _why_unreadable(error, found))
    finally:
        os.close(fd)
    sha = found.blob_sha if found.blob_sha and b"\r" not in data else blob_sha_of(data)
    key = ReadCache.key(sha, found.path, options_key)
    known, text = cache.get(key), None
    if known is None:
        known, text = _judge(data, found.path, options, kept)
        cache.put(key, known)
    if known.skip is not None:
        return SkippedFile(found.path, known.skip, known.detail)
    if known.redacted_text is not None and known.redacted_sha is not None:
        text, sha = known.redacted_text, known.redacted_sha
    elif text is None:
        text = decode_text(data)[0]
    return SourceFile(
        found.path, text, len(data), sha, origin=found.origin, invalid_utf8=known.invalid_utf8,
        num_redactions=known.num_redactions,
    )  # fmt: skip


def _options_key(options: ReadOptions, kept: frozenset[SkipReason]) -> str:
    return ",".join(sorted(kept)) + (";redact" if options.redact else ";keep-secrets")


def _judge(
    data: bytes, path: str, options: ReadOptions, kept: frozenset[SkipReason]
) -> tuple[ContentVerdict, str | None]:
    """Classify the content, decode it and redact it: what the cache remembers (and the text)."""
    from wholerepo.ingest.redact import has_secret_trigger, redact_secrets  # ~4 ms: a warm read never judges

    verdict = classify_content(data, kept=kept)
    if verdict is not None:
        return ContentVerdict(skip=verdict.reason, detail=verdict.detail, size_bytes=len(data)), None
    text, invalid = decode_text(data)
    if options.redact and has_secret_trigger(data, text, path):
        result = redact_secrets(text, path)
        if result.num_redactions:
            sha = blob_sha_of(result.text.encode("utf-8", "surrogateescape"))
            redacted = ContentVerdict(
                invalid_utf8=invalid, num_redactions=result.num_redactions, redacted_text=result.text,
                redacted_sha=sha, size_bytes=len(data),
            )  # fmt: skip
            return redacted, result.text
    kept_file = ContentVerdict(
        invalid_utf8=invalid, size_bytes=len(data), num_chars=len(text), num_newlines=text.count("\n")
    )
    return kept_file, text


def _link(full: str, found: DiscoveredFile) -> SourceFile | SkippedFile:
    try:
        target = os.readlink(full)
    except OSError as error:
        return SkippedFile(found.path, SkipReason.UNREADABLE, _why_unreadable(error, found))
    text = f"symlink to {target}\n"
    data = text.encode("utf-8", "surrogateescape")
    return SourceFile(found.path, text, len(data), blob_sha_of(data), origin=found.origin)


def blob_sha_of(data: bytes) -> str:
    """git's blob id (`git hash-object`) of `data`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _stays_inside(root: str, full: str) -> bool:
    """`root` is already resolved by discover_files."""
    return os.path.commonpath([os.path.realpath(full), root]) == root


def _outside(path: str, full: str) -> SkippedFile:
    return SkippedFile(path, SkipReason.SYMLINK_OUTSIDE, f"symlink to {os.readlink(full)}, outside the root")


def _why_unreadable(error: OSError, found: DiscoveredFile) -> str:
    if isinstance(error, FileNotFoundError):
        if found.origin in (FileOrigin.TRACKED, FileOrigin.SUBMODULE):
            return "deleted from the work tree (still tracked in the index)"
        return "vanished before it could be read"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "a directory where git lists a file"
    return f"{type(error).__name__}: {error.strerror or error}"
