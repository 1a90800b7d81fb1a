"""Contract: counting a text in pieces cut at line starts (count_pieces.py) gives exactly the count of the
whole, for every tokenizer that claims it (V4, o200k, cl100k), on real files and on random strings of the
characters that matter; and a cut before whitespace or "/" is not one (so the test can fail)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from wholerepo.ingest.count_pieces import count_with_known_middles, is_cut, middle_span, split_for_counting
from wholerepo.ingest.tokenizers import get_tokenizer

TOKENIZERS = ("v4", "o200k", "cl100k")
CUT = re.compile(r"\n(?=[^\s/])")
# newlines, whitespace of several kinds, brackets, letters, digits, punctuation, CJK, a zero-width space and
# combining accent (V4 sends those texts to its HF path), added-token anchors
ALPHABET = ["\n", "\n", "\r\n", " ", "  ", "\t", "}", ")", "]", "a", "Foo", "x", "1", "23", "/", "//", "'",
            "'s", "{", "(", "中", "文", "é", "\u200b", "<|", "｜", ".", ",", ";", "#", "*", "-", "_", "=",
            "$", "\u3000", "\xa0", "\u0301", "ß"]  # fmt: skip
REPO = Path(__file__).resolve().parents[2]


def _pieces(text: str, cut: re.Pattern[str]) -> list[str]:
    points = [m.end() for m in cut.finditer(text)]
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if b > a]


def _random_texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(5, 40))) for _ in range(count)]


@pytest.mark.parametrize("name", TOKENIZERS)
def test_counts_add_up_across_every_cut_of_real_files(name: str) -> None:
    tokenizer = get_tokenizer(name)
    files = sorted(REPO.glob("ingest/*.py")) + sorted(REPO.glob("*.md")) + sorted(REPO.glob("docs/*.md"))
    texts = [f.read_text(encoding="utf-8") for f in files]
    assert len(texts) > 30
    for text in texts:
        assert sum(tokenizer.count_many(_pieces(text, CUT))) == tokenizer.count(text)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_counts_add_up_on_random_strings(name: str) -> None:
    tokenizer = get_tokenizer(name)
    for text in _random_texts(3000, seed=7):
        pieces = _pieces(text, CUT)
        assert sum(len(tokenizer.encode(p)) for p in pieces) == len(tokenizer.encode(text)), repr(text)


def test_whitespace_and_slash_are_not_cuts() -> None:
    """The exceptions are needed: cutting before whitespace breaks all three, before "/" breaks o200k."""
    broken = {name: 0 for name in TOKENIZERS}
    for name in TOKENIZERS:
        tokenizer = get_tokenizer(name)
        for text in _random_texts(3000, seed=7):
            pieces = _pieces(text, re.compile(r"\n(?=\S)" if name == "o200k" else r"\n(?=\s)"))
            broken[name] += sum(len(tokenizer.encode(p)) for p in pieces) != len(tokenizer.encode(text))
    assert all(broken.values()), broken
    assert not is_cut("a\n b", 2) and not is_cut("a\n/b", 2) and is_cut("a\n}b", 2) and is_cut("a\nb", 2)


def test_middle_runs_from_the_first_cut_to_the_last() -> None:
    text = "//! doc\n" + "fn f() {\n    body();\n}\n" * 200 + "  tail\n"
    start, end = middle_span(text) or (0, 0)
    assert text[start:].startswith("fn f()") and text[:end].endswith("body();\n")
    assert text[end:] == "}\n  tail\n"
    assert middle_span("short\ntext\n") is None
    assert middle_span("x" * 5000) is None  # no line start at all


def test_a_pack_is_counted_exactly_from_known_middles() -> None:
    tokenizer = get_tokenizer("v4")
    bodies = [f.read_text(encoding="utf-8") for f in sorted(REPO.glob("ingest/*.py"))[:12]]
    pieces, owners, middles = split_for_counting(bodies)
    counts = tokenizer.count_many(pieces)
    middle_counts = {m: counts[i] for m, i in middles.items()}
    assert middle_counts and len(middle_counts) <= len(bodies)
    pack = "".join(f'<file path="f{i}"><![CDATA[\n{b}]]></file>\n' for i, b in enumerate(bodies))
    known = [(m, middle_counts[m]) for m in middle_counts]
    counted: list[int] = []

    def count_many(texts: list[str]) -> list[int]:
        counted.append(sum(map(len, texts)))
        return tokenizer.count_many(texts)

    assert count_with_known_middles(pack, known, count_many) == tokenizer.count(pack)
    assert counted[0] < len(pack) // 4  # most of the pack was not counted again
    # a middle that is not where it is said to be (or is garbage) is counted, not trusted
    wrong = [("not in the pack at all\n", 10**6), *known[1:]]
    assert count_with_known_middles(pack, wrong, tokenizer.count_many) == tokenizer.count(pack)
