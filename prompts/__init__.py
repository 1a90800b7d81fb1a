"""Prompt templates are data: one Markdown file per template in this folder, with `{{name}}` placeholders.

A user overrides a template by putting a file of the same name in <config_dir>/prompts/<name>.md, or passes a
path (--template). Rendering raises UsageError naming every missing variable, so a custom template that
forgets {{pack}} fails loudly instead of asking the model about nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wholerepo import paths
from wholerepo.errors import UsageError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
BUILTIN_DIR = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    text: str
    source: Path

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(PLACEHOLDER.findall(self.text))


def template_path(name: str, path: Path | None = None) -> Path:
    """--template path, else the user's override, else the built-in file."""
    if path is not None:
        if not Path(path).is_file():
            raise UsageError(f"template file {path} does not exist; pass an existing Markdown file to --template")
        return Path(path)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise UsageError(f"template name {name!r} must be letters, digits, '-' or '_'")
    user = paths.config_dir() / "prompts" / f"{name}.md"
    if user.is_file():
        return user
    builtin = BUILTIN_DIR / f"{name}.md"
    if not builtin.is_file():
        known = ", ".join(sorted(p.stem for p in BUILTIN_DIR.glob("*.md")))
        raise UsageError(f"unknown template {name!r}; built-in templates: {known}")
    return builtin


def load_template(name: str, path: Path | None = None) -> Template:
    source = template_path(name, path)
    return Template(name, source.read_text(encoding="utf-8"), source)


def fill_template(template: Template, **variables: object) -> str:
    """Substitute in one pass, so a value that itself contains `{{x}}` (a packed file may) stays literal."""
    missing = sorted(template.variables - variables.keys())
    if missing:
        raise UsageError(
            f"template {template.name!r} ({template.source}) needs variables it was not given: {', '.join(missing)}"
        )
    return PLACEHOLDER.sub(lambda match: str(variables[match.group(1)]), template.text)


def render_template(name: str, path: Path | None = None, **variables: object) -> str:
    """Load and fill a template; raises UsageError naming any missing variable."""
    return fill_template(load_template(name, path), **variables)
