"""Contract: the pack memo (pack_memo.py) answers a second pack of an unchanged tree without ranking or
planning, and every part of its key matters: change that part alone and the pack is made afresh, equal
to a pack with empty caches (each test fails if its part is left out of the key). Real git
repositories, real tokenizers, real packs."""

from __future__ import annotations

import os
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import git, write_files
from wholerepo.ingest import pack_memo
from wholerepo.ingest.options import PackOptions
from wholerepo.ingest.pack import pack_repository
from wholerepo.ingest.rank import rank_files
from wholerepo.ingest.types import PackResult, RankedFile, SourceFile


def _module(name: str, num_functions: int) -> str:
    body = "".join(
        textwrap.dedent(f'''
        def {name}_step_{i}(value: int) -> int:
            """Step {i} of {name}."""
            return value * {i} + 1
        ''')
        for i in range(num_functions)
    )
    return f'"""The {name} module."""\n' + body


FILES: dict[str, str | bytes] = {
    "README.md": "# Demo\n\nA demo project about parsing and billing.\n",
    "src/billing.py": _module("invoice", 12),
    "src/parser.py": _module("parse", 12),
    "big.txt": "y" * 4000 + "\n",
} | {f"src/mod_{i:02}.py": _module(f"mod{i}", 8) for i in range(12)}
BUDGET = 2_500  # about half of the repository: ranking, churn and the question decide what goes in full


def _pack(repo: Path, **kw: object) -> PackResult:
    return pack_repository(PackOptions(path=repo, **kw))  # type: ignore[arg-type]


def _answered_by_memo(result: PackResult) -> bool:
    return "select" not in result.timings  # a hit returns right after the read


def _same(a: PackResult, b: PackResult) -> bool:
    return replace(a, timings={}) == replace(b, timings={})


