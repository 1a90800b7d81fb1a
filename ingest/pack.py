"""`pack_repository`: the one module that runs the stages in turn (discover -> read -> rank -> count ->
select -> order -> render -> count the final text). Every stage is a keyword argument with the real one
as its default, so a caller can substitute a stage and tests can run the real ones on real repositories.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from wholerepo.errors import UsageError
from wholerepo.ingest.costs import CostModel, CountCache, Tokenizer, derived_key
from wholerepo.ingest.discover import Discovery, discover_files
from wholerepo.ingest.git_changes import changed_paths
from wholerepo.ingest.history import Churn, file_churn
from wholerepo.ingest.options import OutputFormat, PackOptions
from wholerepo.ingest.order import order_files
from wholerepo.ingest.rank import rank_files
from wholerepo.ingest.read import ReadOptions, ReadResult, read_files
from wholerepo.ingest.render import FileBlock, PackLayout, body_text, render_pack, render_tree
from wholerepo.ingest.select import (
    CORE_FILE_SHARE,
    SMALL_FILE_TOKENS,
    SectionPlan,
    Selection,
    select_files,
    split_focus,
)
from wholerepo.ingest.signature_cache import SignatureCache
from wholerepo.ingest.signatures import extract_signatures
from wholerepo.ingest.token_cache import TokenCountCache
from wholerepo.ingest.tokenizers import get_tokenizer
from wholerepo.ingest.types import (
    Mode,
    PackedFile,
    PackResult,
    RankedFile,
    SkippedFile,
    SkipReason,
    SourceFile,
)
from wholerepo.runtime.profiles import DEFAULT_PACK_PROFILE, profile_from_name

T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (stage, index from 1, number of stages)
STAGES = ("discover", "read", "rank", "count", "select", "render", "verify")
MAX_PLAN_ROUNDS = (
    4  # estimate -> exact recounts converge in 2 rounds on torch and ruff; 4 bounds the rare rest
)
MAX_FIT_ROUNDS = 4
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

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress(name, STAGES.index(name) + 1, len(STAGES))
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
    rank: Callable[..., list[RankedFile]] = rank_files,
    churn: Callable[..., Mapping[str, Churn]] = file_churn,
    changes: Callable[..., list[str]] = changed_paths,
    tokenizer_for: Callable[[str], Tokenizer] = get_tokenizer,
    count_cache_for: Callable[[str], CountCache] = TokenCountCache,
    signatures: Callable[[str, str], str | None] = extract_signatures,
) -> PackResult:
    """Pack the repository at `options.path` into at most `budget` tokens, counted on the final text."""
    settings = resolve_settings(options)
    clock = _Clock(progress)
    fmt = options.output_format
    prompt_format = OutputFormat.XML if fmt is OutputFormat.JSON else fmt
    tokenizer = tokenizer_for(settings.tokenizer)
    with clock.stage("discover"):
        discovery = discover(
            options.path,
            untracked=options.untracked,
            recurse_submodules=options.recurse_submodules,
            no_git=options.no_git,
        )
    root, commit = discovery.root, discovery.commit
    frame = render_pack(  # one label for all: the frame, and so the plan, must not depend on the question
        _layout(root, commit, "question", options, (), (), ()), prompt_format, all_sections=True
    ).text
    count_cache = count_cache_for(tokenizer.name)
    if not count_cache.get_many([derived_key("text", tokenizer.name, frame)]):
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
    files: list[SourceFile] = list(read_result.files)
    with clock.stage("rank"):
        everything = history_call() if history_call is not None else {}
        history = {f.path: everything[f.path] for f in files if f.path in everything}
        repo_ranked = rank(files, churn=history)
        changed = _changed(options, root, changes)
        focus_ranked = (
            rank(files, query=options.query, changed=changed, churn=history)
            if (options.query or changed)
            else None
        )
    with clock.stage("count"):
        costs = CostModel(
            files,
            tokenizer,
            count_cache,
            SignatureCache(),
            signatures,
            prompt_format,
            options.line_numbers,
        )
    repo_order = [r.file.path for r in repo_ranked]
    costs.prefetch(_likely_full(repo_order, costs.full_costs(), settings.budget))
    focus_order = [r.file.path for r in focus_ranked] if focus_ranked is not None else None
    label = "question" if options.query else ("diff" if changed else "more")
    frame_cost = costs.count_text(frame)
    if frame_cost > settings.budget:
        raise UsageError(
            f"--budget {settings.budget} cannot hold even the pack's frame ({frame_cost} tokens); raise it"
        )
    plan_budget = settings.budget - max(16, settings.budget // 1000)  # room for block-boundary merges
    repo_reasons = {r.file.path: r.reason for r in repo_ranked}
    focus_reasons = {r.file.path: r.reason for r in focus_ranked or repo_ranked}
    for _ in range(MAX_FIT_ROUNDS):
        with clock.stage("select"):
            # the plan without the question first, from costs no question has touched: its core is the
            # stable part, byte for byte the same for every question (planned after the question's files
            # were counted, the core of ruff differed between two questions from the first file on)
            baseline = _plan(costs, repo_order, None, plan_budget, frame_cost)
            selection = baseline
            if focus_order is not None:
                selection = _plan(costs, repo_order, focus_order, plan_budget, frame_cost, core=baseline.core)
            more, only = split_focus(selection.focus, None if focus_order is None else baseline.focus)
        with clock.stage("render"):
            core, tree = _core_blocks(selection, costs, history)
            layout = _layout(
                root, commit, label, options, core, tree, _focus_blocks(costs, only, focus_order)
            )
            layout = replace(layout, more=_focus_blocks(costs, more, repo_order))
            rendered = render_pack(layout, prompt_format)
        with clock.stage("verify"):
            total = costs.count_pack(rendered.text, partial(_counted_parts, layout))
        if total <= settings.budget:
            break
        plan_budget -= (total - settings.budget) + max(16, settings.budget // 2000)
    else:
        raise UsageError(f"could not fit the pack into {settings.budget} tokens; raise --budget")
    costs.flush()
    packed, skipped = _report(
        files, selection, costs, (repo_reasons, focus_reasons), (label, only), read_result
    )
    return PackResult(
        repo=root.name,
        commit=commit,
        tokenizer=tokenizer.name,
        budget=settings.budget,
        total_tokens=total,
        text=rendered.text,
        files=packed,
        skipped=skipped,
        format=fmt.value,
        num_redactions=sum(f.num_redactions for f in files),
        stable_prefix_chars=rendered.stable_prefix_chars,
        timings=clock.timings,
    )


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


def _likely_full(order: Sequence[str], full_costs: Mapping[str, int], budget: int) -> list[str]:
    """The files a plan will likely hold in full, for CostModel.prefetch: in rank order, those no bigger
    than a core file may be (select.CORE_FILE_SHARE) until their estimates fill the budget. A guess: a
    file it misses is counted when selected, one it adds was counted on an otherwise idle core."""
    largest = max(int(budget * CORE_FILE_SHARE), SMALL_FILE_TOKENS)
    chosen: list[str] = []
    used = 0
    for path in order:
        cost = full_costs[path]
        if cost <= largest:
            chosen.append(path)
            used += cost
            if used >= budget:
                break
    return chosen


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


def _plan(
    costs: CostModel,
    repo_order: Sequence[str],
    focus_order: Sequence[str] | None,
    budget: int,
    frame_cost: int,
    *,
    core: SectionPlan | None = None,
) -> Selection:
    """Select on the current costs; count exactly what got selected; select again until nothing moves.
    `core`: keep this core (see select_files)."""
    tree_costs: dict[tuple[str, ...], int] = {}

    def tree_cost(paths: Sequence[str]) -> int:
        key = tuple(paths)  # the same tree comes back every round: render and hash it once
        if key not in tree_costs:
            tree_costs[key] = costs.count_text(render_tree(paths))
        return tree_costs[key]

    for _ in range(MAX_PLAN_ROUNDS):
        selection = select_files(
            repo_order,
            focus_order,
            budget=budget,
            frame_cost=frame_cost,
            tree_cost=tree_cost,
            full_cost=costs.full_costs(),
            signature_cost=costs.signature_costs,
            core=core,
        )
        full = selection.core.full + selection.focus.full
        signatures = selection.core.signatures + selection.focus.signatures
        if not costs.make_exact(full, signatures):
            break
    return selection


def _core_blocks(
    selection: Selection, costs: CostModel, history: Mapping[str, Churn]
) -> tuple[tuple[FileBlock, ...], tuple[str, ...]]:
    """Core blocks in churn order (full first, then signatures), and the tree."""
    core_full = order_files(selection.core.full, history)
    core_signatures = order_files(selection.core.signatures, history)
    core = tuple(_block(costs, p, Mode.FULL) for p in core_full) + tuple(
        _block(costs, p, Mode.SIGNATURES) for p in core_signatures
    )
    return core, tuple(sorted(selection.tree))


def _focus_blocks(
    costs: CostModel, modes: Mapping[str, Mode], order: Sequence[str] | None
) -> tuple[FileBlock, ...]:
    """Blocks in rank order."""
    rank = {p: i for i, p in enumerate(order or ())}
    return tuple(_block(costs, p, modes[p]) for p in sorted(modes, key=rank.__getitem__))


def _block(costs: CostModel, path: str, mode: Mode) -> FileBlock:
    text = costs.source(path).text if mode is Mode.FULL else (costs.signature_text(path) or "")
    return FileBlock(path, mode, text)


def _counted_parts(layout: PackLayout) -> list[str]:
    """The texts the plan counted (files' bodies, the tree), in the order the pack holds them."""

    def bodies(blocks: Sequence[FileBlock]) -> list[str]:
        return [body_text(b, layout.line_numbers) for b in blocks]

    return [*bodies(layout.core), render_tree(layout.tree_paths), *bodies(layout.more), *bodies(layout.focus)]


def _layout(
    root: Path,
    commit: str | None,
    label: str,
    options: PackOptions,
    core: tuple[FileBlock, ...],
    tree: tuple[str, ...],
    focus: tuple[FileBlock, ...],
) -> PackLayout:
    return PackLayout(
        repo=root.name,
        core=core,
        tree_paths=tree,
        focus=focus,
        focus_label=label,
        commit=commit,
        line_numbers=options.line_numbers,
    )


def _report(
    files: Sequence[SourceFile],
    selection: Selection,
    costs: CostModel,
    reasons: tuple[Mapping[str, str], Mapping[str, str]],  # (repository ranking's, question/diff ranking's)
    part: tuple[str, Mapping[str, Mode]],  # (label, the files only the question or diff brought in)
    read_result: ReadResult,
) -> tuple[tuple[PackedFile, ...], tuple[SkippedFile, ...]]:
    """Every file read gets a mode and a reason; those that do not fit at all join the skipped list."""
    label, focus = part
    full = set(selection.core.full) | set(selection.focus.full)
    signatures = set(selection.core.signatures) | set(selection.focus.signatures)
    over = set(selection.over_budget)
    packed: list[PackedFile] = []
    skipped: list[SkippedFile] = list(read_result.skipped)  # discovery's skips are in it already
    for f in sorted(files, key=lambda f: f.path):
        if f.path in over:
            skipped.append(SkippedFile(f.path, SkipReason.OVER_BUDGET, "not even its path fits the budget"))
            continue
        if f.path in full:
            mode, tokens = Mode.FULL, costs.content_tokens(f.path)
        elif f.path in signatures:
            mode, tokens = Mode.SIGNATURES, costs.signature_tokens(f.path)
        else:
            mode, tokens = Mode.PATH, 0
        why = reasons[1 if f.path in focus else 0].get(f.path, "")
        where = f"{label} part" if f.path in focus else "stable part"
        reason = f"{why}; {where}" if mode is not Mode.PATH else f"{why}; only its path fits"
        packed.append(PackedFile(f.path, mode, tokens, reason.strip("; "), f.invalid_utf8, f.num_redactions))
    return tuple(packed), tuple(sorted(skipped, key=lambda s: s.path))
