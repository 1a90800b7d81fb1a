"""Contract: the rank cache's key is a digest of every (path, blob id) pair, in order, and there is none
when a file has no blob id; a stored structure loads back equal."""

from __future__ import annotations

import hashlib
from pathlib import Path

from wholerepo.ingest.rank_cache import FORMAT, RankStructure, load_structure, store_structure, tree_key
from wholerepo.ingest.types import SourceFile


def source(path: str, sha: str) -> SourceFile:
    return SourceFile(path, "", 0, sha)


def test_tree_key_digests_every_path_and_blob_in_order() -> None:
    files = [source("a.py", "1" * 40), source("dir/b\udcff.rs", "2" * 40)]  # an undecodable file name too
    expected = hashlib.blake2b(f"rank-v{FORMAT}".encode(), digest_size=20)
    for f in files:  # the key's definition, one pair at a time: keys written before stay valid
        expected.update(f.path.encode("utf-8", "surrogateescape") + b"\0" + f.content_sha.encode() + b"\0")
    assert tree_key(files) == expected.hexdigest()
    assert tree_key(files[::-1]) != tree_key(files)
    assert tree_key([source("a.py", "1" * 40), source("dir/c.rs", "2" * 40)]) != tree_key(files)
    assert tree_key([*files, source("new.py", "")]) is None


def test_stored_structure_loads_back(tmp_path: Path) -> None:
    structure = RankStructure({"a.py": "source"}, {"a.py": 1.0}, {"a.py": ("b.py",)})
    store_structure("k", structure, tmp_path)
    assert load_structure("k", tmp_path) == structure
    assert load_structure("missing", tmp_path) is None
