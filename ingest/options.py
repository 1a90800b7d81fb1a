"""What one pack is asked to do: the single value `pack_repository` takes, built by `wholerepo pack`, `ask`
and `review` alike. Checked here, once, so every caller gets the same one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from wholerepo.errors import UsageError


class OutputFormat(StrEnum):
    """How the pack is written. JSON wraps the XML text together with the per-file report."""

    XML = "xml"
    MARKDOWN = "markdown"
    PLAIN = "plain"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class PackOptions:
    path: Path = field(default_factory=Path.cwd)
    budget: int | None = None  # tokens of the rendered pack; None: the profile's pack_budget
    tokenizer: str | None = None  # None: the profile's tokenizer ("v4" for the default profile)
    profile: str | None = None  # None: runtime.profiles.DEFAULT_PACK_PROFILE
    query: str | None = None
    diff_ref: str | None = None  # rank what changed since merge-base(ref) first
    changed_paths: tuple[str, ...] | None = (
        None  # an explicit change set (review --staged); wins over diff_ref
    )
    untracked: bool = False
    recurse_submodules: bool = False
    no_git: bool = False
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    keep_lock_files: bool = False
    keep_vendored: bool = False
    keep_generated: bool = False
    keep_minified: bool = False
    max_file_bytes: int | None = None  # None: the reader's default cap
    redact: bool = True
    format: str = OutputFormat.XML.value
    line_numbers: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "includes", tuple(self.includes))
        object.__setattr__(self, "excludes", tuple(self.excludes))
        if self.changed_paths is not None:
            object.__setattr__(self, "changed_paths", tuple(self.changed_paths))
        if self.budget is not None and self.budget <= 0:
            raise UsageError(f"--budget must be a positive number of tokens, got {self.budget}")
        if self.max_file_bytes is not None and self.max_file_bytes <= 0:
            raise UsageError(f"--max-file-size must be a positive number of bytes, got {self.max_file_bytes}")
        if self.format not in {f.value for f in OutputFormat}:
            known = ", ".join(f.value for f in OutputFormat)
            raise UsageError(f"unknown --format {self.format!r}; choose one of: {known}")
        if self.query is not None and not self.query.strip():
            raise UsageError("--query is empty; give the question as text or drop the flag")
        if self.no_git and (self.diff_ref or self.untracked or self.recurse_submodules):
            raise UsageError("--no-git cannot be combined with --diff, --untracked or --recurse-submodules")

    @property
    def output_format(self) -> OutputFormat:
        return OutputFormat(self.format)
