"""Contract: the shortcuts CostModel takes on a cold pack decide exactly as the long way would: the
definition-line guess, stopped as soon as it is decided, answers as the full count does for every budget,
whether it is scanned, cached exactly, or cached as a lower bound ("N+")."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

from wholerepo.ingest.costs import _DEFINITION_LINE, SIGNATURE_LINE_TOKENS, CostModel
from wholerepo.ingest.count_prefetch import CountPrefetch, _batches
from wholerepo.ingest.options import OutputFormat
from wholerepo.ingest.signature_cache import SignatureCache
from wholerepo.ingest.signatures import extract_signatures
from wholerepo.ingest.token_cache import TokenCountCache
from wholerepo.ingest.tokenizers import get_tokenizer
from wholerepo.ingest.types import SourceFile

REPO = Path(__file__).resolve().parents[2]


def _files() -> list[SourceFile]:
    paths = [*sorted(REPO.glob("ingest/*.py")), REPO / "README.md"]
    return [
        SourceFile(str(p.relative_to(REPO)), p.read_text(encoding="utf-8"), p.stat().st_size, f"{i:040x}")
        for i, p in enumerate(paths)
    ]


def _model(files: list[SourceFile], folder: Path) -> CostModel:
    tokenizer = get_tokenizer("cl100k")
    return CostModel(
        files,
        tokenizer,
        TokenCountCache(tokenizer.name, folder),
        SignatureCache(folder),
        extract_signatures,
        OutputFormat.XML,
        False,
    )


def _full_guess(f: SourceFile) -> int:
    if f.path.endswith(".md"):
        return 0
    return len(_DEFINITION_LINE.findall("\n" + f.text)) * SIGNATURE_LINE_TOKENS


def test_the_early_stopping_guess_decides_as_the_full_count(tmp_path: Path) -> None:
    files = _files()
    guesses = {f.path: _full_guess(f) for f in files}
    assert max(guesses.values()) > 200  # real definition-heavy files, so early stops happen
    lefts = sorted({-7, 0, 5, 6, 11, 12, 13, 100, 599} | {g + d for g in guesses.values() for d in (-1, 0, 1)})
    for order in (lefts, lefts[::-1]):  # rising: every scan stops early; falling: lower bounds get reused
        model = _model(files, tmp_path / str(order[0]))
        for left in order:
            for f in files:
                assert model.definition_guess_exceeds(f.path, left) == (guesses[f.path] > left), (f.path, left)
        model.flush()
        warm = _model(files, tmp_path / str(order[0]))  # from the cache on disk: exact counts and "N+"
        for left in order:
            for f in files:
                assert warm.definition_guess_exceeds(f.path, left) == (guesses[f.path] > left), (f.path, left)


def test_a_small_budget_keeps_a_lower_bound_and_a_larger_one_scans_on(tmp_path: Path) -> None:
    """The shortcuts are real: a budget above 6 tokens a line is decided without a scan; after a decision
    on a small budget the cache holds a lower bound ("2+"), not the count; a budget it cannot decide
    scans further, and a scan that reaches the end keeps the count."""
    text = "def a():\n    pass\ndef b():\n    pass\n" + "x = 1\n" * 20_000 + "def c():\n    pass\n"
    f = SourceFile("big.py", text, len(text), "f" * 40)
    model = _model([f], tmp_path)

    def kept() -> list[str]:
        entries = model._signatures._entries.values()
        return [v for v in entries if v is not None and re.fullmatch(r"\d+\+?", v)]

    assert not model.definition_guess_exceeds("big.py", 6 * 20_010)  # more than its lines: no scan
    assert kept() == []
    assert model.definition_guess_exceeds("big.py", 6)  # 2 lines * 6 > 6
    assert kept() == ["2+"]
    assert model.definition_guess_exceeds("big.py", 17)  # 3 * 6 > 17
    assert kept() == ["3+"]
    assert not model.definition_guess_exceeds("big.py", 18)  # 3 * 6 = 18, not more
    assert kept() == ["3"]
    assert model.definition_guess_exceeds("big.py", 6)  # from the exact count


def test_prefetched_counts_are_exact_whoever_counts_them(tmp_path: Path) -> None:
    """take() right away: the main thread counts what the prefetch thread has not started; every count
    and middle equals counting the texts directly, and the batch of a text that fails to load is just
    left out (for make_exact to count, and raise, itself)."""
    files = _files()
    model = _model(files, tmp_path)
    texts = {f"{i:040x}": f.text for i, f in enumerate(files)}

    def broken() -> str:
        raise OSError("gone")

    todo = [(key, len(text), lambda text=text: text) for key, text in texts.items()]
    todo.insert(3, ("e" * 40, 10, broken))
    class SmallBatches(CountPrefetch):
        BATCH_CHARS = 8 * 1024

    prefetch = SmallBatches(model._counted_in_pieces, todo)
    assert len(prefetch._batches) > 10  # several batches, so both threads get some
    failed = next({key for key, _, _ in batch} for batch in prefetch._batches if "e" * 40 in {k for k, _, _ in batch})
    counts, middles = prefetch.take()
    tokenizer = get_tokenizer("cl100k")
    exact = dict(zip(texts, tokenizer.count_many(list(texts.values())), strict=True))
    assert counts == {key: n for key, n in exact.items() if key not in failed}  # the broken text's batch is left
    assert middles and all(tokenizer.count(m) == n for m, n in middles.items())


def test_batches_keep_order_and_end_where_they_reach_the_size() -> None:
    todo = [(str(i), n, str) for i, n in enumerate([5, 5, 1, 9, 3, 20, 1])]
    cut = [[key for key, _, _ in batch] for batch in _batches(todo, 10)]
    assert cut == [["0", "1"], ["2", "3"], ["4", "5"], ["6"]]


def test_take_counts_only_what_the_plan_needs_of_the_batches_nobody_started(tmp_path: Path) -> None:
    """The prefetch thread is held inside its first batch; take(needed) then counts, of the batches
    left, only the needed files (exactly), and still waits for the batch the thread had started."""
    files = _files()[:12]
    model = _model(files, tmp_path)
    keys = [f"{i:040x}" for i in range(len(files))]
    entered, release = threading.Event(), threading.Event()

    def loader(i: int) -> Callable[[], str]:
        def load() -> str:
            if i == 0:
                entered.set()
                release.wait(10)
            if i == 7:
                release.set()
            return files[i].text

        return load

    class OnePerBatch(CountPrefetch):
        BATCH_CHARS = 1

    prefetch = OnePerBatch(model._counted_in_pieces, [(k, 1, loader(i)) for i, k in enumerate(keys)])
    assert entered.wait(10)
    counts, _ = prefetch.take(needed={keys[5], keys[7]})
    assert set(counts) == {keys[0], keys[5], keys[7]}  # 0 was started before take: it is finished
    tokenizer = get_tokenizer("cl100k")
    assert all(counts[keys[i]] == tokenizer.count(files[i].text) for i in (0, 5, 7))
