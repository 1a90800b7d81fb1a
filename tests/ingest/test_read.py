"""Contract: reading keeps content as it is on disk (CRLF stays CRLF), decodes invalid UTF-8 with
replacement characters and flags it, and gives each text a content_sha equal to git's blob id of the
bytes packed (the token-count cache key)."""

from __future__ import annotations

import subprocess

import pytest

from wholerepo.errors import UsageError
from wholerepo.ingest.discover import discover_files
from wholerepo.ingest.read import ReadOptions, read_files


def read(make_repo, files: dict[str, str | bytes], **options: object) -> dict:
    result = read_files(discover_files(make_repo(files)), ReadOptions(**options))  # type: ignore[arg-type]
    return {f.path: f for f in result.files}


def test_crlf_is_kept_byte_for_byte(make_repo) -> None:
    files = read(make_repo, {"win.bat": b"@echo off\r\necho hi\r\n", "mixed.txt": b"a\r\nb\nc\r"})
    assert files["win.bat"].text == "@echo off\r\necho hi\r\n"
    assert files["mixed.txt"].text == "a\r\nb\nc\r"
    assert files["win.bat"].size_bytes == 20


def test_invalid_utf8_is_replaced_and_flagged(make_repo) -> None:
    files = read(make_repo, {"bad.txt": b"ok \xff\xfe here\n", "good.txt": "caf\u00e9 \u2713\n"})
    assert files["bad.txt"].text == "ok \ufffd\ufffd here\n"
    assert files["bad.txt"].invalid_utf8 is True
    assert files["good.txt"].text == "caf\u00e9 \u2713\n"
    assert files["good.txt"].invalid_utf8 is False


def test_utf16_with_a_bom_is_decoded_not_called_binary(make_repo) -> None:
    files = read(make_repo, {"strings.rc": "\ufeffSTRINGTABLE\r\nBEGIN\r\nEND\r\n".encode("utf-16-le")})
    assert files["strings.rc"].text == "STRINGTABLE\r\nBEGIN\r\nEND\r\n"  # the codec consumes the BOM
    assert files["strings.rc"].invalid_utf8 is False


def test_content_sha_is_gits_blob_id(make_repo) -> None:
    repo = make_repo({"a.py": "x = 1\n", "crlf.txt": b"a\r\nb\r\n"})
    (repo / "untracked.py").write_text("u = 1\n")
    result = read_files(discover_files(repo, untracked=True), ReadOptions())
    for source in result.files:
        expected = subprocess.run(
            ["git", "hash-object", "--no-filters", source.path],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert source.content_sha == expected, source.path


def test_read_options_validate_the_cap() -> None:
    with pytest.raises(UsageError, match="max_file_bytes must be positive"):
        ReadOptions(max_file_bytes=0)
    assert ReadOptions().max_file_bytes == 1 << 20
