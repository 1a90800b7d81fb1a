"""Contract: token counts are remembered on disk by (git blob sha, tokenizer), so a second pack of an
unchanged repository tokenizes no file; the cache survives a new process, is separate per tokenizer,
loads fast, and a damaged file costs a warning and a recount, never a crash."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from wholerepo.ingest.options import PackOptions
from wholerepo.ingest.pack import pack_repository
from wholerepo.ingest.token_cache import TokenCountCache, cache_file_for, read_counts
from wholerepo.ingest.tokenizers import Tokenizer, get_tokenizer


class CountingTokenizer:
    """The real tokenizer, recording every text it is asked to tokenize."""

    def __init__(self, inner: Tokenizer) -> None:
        self.inner = inner
        self.name = inner.name
        self.seen: list[str] = []

    def encode(self, text: str) -> list[int]:
        self.seen.append(text)
        return self.inner.encode(text)

    def count(self, text: str) -> int:
        self.seen.append(text)
        return self.inner.count(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        self.seen.extend(texts)
        return self.inner.count_many(texts)


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def counts_through_cache(tokenizer: Tokenizer, texts: list[str]) -> dict[str, int]:
    """What a pack does: look the blobs up, count only the missing ones, store and flush."""
    cache = TokenCountCache(tokenizer.name)
    shas = {blob_sha(t): t for t in texts}
    known = cache.get_many(shas)
    missing = [sha for sha in shas if sha not in known]
    if missing:
        fresh = dict(zip(missing, tokenizer.count_many([shas[s] for s in missing]), strict=True))
        cache.put_many(fresh)
        cache.flush()
        known |= fresh
    return known


TEXTS = [f"def f{i}(x):\n    return x * {i}  # unique-marker-{i}\n" for i in range(50)]


def test_second_lookup_tokenizes_nothing() -> None:
    tokenizer = CountingTokenizer(get_tokenizer("o200k"))
    first = counts_through_cache(tokenizer, TEXTS)
    assert len(tokenizer.seen) == len(TEXTS)
    tokenizer.seen.clear()
    second = counts_through_cache(tokenizer, TEXTS)
    assert tokenizer.seen == []
    assert second == first
    assert first[blob_sha(TEXTS[3])] == get_tokenizer("o200k").count(TEXTS[3])


def test_second_pack_of_an_unchanged_repo_tokenizes_no_file(make_repo) -> None:
    repo = make_repo({f"src/m{i}.py": f"VALUE_{i} = 'file-marker-{i}'\n" * 20 for i in range(30)})
    counting = CountingTokenizer(get_tokenizer("v4"))
    options = PackOptions(path=repo, budget=50_000)
    pack_repository(options, tokenizer_for=lambda name: counting)
    assert any("file-marker-" in text for text in counting.seen)
    counting.seen.clear()
    pack_repository(options, tokenizer_for=lambda name: counting)
    assert not any("file-marker-" in text for text in counting.seen)


def test_survives_a_new_process(wholerepo_home: Path) -> None:
    script = (
        "from wholerepo.ingest.token_cache import TokenCountCache\n"
        "c = TokenCountCache('v4'); c.put_many({'ab' * 20: 7, 'cd' * 20: 11}); c.flush()\n"
    )
    env = {**os.environ, "WHOLEREPO_HOME": str(wholerepo_home)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert TokenCountCache("v4").get_many(["ab" * 20, "cd" * 20, "ef" * 20]) == {"ab" * 20: 7, "cd" * 20: 11}


def test_separate_per_tokenizer() -> None:
    v4 = TokenCountCache("v4")
    v4.put_many({"ab" * 20: 7})
    v4.flush()
    assert TokenCountCache("o200k").get_many(["ab" * 20]) == {}
    hf = TokenCountCache("hf:/some/dir")
    hf.put_many({"ab" * 20: 9})
    hf.flush()
    assert TokenCountCache("hf:/other/dir").get_many(["ab" * 20]) == {}
    assert TokenCountCache("hf:/some/dir").get_many(["ab" * 20]) == {"ab" * 20: 9}
    assert TokenCountCache("v4").get_many(["ab" * 20]) == {"ab" * 20: 7}


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # killed mid-write by something that is not os.replace
        lambda data: data[:10] + b"\xff" + data[11:],  # a flipped byte
        lambda data: b"not a cache at all",
        lambda data: b"",
    ],
)
def test_damaged_file_is_discarded_with_a_warning(damage, capsys: pytest.CaptureFixture[str]) -> None:
    cache = TokenCountCache("v4")
    cache.put_many({"ab" * 20: 7, "cd" * 20: 8})
    cache.flush()
    cache.file.write_bytes(damage(cache.file.read_bytes()))
    reloaded = TokenCountCache("v4")
    assert reloaded.get_many(["ab" * 20]) == {}
    assert "damaged token-count cache" in capsys.readouterr().err
    reloaded.put_many({"ab" * 20: 7})
    reloaded.flush()
    assert TokenCountCache("v4").get_many(["ab" * 20]) == {"ab" * 20: 7}


def test_two_writers_merge_and_leave_no_temp_files() -> None:
    first, second = TokenCountCache("v4"), TokenCountCache("v4")
    first.put_many({"ab" * 20: 1})
    second.put_many({"cd" * 20: 2})
    first.flush()
    second.flush()
    assert TokenCountCache("v4").get_many(["ab" * 20, "cd" * 20]) == {"ab" * 20: 1, "cd" * 20: 2}
    assert [p.name for p in cache_file_for("v4").parent.iterdir()] == ["v4.bin"]


def test_sha1_and_sha256_keys_and_nothing_else() -> None:
    cache = TokenCountCache("v4")
    cache.put_many({"ab" * 20: 1, "not hex": 2, "abcd": 3, "ab" * 32: 4, "cd" * 20: -1})
    cache.flush()
    found = TokenCountCache("v4").get_many(["ab" * 20, "not hex", "abcd", "ab" * 32, "cd" * 20])
    assert found == {"ab" * 20: 1, "ab" * 32: 4}  # SHA-1 and SHA-256 blob ids side by side


def test_eleven_thousand_entries_load_fast() -> None:
    """A ruff-size repository (11k files) must cost well under 50 ms warm; the bound here leaves room for
    a loaded CI machine."""
    shas = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(11_000)]
    cache = TokenCountCache("v4")
    cache.put_many({sha: i for i, sha in enumerate(shas)})
    cache.flush()
    start = time.perf_counter()
    found = TokenCountCache("v4").get_many(shas)
    elapsed = time.perf_counter() - start
    assert len(found) == 11_000 and found[shas[123]] == 123
    assert elapsed < 0.15, f"{elapsed * 1000:.0f} ms"


def test_size_is_bounded_keeping_what_this_process_used(tmp_path: Path) -> None:
    folder = tmp_path / "counts"
    old = TokenCountCache("v4", folder, max_entries=1_000)
    old.put_many({hashlib.sha1(str(i).encode()).hexdigest(): 1 for i in range(1_000)})
    old.flush()
    cache = TokenCountCache("v4", folder, max_entries=1_000)
    used = hashlib.sha1(b"0").hexdigest()
    assert cache.get_many([used]) == {used: 1}
    cache.put_many({"ef" * 20: 5})
    cache.flush()
    on_disk = read_counts(cache.file)
    assert len(on_disk) == 1_000
    assert on_disk[bytes.fromhex("ef" * 20)] == 5 and bytes.fromhex(used) in on_disk


def test_a_writer_killed_mid_flush_leaves_a_whole_file(
    wholerepo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL a process that flushes 50k-entry caches in a loop: the file on disk is always whole."""
    script = (
        "import os\n"
        "from wholerepo.ingest.token_cache import TokenCountCache\n"
        "for n in range(1000):\n"
        "    c = TokenCountCache('v4')\n"
        "    c.put_many({os.urandom(20).hex(): n for _ in range(50_000)})\n"
        "    c.flush()\n"
    )
    env = {**os.environ, "WHOLEREPO_HOME": str(wholerepo_home)}
    writer = subprocess.Popen([sys.executable, "-c", script], env=env)
    file = cache_file_for("v4")
    deadline = time.monotonic() + 60
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into a later flush
    writer.kill()
    writer.wait()
    assert len(read_counts(file)) >= 50_000  # raises if the file is not whole
    TokenCountCache("v4")
    assert "damaged" not in capsys.readouterr().err
