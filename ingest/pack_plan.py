"""The part of a pack that the pack memo (pack_memo.py) skips when nothing changed: rank -> count ->
select -> render -> verify -> report. Its own module so that a warm pack answered by the memo never
imports ranking, selection, the cost model or signatures (~20 ms of start-up)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from wholerepo.errors import UsageError
from wholerepo.ingest.costs import CostModel, CountCache, Tokenizer, derived_key
from wholerepo.ingest.history import Churn
from wholerepo.ingest.options import OutputFormat, PackOptions
from wholerepo.ingest.order import order_files
from wholerepo.ingest.read import ReadResult
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
from wholerepo.ingest.types import (
    Mode,
    PackedFile,
    PackResult,
    RankedFile,
    SkippedFile,
    SkipReason,
    SourceFile,
)

if TYPE_CHECKING:
    from wholerepo.ingest.pack import _Clock

MAX_PLAN_ROUNDS = (
    4  # estimate -> exact recounts converge in 2 rounds on torch and ruff; 4 bounds the rare rest
)
MAX_FIT_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class PlanStages:
    """The stages after reading (pack_repository's keyword arguments)."""

    rank: Callable[..., list[RankedFile]]
    count_cache_for: Callable[[str], CountCache]
    signatures: Callable[[str, str], str | None]


@dataclass(frozen=True, slots=True)
class PackInput:
    """What discovery and reading found, and what the pack is asked for."""

    options: PackOptions
    budget: int
    root: Path
    commit: str | None
    read_result: ReadResult
    history: Mapping[str, Churn]
    changed: tuple[str, ...]


def frame_text(root: Path, commit: str | None, options: PackOptions) -> str:
    """The pack without files: one label for all, since the frame, and so the plan, must not depend on
    the question."""
    layout = _layout(root, commit, "question", options, (), (), ())
    return render_pack(layout, _prompt_format(options), all_sections=True).text


def frame_is_counted(frame: str, tokenizer: Tokenizer, count_cache: CountCache) -> bool:
    """False for a new commit (this pack will count: worth loading the tokenizer beside the read)."""
    return bool(count_cache.get_many([derived_key("text", tokenizer.name, frame)]))


def plan_pack(
    given: PackInput, tokenizer: Tokenizer, stages: PlanStages, clock: _Clock, count_cache: CountCache | None
) -> PackResult:
    """Rank, plan within the budget, render, and count the final text."""
    options, root, commit = given.options, given.root, given.commit
    fmt = options.output_format
    prompt_format = _prompt_format(options)
    files: list[SourceFile] = list(given.read_result.files)
    history, changed = given.history, given.changed
    if count_cache is None:
        count_cache = stages.count_cache_for(tokenizer.name)
    frame = frame_text(root, commit, options)
    with clock.stage("rank"):
        repo_ranked = stages.rank(files, churn=history)
        focus_ranked = (
            stages.rank(files, query=options.query, changed=changed, churn=history)
            if (options.query or changed)
            else None
        )
    with clock.stage("count"):
        costs = CostModel(
            files,
            tokenizer,
            count_cache,
            SignatureCache(),
            stages.signatures,
            prompt_format,
            options.line_numbers,
        )
    repo_order = [r.file.path for r in repo_ranked]
    costs.prefetch(_likely_full(repo_order, costs.full_costs(), given.budget))
    focus_order = [r.file.path for r in focus_ranked] if focus_ranked is not None else None
    label = "question" if options.query else ("diff" if changed else "more")
    frame_cost = costs.count_text(frame)
    if frame_cost > given.budget:
        raise UsageError(
            f"--budget {given.budget} cannot hold even the pack's frame ({frame_cost} tokens); raise it"
        )
    plan_budget = given.budget - max(16, given.budget // 1000)  # room for block-boundary merges
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
        if total <= given.budget:
            break
        plan_budget -= (total - given.budget) + max(16, given.budget // 2000)
    else:
        raise UsageError(f"could not fit the pack into {given.budget} tokens; raise --budget")
    costs.flush()
    packed, skipped = _report(
        files, selection, costs, (repo_reasons, focus_reasons), (label, only), given.read_result
    )
    return PackResult(
        repo=root.name,
        commit=commit,
        tokenizer=tokenizer.name,
        budget=given.budget,
        total_tokens=total,
        text=rendered.text,
        files=packed,
        skipped=skipped,
        format=fmt.value,
        num_redactions=sum(f.num_redactions for f in files),
        stable_prefix_chars=rendered.stable_prefix_chars,
        timings=clock.timings,
    )


def _prompt_format(options: PackOptions) -> OutputFormat:
    fmt = options.output_format
    return OutputFormat.XML if fmt is OutputFormat.JSON else fmt


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
