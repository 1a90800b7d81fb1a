"""Contract: rank_files orders a real repository best first. README, architecture docs and entry points
lead the default order, then the most-imported modules, with tests, fixtures and translations last; a
question puts the file it names first; a change puts the changed file first and its importers next."""

from __future__ import annotations

from pathlib import Path

import pytest

from wholerepo.ingest import rank as rank_module
from wholerepo.ingest.discover import discover_files
from wholerepo.ingest.history import file_churn
from wholerepo.ingest.rank import rank_files
from wholerepo.ingest.read import ReadOptions, read_files
from wholerepo.ingest.types import SourceFile

APP = {
    "README.md": "# shop\nA small shop service.\n",
    "docs/architecture.md": "# Architecture\nRequests flow from cli to orders to storage.\n",
    "docs/es/index.md": "# Tienda\n",
    "pyproject.toml": '[project]\nname = "shop"\n[project.scripts]\nshop = "shop.launch:run"\n',
    "shop/__init__.py": "",
    "shop/launch.py": "from shop.orders import place_order\n\ndef run():\n    place_order()\n",
    "shop/storage.py": "class Storage:\n    def save(self, row):\n        return row\n",
    "shop/orders.py": "from shop.storage import Storage\nfrom . import pricing\n\ndef place_order():\n"
    "    return Storage().save(pricing.total())\n",
    "shop/pricing.py": "from .storage import Storage\n\ndef total():\n    return 42\n",
    "shop/reports.py": "from shop import storage\n\ndef monthly_report():\n    return storage\n",
    "shop/unrelated.py": "def helper():\n    return 'nothing to see'\n",
    "tests/test_orders.py": "from shop.orders import place_order\n\ndef test_order():\n    place_order()\n",
    "tests/fixtures/big.json": '{"rows": [1, 2, 3]}\n',
}


@pytest.fixture
def load(make_repo):
    """Read a real repository through the real discover and read stages."""

    def run(files: dict[str, str]) -> list[SourceFile]:
        repo: Path = make_repo(files)
        return list(read_files(discover_files(repo), ReadOptions()).files)

    return run


def order(ranked) -> list[str]:
    return [r.file.path for r in ranked]


def test_default_order_leads_with_readme_docs_and_entry_points(load) -> None:
    paths = order(rank_files(load(APP)))
    assert paths[0] == "README.md"
    assert paths[1] == "docs/architecture.md"
    assert paths.index("pyproject.toml") < paths.index("shop/orders.py")
    assert paths.index("shop/launch.py") < paths.index("shop/storage.py")  # declared in [project.scripts]
    # storage is imported by three modules, unrelated by none
    assert paths.index("shop/storage.py") < paths.index("shop/unrelated.py")
    assert paths.index("shop/unrelated.py") < paths.index("tests/test_orders.py")
    assert paths[-2:] == ["tests/fixtures/big.json", "docs/es/index.md"]


def test_default_order_is_not_query_specific(load) -> None:
    assert not any(r.query_specific for r in rank_files(load(APP)))


def test_named_path_ranks_first(load) -> None:
    ranked = rank_files(load(APP), query="why does shop/reports.py return the module?")
    assert ranked[0].file.path == "shop/reports.py"
    assert ranked[0].query_specific
    assert "named" in ranked[0].reason


def test_defined_identifier_ranks_first(load) -> None:
    ranked = rank_files(load(APP), query="How is monthly_report computed?")
    assert ranked[0].file.path == "shop/reports.py"


def test_query_pulls_in_import_neighbours(load) -> None:
    paths = order(rank_files(load(APP), query="What does place_order in shop/orders.py do?"))
    assert paths[0] == "shop/orders.py"
    # pricing is imported by orders; unrelated touches nothing
    assert paths.index("shop/pricing.py") < paths.index("shop/unrelated.py")


def test_changed_file_first_then_its_importers(load) -> None:
    ranked = rank_files(load(APP), changed=["shop/storage.py"])
    paths = order(ranked)
    assert paths[0] == "shop/storage.py"
    importers = {"shop/orders.py", "shop/pricing.py", "shop/reports.py"}
    assert set(paths[1:4]) == importers
    assert all(r.query_specific for r in ranked[:4])
    assert ranked[1].reason.startswith("imports changed file")


def test_changed_file_pulls_in_what_it_imports(load) -> None:
    paths = order(rank_files(load(APP), changed=["shop/orders.py"]))
    assert paths[0] == "shop/orders.py"
    assert paths.index("shop/storage.py") < paths.index("shop/unrelated.py")
    assert paths.index("shop/launch.py") < paths.index("README.md")  # launch imports orders


def test_order_is_deterministic(load) -> None:
    files = load(APP)
    assert order(rank_files(files, query="orders")) == order(rank_files(list(files), query="orders"))


def test_churn_lifts_busy_code_but_not_above_entry_points(make_repo) -> None:
    files = {
        **APP,
        "shop/quiet.py": "def a():\n    return 1\n",
        "shop/zz_busy.py": "def b():\n    return 1\n",
    }
    edits = [{"shop/zz_busy.py": f"def b():\n    return {i}\n"} for i in range(8)]
    repo = make_repo(files, commits=edits)
    sources = list(read_files(discover_files(repo), ReadOptions()).files)
    churn = file_churn(repo, [f.path for f in sources])
    paths = order(rank_files(sources, churn=churn))
    assert paths.index("shop/zz_busy.py") < paths.index("shop/quiet.py")
    assert paths.index("shop/launch.py") < paths.index("shop/zz_busy.py")
    assert order(rank_files(sources)).index("shop/zz_busy.py") > order(rank_files(sources)).index(
        "shop/quiet.py"
    )


def test_structure_cache_gives_the_same_order(load, wholerepo_home: Path) -> None:
    files = load(APP)
    first = order(rank_files(files, query="orders"))
    stored = list((wholerepo_home / "cache" / "rank").glob("*.pickle"))
    assert len(stored) == 1
    rank_module._last_base.clear()  # what a new process starts with: only the disk cache is left
    assert order(rank_files(files, query="orders")) == first
    stored[0].write_bytes(b"not a pickle")
    rank_module._last_base.clear()
    assert order(rank_files(files, query="orders")) == first  # a broken entry is rebuilt, not fatal


def test_a_scope_tag_lifts_the_component_it_names(load) -> None:
    """A title tagged [ty] names the ty_* crates: of two files that match the words equally, the one
    under a folder the tag names comes first; without the tag the tie goes by path."""
    body = "pub fn narrow_union(x: u32) -> u32 {\n    // narrow the union\n    x\n}\n"
    files = load(
        {
            "README.md": "# tools\n",
            "crates/lint_rules/src/narrow.rs": body,
            "crates/ty_check/src/narrow.rs": body,
        }
    )
    plain = order(rank_files(files, query="Narrow unions of literals"))
    assert plain.index("crates/lint_rules/src/narrow.rs") < plain.index("crates/ty_check/src/narrow.rs")
    tagged = order(rank_files(files, query="[ty] Narrow unions of literals"))
    assert tagged[0] == "crates/ty_check/src/narrow.rs"
