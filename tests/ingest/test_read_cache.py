"""Contract: a second read of an unchanged repository gives the same files, skips and redactions from the
content cache, without classifying or scanning again; an edited file (even with its size and mtime put
back) is judged afresh; options that change a verdict do not share entries."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from wholerepo.errors import WholerepoError
from wholerepo.ingest.discover import discover_files
from wholerepo.ingest.read import ReadOptions, blob_sha_of, read_files
from wholerepo.ingest.read_cache import ReadCache

TOKEN = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"  # split: no secret scanner flags this file


def _files(repo: Path) -> dict[str, str | bytes]:
    return {
        "ci.sh": f"export GH_TOKEN={TOKEN}\n",
        "app.py": "def main() -> int:\n    return 0\n",
        "blob.bin": b"\x00\x01\x02binary\x00" * 50,
        "bad.txt": b"caf\xe9 latin-1\n",
    }


def _read(repo: Path, cache: ReadCache, **kw: object):
    return read_files(discover_files(repo), ReadOptions(**kw), cache=cache)  # type: ignore[arg-type]


def test_warm_read_equals_cold_and_never_judges_again(make_repo, tmp_path: Path) -> None:
    repo = make_repo(_files(tmp_path))
    cold = _read(repo, ReadCache(tmp_path / "cache"))
    warm_cache = ReadCache(tmp_path / "cache")
    warm = _read(repo, warm_cache)
    assert warm == cold
    by_path = {f.path: f for f in warm.files}
    assert TOKEN not in by_path["ci.sh"].text and by_path["ci.sh"].num_redactions == 1
    assert by_path["bad.txt"].invalid_utf8
    assert "blob.bin" in {s.path for s in warm.skipped}
    assert not warm_cache._dirty  # every verdict came from the cache (reaching in: no public counter)


def test_an_edit_that_keeps_size_and_mtime_is_seen(make_repo, tmp_path: Path) -> None:
    repo = make_repo(_files(tmp_path))
    cache_dir = tmp_path / "cache"
    _read(repo, ReadCache(cache_dir))
    target = repo / "app.py"
    before = target.stat()
    target.write_text("def main() -> int:\n    return 9\n")  # same length
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    edited = {f.path: f for f in _read(repo, ReadCache(cache_dir)).files}
    assert "return 9" in edited["app.py"].text


def test_no_redact_does_not_reuse_the_redacted_text(make_repo, tmp_path: Path) -> None:
    repo = make_repo(_files(tmp_path))
    cache_dir = tmp_path / "cache"
    _read(repo, ReadCache(cache_dir))
    plain = {f.path: f for f in _read(repo, ReadCache(cache_dir), redact=False).files}
    assert TOKEN in plain["ci.sh"].text and plain["ci.sh"].num_redactions == 0
    kept = _read(repo, ReadCache(cache_dir), keep_generated=True, keep_minified=True)
    assert {f.path for f in kept.files} >= {"ci.sh", "app.py"}


def test_a_warm_read_of_clean_files_loads_text_only_when_used(make_repo, tmp_path: Path) -> None:
    """Unchanged files come back without being read: their text is read on first use, so a file removed
    after the read fails then, with a typed error (a cold read would have read it at once)."""
    repo = make_repo(_files(tmp_path) | {"gone.py": "x = 1\n"})
    cold = _read(repo, ReadCache(tmp_path / "cache"))
    warm = _read(repo, ReadCache(tmp_path / "cache"))
    by_path = {f.path: f for f in warm.files}
    assert by_path["app.py"].loader is not None and by_path["ci.sh"].loader is None  # redacted: cached text
    assert by_path["app.py"].num_chars() == len("def main() -> int:\n    return 0\n")
    (repo / "gone.py").unlink()
    with pytest.raises(WholerepoError, match="gone.py could not be read"):
        _ = by_path["gone.py"].text
    assert [f.text for f in warm.files if f.path != "gone.py"] == [
        f.text for f in cold.files if f.path != "gone.py"
    ]


def test_crlf_conversion_is_read_not_taken_from_the_index(make_repo, tmp_path: Path) -> None:
    """A checkout with core.autocrlf writes CRLF while git reports the file clean against its LF blob:
    the size differs from the cached verdict's, so the file is read and its own bytes' id is used."""
    repo = make_repo({"app.py": "a = 1\nb = 2\n"})
    _read(repo, ReadCache(tmp_path / "cache"))
    subprocess.run(["git", "config", "core.autocrlf", "true"], cwd=repo, check=True)
    (repo / "app.py").unlink()
    subprocess.run(["git", "checkout", "--", "app.py"], cwd=repo, check=True)  # a test repo in tmp_path
    assert (repo / "app.py").read_bytes() == b"a = 1\r\nb = 2\r\n"
    assert discover_files(repo).files[0].blob_sha is not None  # git: clean
    warm = _read(repo, ReadCache(tmp_path / "cache")).files[0]
    cold = _read(repo, ReadCache(tmp_path / "other-cache")).files[0]
    assert (
        warm == cold
        and warm.text == "a = 1\r\nb = 2\r\n"
        and warm.content_sha == blob_sha_of(b"a = 1\r\nb = 2\r\n")
    )