def _fresh(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> PackResult:
    """The truth: a pack with empty caches."""
    home = os.environ["WHOLEREPO_HOME"]
    monkeypatch.setenv("WHOLEREPO_HOME", str(tmp_path / f"fresh-{len(list(tmp_path.glob('fresh-*')))}"))
    try:
        return _pack(repo, **kw)
    finally:
        monkeypatch.setenv("WHOLEREPO_HOME", home)


def _changed_and_fresh(
    before: PackResult, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object
) -> PackResult:
    """Pack again after a change: not the memo's answer, different from `before`, equal to a fresh pack."""
    after = _pack(repo, **kw)
    assert not _answered_by_memo(after)
    assert not _same(after, before)  # the memo's stale answer would have been `before`
    assert _same(after, _fresh(repo, tmp_path, monkeypatch, **kw))
    assert _answered_by_memo(_pack(repo, **kw))  # and the new pack is remembered in turn
    return after


def test_an_unchanged_tree_is_answered_by_the_memo(make_repo, tmp_path: Path, monkeypatch) -> None:
    repo = make_repo(FILES)
    first = _pack(repo, budget=BUDGET, query="how are invoices parsed?")
    again = _pack(repo, budget=BUDGET, query="how are invoices parsed?")
    assert not _answered_by_memo(first) and _answered_by_memo(again)
    assert _same(again, first)  # text, counts, every file's mode and reason, every skip
    assert set(again.timings) == {"discover", "read", "rank"}
    assert _same(again, _fresh(repo, tmp_path, monkeypatch, budget=BUDGET, query="how are invoices parsed?"))


@pytest.mark.parametrize(
    "option",
    [
        {"query": "billing invoice steps"},
        {"budget": BUDGET + 1_500},
        {"tokenizer": "o200k"},
        {"format": "markdown"},
        {"line_numbers": True},
        {"max_file_bytes": 1_000},
        {"excludes": ("src/parser.py",)},
    ],
    ids=lambda option: next(iter(option)),
)
def test_each_option_is_part_of_the_key(
    make_repo, tmp_path: Path, monkeypatch, option: dict[str, object]
) -> None:
    repo = make_repo(FILES)
    before = _pack(repo, budget=BUDGET)
    _changed_and_fresh(before, repo, tmp_path, monkeypatch, **({"budget": BUDGET} | option))


@pytest.mark.parametrize("edit", ["content", "added", "skipped detail"])
def test_the_files_read_and_skipped_are_part_of_the_key(
    make_repo, tmp_path: Path, monkeypatch, edit: str
) -> None:
    repo = make_repo(FILES)
    kw = {"budget": BUDGET, "max_file_bytes": 1_000}
    before = _pack(repo, **kw)
    if edit == "content":  # same size, other bytes: only its content id changes
        write_files(repo, {"README.md": FILES["README.md"].replace("billing", "invoice")})  # type: ignore[union-attr]
    elif edit == "added":
        write_files(repo, {"src/extra.py": _module("extra", 2)})
        git(repo, "add", "src/extra.py")
    else:  # still skipped as too large, with another size: only the skip's detail changes
        write_files(repo, {"big.txt": "z" * 5000 + "\n"})
    after = _changed_and_fresh(before, repo, tmp_path, monkeypatch, **kw)
    if edit == "skipped detail":
        assert after.text == before.text and "5,001 bytes" in {s.path: s.detail for s in after.skipped}["big.txt"]


def test_the_commit_is_part_of_the_key(make_repo, tmp_path: Path, monkeypatch) -> None:
    """An empty commit changes the commit id, and nothing else a pack is made from."""
    repo = make_repo(FILES)
    before = _pack(repo, budget=BUDGET)
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    after = _changed_and_fresh(before, repo, tmp_path, monkeypatch, budget=BUDGET)
    assert after.commit == git(repo, "rev-parse", "HEAD").strip() != before.commit


def test_the_history_is_part_of_the_key(make_repo, tmp_path: Path, monkeypatch) -> None:
    """Deepening a shallow clone changes the files' churn (and so the order of the stable part) while
    HEAD, the index and the work tree stay as they were."""
    commits: list[dict[str, str | bytes | None]] = [
        {"src/billing.py": _module("invoice", 12 + n)} for n in range(1, 5)
    ]
    origin = make_repo(FILES, commits=commits)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    before = _pack(clone, budget=20_000)
    git(clone, "fetch", "-q", "--unshallow")
    after = _changed_and_fresh(before, clone, tmp_path, monkeypatch, budget=20_000)
    assert after.commit == before.commit and after.text != before.text


def test_the_changed_paths_of_a_diff_are_part_of_the_key(make_repo, tmp_path: Path, monkeypatch) -> None:
    """--diff base: moving the branch `base` changes what changed, not HEAD or the tree."""
    repo = make_repo(FILES, commits=[{"tests/test_billing.py": _module("test_invoice", 4)}])
    git(repo, "branch", "base", "HEAD~1")
    before = _pack(repo, budget=BUDGET, diff_ref="base")
    git(repo, "branch", "-f", "base", "HEAD")
    _changed_and_fresh(before, repo, tmp_path, monkeypatch, budget=BUDGET, diff_ref="base")


def test_the_tokenizer_folder_is_part_of_the_key(make_repo, tmp_path: Path, monkeypatch) -> None:
    """`hf:tok` names another folder from another working directory: same option, other tokenizer."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    for name, splitter in (("words", pre_tokenizers.Whitespace()), ("chars", pre_tokenizers.Split(Regex("."), "isolated"))):
        tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = splitter
        (tmp_path / name / "tok").mkdir(parents=True)
        tokenizer.save(str(tmp_path / name / "tok" / "tokenizer.json"))
    repo = make_repo(FILES)
    monkeypatch.chdir(tmp_path / "words")
    before = _pack(repo, budget=100_000, tokenizer="hf:tok")
    monkeypatch.chdir(tmp_path / "chars")
    after = _changed_and_fresh(before, repo, tmp_path, monkeypatch, budget=100_000, tokenizer="hf:tok")
    assert after.total_tokens > 2 * before.total_tokens


def test_the_root_is_part_of_the_key(make_repo, tmp_path: Path, monkeypatch) -> None:
    """Two clones of one tree under other names: each pack names its own repository."""
    first, second = make_repo(FILES, name="first"), make_repo(FILES, name="second")
    before = _pack(first, budget=BUDGET)
    after = _changed_and_fresh(before, second, tmp_path, monkeypatch, budget=BUDGET)
    assert (before.repo, after.repo) == ("first", "second")


def test_a_code_change_empties_the_memo(make_repo, tmp_path: Path, monkeypatch) -> None:
    """The modules that make a pack are fingerprinted by size and mtime; so is the version."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "stage.py").write_text("x = 1\n")
    (code / "profiles.py").write_text("y = 1\n")
    monkeypatch.setattr(pack_memo, "CODE_FOLDERS", (code,))
    monkeypatch.setattr(pack_memo, "CODE_FILES", (code / "profiles.py",))
    repo = make_repo(FILES)
    _pack(repo, budget=BUDGET)
    assert _answered_by_memo(_pack(repo, budget=BUDGET))
    for change in ("stage.py", "profiles.py", "version"):
        if change == "version":
            monkeypatch.setattr(pack_memo, "__version__", "0.0.0-other")
        else:
            (code / change).write_text("x = 22\n")  # another size
        assert not _answered_by_memo(_pack(repo, budget=BUDGET)), change
        assert _answered_by_memo(_pack(repo, budget=BUDGET)), change


def test_a_substituted_stage_is_never_answered_from_the_memo(make_repo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    plain = _pack(repo, budget=BUDGET)
    _pack(repo, budget=BUDGET)

    def backwards(files: list[SourceFile], **kw: object) -> list[RankedFile]:
        return rank_files(files, **kw)[::-1]  # type: ignore[arg-type]

    swapped = pack_repository(PackOptions(path=repo, budget=BUDGET), rank=backwards)
    assert not _answered_by_memo(swapped) and swapped.text != plain.text
    assert _same(_pack(repo, budget=BUDGET), plain)  # the memo still holds the real pack


def test_a_damaged_memo_is_a_miss(make_repo, tmp_path: Path, monkeypatch) -> None:
    repo = make_repo(FILES)
    first = _pack(repo, budget=BUDGET)
    (memo,) = (Path(os.environ["WHOLEREPO_HOME"]) / "cache").glob("pack-memo-*.pickle")
    memo.write_bytes(b"not a pickle")
    again = _pack(repo, budget=BUDGET)
    assert not _answered_by_memo(again) and _same(again, first)
