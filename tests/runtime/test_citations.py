"""Contract: every path:line in an answer is reported, valid only when the pack holds that file and line."""

from __future__ import annotations

from wholerepo.jobs.citations import check_citations

PACKED = {"src/app.py": 10, "README.md": 5, "lib/util.py": 3}


def test_valid_and_invalid_citations() -> None:
    answer = ("See src/app.py:3 and util.py:2-3. README.md:99 is wrong, ghost/x.py:1 is invented; "
              "at 12:30 and note:3 there is nothing to cite; src/app.py:3 again.")
    found = {c.text: c for c in check_citations(answer, PACKED)}
    assert list(found) == ["src/app.py:3", "util.py:2-3", "README.md:99", "ghost/x.py:1"]
    assert found["src/app.py:3"].valid
    assert found["util.py:2-3"].valid and found["util.py:2-3"].path == "lib/util.py"
    assert not found["README.md:99"].valid and "5 lines" in found["README.md:99"].problem
    assert not found["ghost/x.py:1"].valid and found["ghost/x.py:1"].problem == "path not in the pack"


def test_ambiguous_suffix_is_not_guessed() -> None:
    (citation,) = check_citations("a.py:1", {"x/a.py": 5, "y/a.py": 5})
    assert not citation.valid
