"""Fit a ranked repository into a token budget: every file ends up in full, as signatures, as a path in the
tree, or over budget. Nothing is cut inside a file and nothing is dropped without a mode.

The budget is split in a way that does not depend on the question (see order.py for why): the fixed
frame, then the path tree, then the stable core (the repository-centric ranking), then the rest for the
question or diff. The split depends only on the budget and the tree, so two questions about the same
commit plan the same core, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from wholerepo.ingest.types import Mode

TREE_MAX_SHARE = 0.25  # the path tree may take at most this much of the budget (ruff's 11k paths: ~8% of 1M)
FULL_SHARE = 0.85  # full texts fill at most this much of a section first; signatures of the next files get
# the rest, so the model sees the shape of what it cannot read (then full texts top up what is left)
CORE_FILE_SHARE = 0.02  # in the first full pass of the core, no file may take more than this (15k tokens of
# a 750k core): ranked by imports, torch's top 71 files alone filled 820k tokens; the overview wants breadth
SMALL_FILE_TOKENS = 8_192  # ...but a file up to this size (or a quarter of a small section) always may
FOCUS_FILE_SHARE = 0.6  # the question's part wants depth: its best file may be big (0.6 beat 0.35 on the
# recall bench's tune split, 40 commits each of click/fastapi/ruff: +0.03 recall in full at 32K-128K)
FOCUS_SHARE = 0.25  # of what remains after the tree: the question's part on large budgets
FOCUS_MIN_TOKENS = 65_536  # ...but at least this much (and up to 75% on small budgets, where the prefill
# the cache would save is cheap and relevance is all that matters); 64K beat 32K at a 128K budget on the
# tune split (+0.07 click, +0.02 fastapi, +0.08 ruff in full); budgets from 256K up keep 25%
EARLY_SIGNATURE_SHARE = 0.3  # the question's section: signatures of files that outrank the full texts
# but are too big to be read whole (click's 130 KB core.py at 32K) may take up to this much first...
EARLY_SIGNATURE_RANKS = 3  # ...if they are among the section's first 3 files: 32 ranks and half the
# section showed more files as signatures but cost recall in full (-0.09 at 32K on the tune split)
SIGNATURE_BATCH = 32  # signature costs are asked for in batches: a parse costs ~1 ms per 4-7 KB here
MAX_SIGNATURE_MISSES = 32  # stop looking after this many signatures in a row did not fit: on a nearly full
# budget every further parse is wasted (torch cold: 800 parses, 389 used, at 128; 32 halves the waste)

SignatureCost = Callable[[Sequence[str], int], Mapping[str, int | None]]  # (paths, tokens left) -> cost
# (None: the file has no signatures; a cost above "tokens left" may be a cheap estimate, not exact)


@dataclass(frozen=True, slots=True)
class SectionPlan:
    full: tuple[str, ...]  # in the order given (rank order)
    signatures: tuple[str, ...]
    used: int


@dataclass(frozen=True, slots=True)
class Selection:
    tree: tuple[str, ...]  # paths listed in the tree, in repository rank order
    core: SectionPlan
    focus: SectionPlan
    over_budget: tuple[str, ...]
    tree_tokens: int
    core_budget: int
    focus_budget: int


def split_budget(available: int) -> tuple[int, int]:
    """(core, focus) tokens for what is left after frame and tree."""
    focus = max(int(available * FOCUS_SHARE), min(int(available * 0.75), FOCUS_MIN_TOKENS))
    return available - focus, focus


def fit_tree(
    order: Sequence[str], cap: int, tree_cost: Callable[[Sequence[str]], int]
) -> tuple[list[str], int]:
    """The longest rank-order prefix of paths whose tree fits `cap`. One count when all fit; otherwise
    a proportional guess shrunk by 10% steps (tree cost grows about linearly with paths)."""
    paths = list(order)
    cost = tree_cost(paths)
    while paths and cost > cap:
        keep = min(len(paths) - 1, int(len(paths) * cap / cost * 0.97))
        paths = paths[: max(keep, 0)]
        cost = tree_cost(paths) if paths else 0
    return paths, cost


def fill_section(
    order: Sequence[str],
    budget: int,
    full_cost: Mapping[str, int],
    signature_cost: SignatureCost,
    *,
    skip: Collection[str] = (),
    skip_signatures: Collection[str] = (),
    max_file_share: float = 1.0,
    early_signatures: bool = False,
) -> SectionPlan:
    """Full texts in rank order (skipping those that do not fit, or bigger than `max_file_share` of the
    section) up to FULL_SHARE, then signatures of the rest in rank order, then full texts again with
    whatever is left, big files included.

    `early_signatures` (the question's section): files among its first EARLY_SIGNATURE_RANKS that rank
    above the last full text of the first pass but end up as bare paths (too big to read whole, and their signatures came after every smaller,
    lower-ranked file had taken its full text) get their signatures first, within EARLY_SIGNATURE_SHARE,
    and the section is planned again around them. On a short budget the question's best match, when big,
    was a bare path (click's 130 KB core.py at 32K)."""
    candidates = [p for p in order if p not in skip]
    max_file = max(int(budget * max_file_share), min(budget // 4, SMALL_FILE_TOKENS))
    plan, reach = _fill(candidates, budget, full_cost, signature_cost, skip_signatures, max_file, {})
    if not early_signatures:
        return plan
    shown = set(plan.full) | set(plan.signatures)
    top = candidates[: min(reach, EARLY_SIGNATURE_RANKS)]
    neglected = [p for p in top if p not in shown and p not in skip_signatures]
    if not neglected:
        return plan
    cap = int(budget * EARLY_SIGNATURE_SHARE)
    costs = signature_cost(neglected, cap)
    early: dict[str, int] = {}
    for path in neglected:
        cost = costs.get(path)
        if cost is not None and sum(early.values()) + cost <= cap:
            early[path] = cost
    if not early:
        return plan
    return _fill(candidates, budget, full_cost, signature_cost, skip_signatures, max_file, early)[0]


def _fill(
    candidates: Sequence[str],
    budget: int,
    full_cost: Mapping[str, int],
    signature_cost: SignatureCost,
    skip_signatures: Collection[str],
    max_file: int,
    early: Mapping[str, int],
) -> tuple[SectionPlan, int]:
    """fill_section's three passes, with `early` signatures (path -> cost) taken before them. Returns
    the plan and how far down the ranking the first full pass reached (1 + the index of its last file)."""
    full: dict[str, None] = {}
    signatures = dict(early)
    used = sum(early.values())
    full_limit = int(budget * FULL_SHARE)
    reach = 0
    for index, path in enumerate(candidates):
        cost = full_cost[path]
        if path not in signatures and cost <= max_file and used + cost <= full_limit:
            full[path] = None
            used += cost
            reach = index + 1
    rest = [p for p in candidates if p not in full and p not in signatures and p not in skip_signatures]
    misses = 0
    for start in range(0, len(rest), SIGNATURE_BATCH):
        if budget - used < 8 or misses >= MAX_SIGNATURE_MISSES:  # 8: no signature costs less than its frame
            break
        batch = rest[start : start + SIGNATURE_BATCH]
        costs = signature_cost(batch, budget - used)
        for path in batch:
            signature = costs.get(path)
            if signature is None:
                continue  # no definitions (or no grammar): says nothing about the budget running out
            if used + signature <= budget:
                signatures[path] = signature
                used += signature
                misses = 0
            else:
                misses += 1
    for path in candidates:
        if path in full:
            continue
        extra = full_cost[path] - signatures.get(path, 0)
        if used + extra <= budget:
            full[path] = None
            signatures.pop(path, None)
            used += extra
    ordered_full = tuple(p for p in candidates if p in full)
    ordered_signatures = tuple(p for p in candidates if p in signatures)
    return SectionPlan(ordered_full, ordered_signatures, used), reach


def select_files(
    repo_order: Sequence[str],
    focus_order: Sequence[str] | None,
    *,
    budget: int,
    frame_cost: int,
    tree_cost: Callable[[Sequence[str]], int],
    full_cost: Mapping[str, int],
    signature_cost: SignatureCost,
    core: SectionPlan | None = None,
) -> Selection:
    """Plan a pack. `repo_order` is the question-independent ranking of every file, best first;
    `focus_order` the question's or diff's ranking (None: the focus part continues `repo_order`).
    `core`: the stable core as a plan without the question chose it (pack.py passes it, so that costs
    the question's files made exact cannot move a file into or out of the core)."""
    available = max(budget - frame_cost, 0)
    tree, tree_tokens = fit_tree(repo_order, int(available * TREE_MAX_SHARE), tree_cost)
    left = available - tree_tokens
    core_budget, focus_budget = split_budget(left)
    if core is None:
        core = fill_section(
            repo_order, core_budget, full_cost, signature_cost, max_file_share=CORE_FILE_SHARE
        )
    in_core = set(core.full)
    share = CORE_FILE_SHARE if focus_order is None else FOCUS_FILE_SHARE
    focus = fill_section(
        focus_order or repo_order,
        left - core.used,
        full_cost,
        signature_cost,
        skip=in_core,
        skip_signatures=set(core.signatures),
        max_file_share=share,
        early_signatures=focus_order is not None,
    )
    named = in_core | set(core.signatures) | set(focus.full) | set(focus.signatures) | set(tree)
    over = tuple(p for p in repo_order if p not in named)
    return Selection(tuple(tree), core, focus, over, tree_tokens, core_budget, focus_budget)


def split_focus(chosen: SectionPlan, baseline: SectionPlan | None) -> tuple[dict[str, Mode], dict[str, Mode]]:
    """(more, only): the files of the question's section that the question-independent plan (`baseline`,
    None when there is no question) holds in the same mode, and the rest, which only the question or diff
    brought in. When the budget holds everything, or the question changes nothing, `only` is empty and the
    whole pack is the stable one: a new question reuses all of it from the server's prefix cache, not just
    the part up to the tree (2,176 of 4,434 tokens in one bench before)."""
    modes = _modes(chosen)
    if baseline is None:
        return modes, {}
    usual = _modes(baseline)
    if usual == modes:
        return modes, {}
    more = {p: m for p, m in modes.items() if usual.get(p) is m}
    return more, {p: m for p, m in modes.items() if p not in more}


def _modes(section: SectionPlan) -> dict[str, Mode]:
    return {p: Mode.FULL for p in section.full} | {p: Mode.SIGNATURES for p in section.signatures}
