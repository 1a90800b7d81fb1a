"""Contract: prompt templates are files; a missing variable is an error that names it; users override
a template from their config folder or with a path; packed text is never re-interpreted as a template."""

from __future__ import annotations

from pathlib import Path

import pytest

from wholerepo import paths
from wholerepo.errors import UsageError
from wholerepo.prompts import load_template, render_template


@pytest.mark.parametrize(("variables", "missing"), [
    ({"pack": "P", "question": "Q"}, None),
    ({"pack": "P"}, "question"),
    ({"question": "Q"}, "pack"),
    ({}, "pack, question"),
])
def test_ask_template_variables(variables: dict[str, str], missing: str | None) -> None:
    if missing is None:
        text = render_template("ask", **variables)
        assert text.index("P") < text.index("Question: Q")  # pack first: the prefix cache depends on it
        assert "{{" not in text
    else:
        with pytest.raises(UsageError, match=f"not given: {missing}$"):
            render_template("ask", **variables)


def test_packed_text_with_braces_stays_literal() -> None:
    text = render_template("ask", pack="x = '{{question}}'", question="why?")
    assert "x = '{{question}}'" in text


def test_user_override_and_explicit_path(tmp_path: Path) -> None:
    override = paths.config_dir() / "prompts" / "ask.md"
    override.parent.mkdir(parents=True)
    override.write_text("MINE {{pack}} / {{question}}")
    assert render_template("ask", pack="p", question="q") == "MINE p / q"
    explicit = tmp_path / "t.md"
    explicit.write_text("{{question}} only")
    assert load_template("ask", explicit).variables == frozenset({"question"})
    with pytest.raises(UsageError, match="does not exist"):
        load_template("ask", tmp_path / "missing.md")


def test_unknown_template_lists_the_builtins() -> None:
    with pytest.raises(UsageError, match="ask"):
        load_template("nonexistent")
