"""Typed records that cross the packing stages: discover -> filter -> read -> redact -> count -> rank ->
select -> render. No dict crosses a stage boundary; closed sets are Enums."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol


class Mode(StrEnum):
    """How much of a file made it into the pack."""

    FULL = "full"
    SIGNATURES = "signatures"
    PATH = "path"


class SkipReason(StrEnum):
    """Why a discovered file is not in the pack at all. Every skipped file carries one."""

    BINARY = "binary"
    LOCK_FILE = "lock-file"
    VENDORED = "vendored"
    GENERATED = "generated"
    MINIFIED = "minified"
    TOO_LARGE = "too-large"
    LFS_POINTER = "lfs-pointer"
    SUBMODULE = "submodule"
    SYMLINK_OUTSIDE = "symlink-outside-repo"
    IGNORED = "ignored"  # .wholerepoignore or --exclude
    NOT_INCLUDED = "not-included"  # --include given and the path matches none of it
    UNREADABLE = "unreadable"  # vanished, permission denied, a directory where a file was listed
    OVER_BUDGET = "over-budget"  # not even its path fits the token budget


class FileOrigin(StrEnum):
    TRACKED = "tracked"
    UNTRACKED = "untracked"
    SUBMODULE = "submodule"  # a file inside a submodule entered with --recurse-submodules
    PLAIN = "plain"  # --no-git


@dataclass(frozen=True, slots=True)
class DiscoveredFile:
    """A path git (or the folder walk) says belongs to the tree, before anything is read."""

    path: str  # repository-relative, POSIX separators; may hold spaces, newlines, non-UTF-8 (surrogateescape)
    origin: FileOrigin
    blob_sha: str | None = None  # git's blob id when the work-tree file equals the index, else None
    is_symlink: bool = False
    is_submodule: bool = False
    # the work-tree file's size as the index records it, for a file git reports clean (blob_sha set) when
    # that is exact (see discover.py); None: unknown, the reader measures the file
    index_size: int | None = None


class TextLoader(Protocol):
    """Reads and decodes one file's text when a lazy SourceFile's `text` is first used (read.py)."""

    def load_text(self, path: str) -> str: ...


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file that passed the filters, with its text (decoded, possibly redacted).

    `text` may be lazy: read.py hands out files git reports clean, whose verdict it already knows,
    without reading them (lazy_source_file); the first access to `text` loads it through `loader`.
    A warm pack of ruff reads only the ~1% of its 77 MB that it packs in full this way."""

    path: str
    text: str
    size_bytes: int
    content_sha: str  # git blob id of the bytes as read (cache key for token counts)
    origin: FileOrigin = FileOrigin.TRACKED
    invalid_utf8: bool = False  # decoded with replacement characters
    num_redactions: int = 0
    language: str | None = None
    loader: TextLoader | None = field(default=None, compare=False, repr=False)  # set on lazy files only
    text_stats: tuple[int, int] | None = field(default=None, compare=False, repr=False)  # (chars, newlines)

    def num_chars(self) -> int:
        """len(text), without loading a lazy text."""
        return self.text_stats[0] if self.text_stats is not None else len(self.text)

    def num_newlines(self) -> int:
        """text.count("\\n"), without loading a lazy text."""
        return self.text_stats[1] if self.text_stats is not None else self.text.count("\n")

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute name

        def __getattr__(self, name: str) -> str:
            """Called only when a slot is unset: `text` of a lazy file, loaded once and kept."""
            loader = object.__getattribute__(self, "loader")
            if name != "text" or loader is None:
                raise AttributeError(name)
            text = loader.load_text(object.__getattribute__(self, "path"))
            object.__setattr__(self, "text", text)
            return text


def lazy_source_file(
    path: str,
    loader: TextLoader,
    size_bytes: int,
    content_sha: str,
    text_stats: tuple[int, int],
    *,
    origin: FileOrigin = FileOrigin.TRACKED,
    invalid_utf8: bool = False,
) -> SourceFile:
    """A SourceFile whose `text` slot stays unset until first used (then `loader` reads it). Slots are
    set through their descriptors, one call each (a loop over them cost ~1 us more a file): ~1.5 us a
    file, a third of what object.__setattr__ by name costs."""
    made = _new(SourceFile)
    _set_path(made, path)
    _set_size(made, size_bytes)
    _set_sha(made, content_sha)
    _set_origin(made, origin)
    _set_invalid(made, invalid_utf8)
    _set_redactions(made, 0)
    _set_language(made, None)
    _set_loader(made, loader)
    _set_stats(made, text_stats)
    return made


# every field but `text`, in declaration order: lazy_source_file sets them all
_new = object.__new__
(_set_path, _set_size, _set_sha, _set_origin, _set_invalid, _set_redactions, _set_language, _set_loader,
 _set_stats) = (getattr(SourceFile, f.name).__set__ for f in fields(SourceFile) if f.name != "text")  # fmt: skip


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RankedFile:
    """A source file with its selection score; higher comes first when the budget is short."""

    file: SourceFile
    score: float
    reason: str  # why it ranks where it does: "named in query", "changed", "imports changed file", ...
    query_specific: bool = False  # True when only the question or the diff makes it relevant


@dataclass(frozen=True, slots=True)
class PackedFile:
    """The outcome for one file: how it entered the pack and what it cost."""

    path: str
    mode: Mode
    tokens: int
    reason: str
    invalid_utf8: bool = False
    num_redactions: int = 0


@dataclass(frozen=True, slots=True)
class PackResult:
    repo: str
    commit: str | None
    tokenizer: str
    budget: int
    total_tokens: int  # tokens of `text`, counted on the final text
    text: str
    files: tuple[PackedFile, ...]
    skipped: tuple[SkippedFile, ...]
    format: str = "xml"
    num_redactions: int = 0
    stable_prefix_chars: int = 0  # text[:stable_prefix_chars] does not depend on the query or the diff
    timings: dict[str, float] = field(default_factory=dict)
