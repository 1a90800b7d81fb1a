"""`pack_repository`: the one module that runs the stages in turn (discover -> read -> rank -> count ->
select -> order -> render -> count the final text). Every stage is a keyword argument with the real one
as its default, so a caller can substitute a stage and tests can run the real ones on real repositories.
With the real stages, a pack of a tree, history and options it packed last time is answered from the
pack memo (pack_memo.py) after the read; everything after the read lives in pack_plan.py.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wholerepo import paths
from wholerepo.ingest.discover import Discovery, discover_files
from wholerepo.ingest.git_changes import changed_paths
from wholerepo.ingest.history import Churn, file_churn
from wholerepo.ingest.options import PackOptions
from wholerepo.ingest.pack_memo import PackMemo, code_fingerprint, digest, options_part, tree_part
from wholerepo.ingest.read import ReadOptions, ReadResult, read_files
from wholerepo.ingest.tokenizers import Tokenizer, get_tokenizer
from wholerepo.ingest.types import PackResult, RankedFile
from wholerepo.runtime.profiles import DEFAULT_PACK_PROFILE, profile_from_name

if TYPE_CHECKING:
    from wholerepo.ingest.costs import CountCache
    from wholerepo.ingest.pack_plan import PlanStages

T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (stage, index from 1, number of stages)
STAGES = ("discover", "read", "rank", "count", "select", "render", "verify")
LONG_READ_FILES = 2_000  # reading this many files takes long enough (~0.1 s) for the tokenizer to load in a
# child process (V4Tokenizer.preload)


@dataclass(frozen=True, slots=True)
class _Settings:
    tokenizer: str
    budget: int


def resolve_settings(options: PackOptions) -> _Settings:
    """--tokenizer and --budget win; otherwise the profile's (v4-flash by default)."""
    profile = profile_from_name(options.profile or DEFAULT_PACK_PROFILE)
    return _Settings(options.tokenizer or profile.tokenizer, options.budget or profile.pack_budget)


