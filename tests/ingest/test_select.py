"""Contract: selection fits the budget, degrades full -> signatures -> path -> over-budget in rank order,
never loses a file, and plans the question-independent core the same way whatever the question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wholerepo.ingest.select import (
    FULL_SHARE,
    MAX_SIGNATURE_MISSES,
    SIGNATURE_BATCH,
    fill_section,
    fit_tree,
    select_files,
    split_budget,
)


def _signatures(costs: Mapping[str, int | None]):
    asked: list[str] = []

    def cost(paths: Sequence[str], limit: int) -> dict[str, int | None]:
        asked.extend(paths)
        return {p: costs.get(p) for p in paths}

    return cost, asked


def test_full_then_signatures_then_nothing_in_rank_order() -> None:
    order = ["a", "b", "c", "d"]
    full = {"a": 40, "b": 40, "c": 40, "d": 40}
    cost, _ = _signatures({"a": 5, "b": 5, "c": 5, "d": 5})
    plan = fill_section(order, 100, full, cost)
    assert plan.full == ("a", "b")
    assert plan.signatures == ("c", "d")
    assert plan.used == 90 <= 100


def test_a_big_file_is_skipped_not_a_stopper() -> None:
    """The top file does not fit in full; smaller ones after it still do, and it gets signatures."""
    order = ["huge", "small1", "small2"]
    cost, _ = _signatures({"huge": 10})
    plan = fill_section(order, 100, {"huge": 500, "small1": 30, "small2": 30}, cost)
    assert plan.full == ("small1", "small2")
    assert plan.signatures == ("huge",)


def test_signatures_get_room_before_full_texts_take_it_all() -> None:
    order = [f"f{i:02}" for i in range(20)]
    cost, _ = _signatures({p: 2 for p in order})
    plan = fill_section(order, 1000, {p: 100 for p in order}, cost)
    # 8 full texts fit in FULL_SHARE, the other 12 get signatures, and the rest upgrades one more
    assert int(1000 * FULL_SHARE) // 100 == 8
    assert plan.full == tuple(order[:9])
    assert plan.signatures == tuple(order[9:])
    assert plan.used == 9 * 100 + 11 * 2


def test_top_up_turns_signatures_into_full_with_what_is_left() -> None:
    order = ["a", "b"]
    cost, _ = _signatures({"a": 10, "b": 10})
    plan = fill_section(order, 200, {"a": 100, "b": 90}, cost)
    assert plan.full == ("a", "b")
    assert plan.signatures == ()
    assert plan.used == 190


def test_signatures_are_asked_for_lazily() -> None:
    """Signatures cost a parse each: a nearly full budget stops asking after a run of files whose
    signatures do not fit, instead of parsing the whole repository."""
    order = [f"f{i}" for i in range(5000)]
    cost, asked = _signatures({p: 100 for p in order})
    fill_section(order, 50, {p: 10 for p in order}, cost)
    assert 0 < len(asked) <= MAX_SIGNATURE_MISSES + SIGNATURE_BATCH


def test_tree_shrinks_from_the_bottom_of_the_ranking() -> None:
    order = [f"p{i}" for i in range(100)]
    paths, tokens = fit_tree(order, 250, lambda paths: 5 * len(paths))
    assert tokens <= 250
    assert paths == order[: len(paths)]
    assert len(paths) >= 45


def test_every_file_is_accounted_for_and_the_budget_holds() -> None:
    order = [f"f{i:03}" for i in range(300)]
    full = {p: 50 + (i * 37) % 400 for i, p in enumerate(order)}
    cost, _ = _signatures({p: 12 for p in order[::2]})
    sel = select_files(order, None, budget=5000, frame_cost=100, tree_cost=lambda paths: 3 * len(paths),
                       full_cost=full, signature_cost=cost)
    named = set(sel.tree) | set(sel.core.full) | set(sel.core.signatures) | set(sel.focus.full) | set(sel.focus.signatures)
    assert named | set(sel.over_budget) == set(order)
    assert not named & set(sel.over_budget)
    assert 100 + sel.tree_tokens + sel.core.used + sel.focus.used <= 5000


def test_core_does_not_depend_on_the_question() -> None:
    order = [f"f{i:03}" for i in range(200)]
    full = {p: 100 + i for i, p in enumerate(order)}
    sig, _ = _signatures({p: 10 for p in order})
    common = dict(budget=20_000, frame_cost=50, tree_cost=lambda paths: 2 * len(paths), full_cost=full,
                  signature_cost=sig)
    first = select_files(order, list(reversed(order)), **common)
    second = select_files(order, order[100:] + order[:100], **common)
    assert first.core == second.core
    assert first.focus != second.focus
    assert not set(first.focus.full) & set(first.core.full)


def test_small_budgets_give_most_room_to_the_question() -> None:
    core, focus = split_budget(6_000)
    assert focus >= 4_000 and core + focus == 6_000
    core, focus = split_budget(1_000_000)
    assert focus == 250_000


def test_split_focus_keeps_only_what_the_question_brought_in() -> None:
    from wholerepo.ingest.select import SectionPlan, split_focus
    from wholerepo.ingest.types import Mode

    usual = SectionPlan(full=("a.py", "b.py"), signatures=("c.py",), used=0)
    assert split_focus(usual, None) == ({"a.py": Mode.FULL, "b.py": Mode.FULL, "c.py": Mode.SIGNATURES}, {})
    same = SectionPlan(full=("b.py", "a.py"), signatures=("c.py",), used=0)
    assert split_focus(same, usual)[1] == {}
    asked = SectionPlan(full=("a.py", "c.py", "q.py"), signatures=(), used=0)
    more, only = split_focus(asked, usual)
    assert more == {"a.py": Mode.FULL}
    assert only == {"c.py": Mode.FULL, "q.py": Mode.FULL}  # c.py went from signatures to full: the question's


def test_a_big_top_file_of_the_question_gets_signatures_before_smaller_files_fill_the_section() -> None:
    """The question's best match is too big to read whole: its signatures come before full texts of
    files ranked below it. The core (no early signatures) keeps the old order of passes."""
    order = ["big"] + [f"s{i}" for i in range(1, 10)]
    full = {"big": 5000} | {f"s{i}": 100 for i in range(1, 10)}
    cost, _ = _signatures({p: 300 if p == "big" else 20 for p in order})
    focus = fill_section(order, 1000, full, cost, max_file_share=0.35, early_signatures=True)
    assert focus.signatures[0] == "big"
    assert focus.full[:5] == ("s1", "s2", "s3", "s4", "s5")  # 300 + 5 x 100 = 800: then FULL_SHARE is reached
    assert focus.used <= 1000
    plain = fill_section(order, 1000, full, cost, max_file_share=0.35)
    assert "big" not in plain.signatures  # eight full texts first left no room for its 300 tokens
    assert plain.full[:8] == tuple(f"s{i}" for i in range(1, 9))


def test_early_signatures_respect_their_share_and_the_core_signatures() -> None:
    order = ["big1", "big2", "big3"] + [f"s{i}" for i in range(1, 10)]
    full = {"big1": 5000, "big2": 5000, "big3": 5000} | {f"s{i}": 100 for i in range(1, 10)}
    cost, _ = _signatures({p: 300 if p.startswith("big") else 20 for p in order})
    plan = fill_section(
        order, 1000, full, cost, max_file_share=0.35, early_signatures=True, skip_signatures={"big1"}
    )
    assert "big1" not in plan.signatures  # the core shows it already
    assert "big2" in plan.signatures
    assert "big3" not in plan.signatures  # a second 300 would pass EARLY_SIGNATURE_SHARE (300 of 1000)
    assert plan.full[:5] == ("s1", "s2", "s3", "s4", "s5")
    assert plan.used <= 1000


def test_early_signatures_leave_a_plan_alone_when_nothing_above_its_full_texts_is_hidden() -> None:
    order = ["a", "b", "c"]
    cost, _ = _signatures({"a": 5, "b": 5, "c": 5})
    full = {"a": 40, "b": 40, "c": 40}
    assert fill_section(order, 100, full, cost, early_signatures=True) == fill_section(order, 100, full, cost)
