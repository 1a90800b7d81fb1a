"""Contract: the read memo (read_memo.py) answers a second read of an unchanged tree without deciding its
files again, and every change that can alter a file's outcome makes the read decide afresh: the result
always equals a read with empty caches. Real git repositories, real reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import git, write_files
from wholerepo.ingest.discover import discover_files
from wholerepo.ingest.options import PackOptions
from wholerepo.ingest.pack import pack_repository
from wholerepo.ingest.read import ReadOptions, ReadResult, read_files
from wholerepo.ingest.read_cache import STORE_VERSION, ReadCache
from wholerepo.ingest.types import SkipReason

FILES: dict[str, str | bytes] = {
    "app.py": "def main() -> int:\n    return 0\n",
    "lib/util.py": "def helper() -> str:\n    return 'x'\n",
    "poetry.lock": "[[package]]\nname = 'x'\n",
    "vendor/dep.js": "export const a = 1;\n",
    "big.txt": "y" * 4000 + "\n",
}


def _read(repo: Path, cache_dir: Path, **kw: object) -> ReadResult:
    return read_files(discover_files(repo), ReadOptions(**kw), cache=ReadCache(cache_dir))  # type: ignore[arg-type]


def _outcomes(result: ReadResult) -> dict[str, str]:
    """path -> what the read decided: the text, or the skip reason and its detail."""
    decided = {f.path: f"{f.text!r} {f.content_sha} {f.num_redactions} {f.invalid_utf8}" for f in result.files}
    decided.update({s.path: f"skip {s.reason.value}: {s.detail}" for s in result.skipped})
    return decided


def _fresh(repo: Path, tmp_path: Path, **kw: object) -> dict[str, str]:
    """The truth: a read with empty caches."""
    folder = tmp_path / f"fresh-{len(list(tmp_path.glob('fresh-*')))}"
    return _outcomes(_read(repo, folder, **kw))


def _forget_verdicts(cache_dir: Path) -> None:
    """Drop the verdict cache: what a read still knows without reading then came from the memo."""
    (cache_dir / f"read-verdicts-v{STORE_VERSION}.pickle").unlink()


def test_an_unchanged_tree_is_answered_by_the_memo(make_repo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    cache_dir = tmp_path / "cache"
    cold = _read(repo, cache_dir)
    _forget_verdicts(cache_dir)
    warm = _read(repo, cache_dir)
    assert _outcomes(warm) == _outcomes(cold) == _fresh(repo, tmp_path)
    by_path = {f.path: f for f in warm.files}
    assert by_path["app.py"].loader is not None  # handed out unread: only the memo knew its verdict
    assert not (cache_dir / f"read-verdicts-v{STORE_VERSION}.pickle").exists()  # never needed


@pytest.mark.parametrize("staged", [False, True])
def test_an_edited_tracked_file_is_decided_again(make_repo, tmp_path: Path, staged: bool) -> None:
    repo = make_repo(FILES)
    cache_dir = tmp_path / "cache"
    _read(repo, cache_dir)
    target = repo / "app.py"
    before = target.stat()
    target.write_bytes(b"\0" * before.st_size)  # now binary, same size and mtime
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    if staged:
        git(repo, "add", "app.py")  # clean again, under a new blob id
        assert discover_files(repo).files[0].blob_sha is not None
    warm = _outcomes(_read(repo, cache_dir))
    assert warm["app.py"].startswith("skip binary")
    assert warm == _fresh(repo, tmp_path)


def test_an_ignore_rule_added_edited_or_removed_is_applied(make_repo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    cache_dir = tmp_path / "cache"
    _read(repo, cache_dir)
    write_files(repo, {".wholerepoignore": "app.py\n"})  # untracked: read from disk all the same
    warm = _outcomes(_read(repo, cache_dir))
    assert warm["app.py"] == "skip ignored: .wholerepoignore: app.py" and warm == _fresh(repo, tmp_path)
    write_files(repo, {".wholerepoignore": "lib/\n"})
    warm = _outcomes(_read(repo, cache_dir))
    assert not warm["app.py"].startswith("skip") and warm["lib/util.py"].startswith("skip ignored")
    assert warm == _fresh(repo, tmp_path)
    write_files(repo, {"lib/.wholerepoignore": "*.py\n", ".wholerepoignore": None})  # nested, untracked
    assert not _outcomes(_read(repo, cache_dir))["lib/util.py"].startswith("skip")  # not listed: no rule
    git(repo, "add", "lib/.wholerepoignore")
    warm = _outcomes(_read(repo, cache_dir))
    assert warm["lib/util.py"] == "skip ignored: lib/.wholerepoignore: *.py" and warm == _fresh(repo, tmp_path)


@pytest.mark.parametrize(
    ("options", "path", "expected"),
    [
        ({"keep_lock_files": True}, "poetry.lock", "[[package]]"),
        ({"keep_vendored": True}, "vendor/dep.js", "export const"),
        ({"excludes": ("lib/",)}, "lib/util.py", "skip ignored: --exclude lib/"),
        ({"includes": ("lib/",)}, "app.py", "skip not-included"),
        ({"max_file_bytes": 1000}, "big.txt", "skip too-large"),
    ],
)
def test_an_option_that_changes_outcomes_is_not_answered_from_the_memo(
    make_repo, tmp_path: Path, options: dict[str, object], path: str, expected: str
) -> None:
    repo = make_repo(FILES)
    cache_dir = tmp_path / "cache"
    plain = _outcomes(_read(repo, cache_dir))
    assert expected not in plain[path]
    changed = _outcomes(_read(repo, cache_dir, **options))
    assert expected in changed[path] and changed == _fresh(repo, tmp_path, **options)
    assert _outcomes(_read(repo, cache_dir)) == plain  # and back


def test_redaction_off_is_not_answered_from_the_memo(make_repo, tmp_path: Path) -> None:
    token = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # split: no secret scanner flags this file
    repo = make_repo(FILES | {"ci.sh": f"export GH_TOKEN={token}\n"})
    cache_dir = tmp_path / "cache"
    assert token not in _outcomes(_read(repo, cache_dir))["ci.sh"]
    assert token in _outcomes(_read(repo, cache_dir, redact=False))["ci.sh"]


def test_linguist_attributes_are_applied_after_the_memo(make_repo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    cache_dir = tmp_path / "cache"
    _read(repo, cache_dir)
    write_files(repo, {".gitattributes": "lib/** linguist-vendored\nvendor/** linguist-vendored=false\n"})
    git(repo, "add", ".gitattributes")
    warm = _outcomes(_read(repo, cache_dir))
    assert warm["lib/util.py"].startswith("skip vendored") and not warm["vendor/dep.js"].startswith("skip")
    assert warm == _fresh(repo, tmp_path)


def test_a_file_over_the_cap_is_measured_again(make_repo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    cache_dir = tmp_path / "cache"
    assert _outcomes(_read(repo, cache_dir, max_file_bytes=1000))["big.txt"].startswith("skip too-large")
    write_files(repo, {"big.txt": "z" * 5000 + "\n"})
    git(repo, "add", "big.txt")
    warm = _outcomes(_read(repo, cache_dir, max_file_bytes=1000))
    assert "5,001 bytes" in warm["big.txt"] and warm == _fresh(repo, tmp_path, max_file_bytes=1000)


def test_a_damaged_memo_is_an_empty_one(make_repo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    cache_dir = tmp_path / "cache"
    _read(repo, cache_dir)
    (memo,) = cache_dir.glob("read-memo-*.pickle")
    memo.write_bytes(b"not a pickle")
    assert _outcomes(_read(repo, cache_dir)) == _fresh(repo, tmp_path)


def test_a_warm_pack_after_an_edit_equals_a_cold_one(
    make_repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(FILES)
    monkeypatch.setenv("WHOLEREPO_HOME", str(tmp_path / "warm-home"))
    pack_repository(PackOptions(path=repo, budget=20_000))
    write_files(repo, {"lib/util.py": "def helper() -> str:\n    return 'edited'\n", ".wholerepoignore": "app.py\n"})
    warm = pack_repository(PackOptions(path=repo, budget=20_000, keep_lock_files=True))
    monkeypatch.setenv("WHOLEREPO_HOME", str(tmp_path / "cold-home"))
    cold = pack_repository(PackOptions(path=repo, budget=20_000, keep_lock_files=True))
    assert warm.text == cold.text and "'edited'" in warm.text and "[[package]]" in warm.text
    assert {s.path: s.reason for s in warm.skipped}["app.py"] is SkipReason.IGNORED


def test_a_lazy_file_made_through_its_slots_equals_one_made_by_init() -> None:
    """types.lazy_source_file binds SourceFile's slots by field order: a reordered field shows here."""
    from wholerepo.ingest.types import FileOrigin, SourceFile, lazy_source_file

    class Loader:
        def load_text(self, path: str) -> str:
            return f"text of {path}\n"

    lazy = lazy_source_file("a.py", Loader(), 13, "0" * 40, (14, 1), origin=FileOrigin.UNTRACKED, invalid_utf8=True)
    assert (lazy.num_chars(), lazy.num_newlines()) == (14, 1)  # known without loading
    eager = SourceFile("a.py", "text of a.py\n", 13, "0" * 40, FileOrigin.UNTRACKED, True, 0, None)
    assert lazy == eager and lazy.text == "text of a.py\n"