class _Clock:
    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self._progress = progress
        self._last = ""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; reported once when it goes on in a second block (rank: memo lookup, ranking)."""
        if self._progress is not None and name != self._last:
            self._progress(name, STAGES.index(name) + 1, len(STAGES))
        self._last = name
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def pack_repository(
    options: PackOptions,
    *,
    progress: Progress | None = None,
    discover: Callable[..., Discovery] = discover_files,
    read: Callable[..., ReadResult] = read_files,
    rank: Callable[..., list[RankedFile]] | None = None,  # None: rank.rank_files
    churn: Callable[..., Mapping[str, Churn]] = file_churn,
    changes: Callable[..., list[str]] = changed_paths,
    tokenizer_for: Callable[[str], Tokenizer] = get_tokenizer,
    count_cache_for: Callable[[str], CountCache] | None = None,  # None: token_cache.TokenCountCache
    signatures: Callable[[str, str], str | None] | None = None,  # None: signatures.extract_signatures
) -> PackResult:
    """Pack the repository at `options.path` into at most `budget` tokens, counted on the final text."""
    with _no_cyclic_gc():
        return _pack(
            options, progress, discover, read, rank, churn, changes, tokenizer_for, count_cache_for, signatures
        )


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A pack makes ~10 objects a file (listing, read outcomes, memo entries) and keeps them to the end:
    the cyclic collector's passes over them find nothing to free and cost ~10-20% of a warm pack
    (ruff: ~0.03 s). Reference counting still frees everything; collection resumes afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _pack(
    options: PackOptions,
    progress: Progress | None,
    discover: Callable[..., Discovery],
    read: Callable[..., ReadResult],
    rank: Callable[..., list[RankedFile]] | None,
    churn: Callable[..., Mapping[str, Churn]],
    changes: Callable[..., list[str]],
    tokenizer_for: Callable[[str], Tokenizer],
    count_cache_for: Callable[[str], CountCache] | None,
    signatures: Callable[[str, str], str | None] | None,
) -> PackResult:
    settings = resolve_settings(options)
    clock = _Clock(progress)
    tokenizer = tokenizer_for(settings.tokenizer)
    real_stages = (discover, read, churn, changes, tokenizer_for, rank, count_cache_for, signatures) == (
        discover_files, read_files, file_churn, changed_paths, get_tokenizer, None, None, None
    )  # fmt: skip
    with clock.stage("discover"):
        discovery = discover(
            options.path,
            untracked=options.untracked,
            recurse_submodules=options.recurse_submodules,
            no_git=options.no_git,
        )
    root, commit = discovery.root, discovery.commit
    early = (code_fingerprint(), commit, options_part(options), tokenizer.name)  # the root names the file
    memo = PackMemo(paths.cache_dir(), str(root), early) if real_stages else None
    count_cache = None
    if memo is None or not memo.early_match:  # the memo's pack counted this frame: the tokenizer is not needed
        from wholerepo.ingest.pack_plan import frame_is_counted, frame_text

        count_cache = _count_cache_for(count_cache_for, tokenizer.name)
        if not frame_is_counted(frame_text(root, commit, options), tokenizer, count_cache):
            # a new commit: this pack will count; load the tokenizer beside the read
            _preload(tokenizer, long_wait=len(discovery.files) >= LONG_READ_FILES)
    # `git log` (~0.1 s on ruff) runs beside the read; churn of every listed path, kept for those read
    listed = [] if options.no_git else [f.path for f in discovery.files]
    history_call = _in_background(partial(churn, root, listed)) if listed else None
    try:
        with clock.stage("read"):
            read_result = read(discovery, _read_options(options))
    except BaseException:  # git log is waited for, not left behind; the read's error goes on
        if history_call is not None:
            with suppress(Exception):
                history_call()
        raise
    with clock.stage("rank"):
        everything = history_call() if history_call is not None else {}
        history = {f.path: everything[f.path] for f in read_result.files if f.path in everything}
        changed = _changed(options, root, changes)
        key = ""
        if memo is not None:
            key = digest((early, changed, tree_part(read_result.files, read_result.skipped, history)))
            known = memo.get(key)
            if known is not None:
                return replace(known, timings=clock.timings)
    from wholerepo.ingest.pack_plan import PackInput, plan_pack

    given = PackInput(options, settings.budget, root, commit, read_result, history, changed)
    result = plan_pack(given, tokenizer, _plan_stages(rank, count_cache_for, signatures), clock, count_cache)
    if memo is not None:
        memo.put(key, result)
    return result


def _count_cache_for(given: Callable[[str], CountCache] | None, name: str) -> CountCache:
    if given is not None:
        return given(name)
    from wholerepo.ingest.token_cache import TokenCountCache

    return TokenCountCache(name)


def _plan_stages(
    rank: Callable[..., list[RankedFile]] | None,
    count_cache_for: Callable[[str], CountCache] | None,
    signatures: Callable[[str, str], str | None] | None,
) -> PlanStages:
    """The real stages where the caller gave none (imported here: a memo hit never needs them)."""
    from wholerepo.ingest.pack_plan import PlanStages

    if rank is None:
        from wholerepo.ingest.rank import rank_files

        rank = rank_files
    if signatures is None:
        from wholerepo.ingest.signatures import extract_signatures

        signatures = extract_signatures
    return PlanStages(rank, partial(_count_cache_for, count_cache_for), signatures)


def _in_background(call: Callable[[], T]) -> Callable[[], T]:
    """Run `call` on a thread; the returned call waits for its result or raises its error. A plain
    thread: concurrent.futures would import logging (~6 ms of start-up) for this one call."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # handed to the waiting caller
            failure.append(error)

    thread = threading.Thread(target=work, name="wholerepo-history", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if failure:
            raise failure[0]
        return outcome[0]

    return result


def _preload(tokenizer: Tokenizer, *, long_wait: bool) -> None:
    """Start loading the tokenizer in the background where it can (V4: 0.3-2 s, overlapping the read)."""
    preload = getattr(tokenizer, "preload", None)
    if callable(preload):
        preload(long_wait=long_wait)


def _read_options(options: PackOptions) -> ReadOptions:
    extra = {} if options.max_file_bytes is None else {"max_file_bytes": options.max_file_bytes}
    return ReadOptions(
        includes=tuple(options.includes),
        excludes=tuple(options.excludes),
        keep_lock_files=options.keep_lock_files,
        keep_vendored=options.keep_vendored,
        keep_generated=options.keep_generated,
        keep_minified=options.keep_minified,
        redact=options.redact,
        **extra,
    )


def _changed(options: PackOptions, root: Path, changes: Callable[..., list[str]]) -> tuple[str, ...]:
    if options.changed_paths is not None:
        return tuple(options.changed_paths)
    if options.diff_ref:
        return tuple(changes(root, base=options.diff_ref))
    return ()


