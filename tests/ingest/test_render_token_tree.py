"""Contract: `--tree` sums every file's tokens into each of its folders, biggest folder first."""

from __future__ import annotations

from wholerepo.ingest.tree import build_token_tree, format_token_tree
from wholerepo.ingest.types import Mode, PackedFile


def test_folders_sum_their_files_biggest_first() -> None:
    files = [
        PackedFile("a/x.py", Mode.FULL, 100, ""),
        PackedFile("a/b/y.py", Mode.SIGNATURES, 10, ""),
        PackedFile("c/z.py", Mode.FULL, 500, ""),
        PackedFile("top.md", Mode.PATH, 0, ""),
    ]
    root = build_token_tree(files)
    assert (root.tokens, root.num_files, root.num_full) == (610, 4, 2)
    assert root.children["a"].tokens == 110 and root.children["a"].children["b"].tokens == 10
    lines = format_token_tree(root).splitlines()
    assert [line.split()[-1] for line in lines] == ["./", "c/", "a/", "b/"]
    assert lines[1].split()[0] == "500"
