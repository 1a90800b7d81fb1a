"""What a path is for, judged from the path alone: the repository-centric order puts the README and the
architecture docs first, then manifests and entry points, then source (by import centrality), then docs,
tests, fixtures and translations. Reading content is left to the other rank stages (77 MB on ruff)."""

from __future__ import annotations

import re
from enum import StrEnum

CODE_EXTENSIONS = frozenset(
    {
        ".py", ".pyi", ".pyx", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".vue",
        ".svelte", ".go", ".rs", ".java", ".kt", ".kts", ".scala", ".c", ".h", ".cc", ".cpp", ".cxx",
        ".hpp", ".hh", ".hxx", ".cu", ".cuh", ".m", ".mm", ".swift", ".cs", ".fs", ".rb", ".php", ".lua",
        ".sh", ".bash", ".zig", ".ex", ".exs", ".erl", ".hs", ".ml", ".mli", ".clj", ".dart", ".r", ".jl",
        ".pl", ".sql",
    }
)  # fmt: skip
DOC_EXTENSIONS = frozenset({".md", ".markdown", ".rst", ".txt", ".adoc", ".asciidoc", ".org"})
ROOT_MANIFESTS = frozenset(
    {
        "pyproject.toml", "setup.py", "setup.cfg", "package.json", "cargo.toml", "go.mod", "pom.xml",
        "build.gradle", "build.gradle.kts", "settings.gradle", "cmakelists.txt", "meson.build", "makefile",
        "gemfile", "composer.json", "mix.exs", "deno.json", "tsconfig.json",
    }
)  # fmt: skip
ARCHITECTURE_STEMS = frozenset(
    {"architecture", "design", "overview", "internals", "hacking", "developing", "development", "structure"}
)
DOC_INDEX_STEMS = frozenset({"index", "readme", "overview", "introduction", "intro", "getting-started"})
ENTRY_STEMS = frozenset({"__main__", "main", "cli", "app", "manage", "server", "wsgi", "asgi"})
DOC_DIRS = frozenset({"doc", "docs", "documentation", "website", "site", "book", "guide", "manual"})
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "e2e", "integration_tests"})
FIXTURE_DIRS = frozenset(
    {
        "fixtures", "fixture", "__fixtures__", "snapshots", "__snapshots__", "snapshot", "testdata",
        "test_data", "test-data", "data", "golden", "expected", "mocks", "__mocks__", "samples", "corpus",
        "resources", "assets", "static", "vendor", "third_party", "examples_data",
    }
)  # fmt: skip
FIXTURE_EXTENSIONS = frozenset(
    {".snap", ".json", ".csv", ".tsv", ".xml", ".svg", ".ipynb", ".lock", ".golden", ".pickle"}
)
EXAMPLE_DIRS = frozenset({"examples", "example", "docs_src", "demo", "demos", "tutorial", "tutorials"})
TRANSLATION_PARENTS = frozenset({"i18n", "l10n", "locale", "locales", "translations", "lang", "langs"})
# ISO 639-1 codes that docs sites use as folders (fastapi docs/es, docs/zh-hant); "en" is the original.
LANGUAGE_CODE = re.compile(
    r"(?:ar|az|bn|cs|da|de|el|em|es|fa|fi|fr|he|hi|hu|id|it|ja|ko|nl|no|pl|pt|ro|ru|sk|sv|ta|th|tr|uk|ur|"
    r"vi|yo|zh)(?:[-_][a-z]{2,4})?"
)
TEST_NAME = re.compile(
    r"(?:^test_.*|.*_test|.*_tests|.*\.test|.*\.spec|.*Test|.*Tests|.*Spec|conftest|.*_spec)$"
)


class FileRole(StrEnum):
    """A closed set of what a file is for, in the default order's sense."""

    README = "readme"
    ARCHITECTURE = "architecture doc"
    CONTRIBUTING = "contributing guide"
    DOC_INDEX = "docs index"
    MANIFEST = "manifest"
    ENTRY_POINT = "entry point"
    SOURCE = "source"
    DOC = "doc"
    EXAMPLE = "example"
    CONFIG = "config"
    TEST = "test"
    FIXTURE = "fixture or data"
    TRANSLATION = "translation"


def split_path(path: str) -> tuple[list[str], str, str]:
    """(lower-cased folders, lower-cased stem, lower-cased extension with its dot)."""
    parts = path.lower().split("/")
    name = parts[-1]
    dot = name.rfind(".")
    if dot <= 0:
        return parts[:-1], name, ""
    return parts[:-1], name[:dot], name[dot:]


def classify_role(path: str) -> FileRole:
    """The role of one repository-relative POSIX path."""
    folders, stem, ext = split_path(path)
    name = stem + ext
    folder_set = set(folders)
    in_docs = not DOC_DIRS.isdisjoint(folder_set)
    if (in_docs or not TRANSLATION_PARENTS.isdisjoint(folder_set)) and _is_translation(folders):
        return FileRole.TRANSLATION
    if ext in DOC_EXTENSIONS or ext == "":
        if stem == "readme" and not folders:
            return FileRole.README
        if stem in ARCHITECTURE_STEMS and (not folders or (in_docs and len(folders) <= 2)):
            return FileRole.ARCHITECTURE
        if stem == "contributing" and len(folders) <= 1:
            return FileRole.CONTRIBUTING
        if stem in DOC_INDEX_STEMS and in_docs and len(folders) <= 3:
            return FileRole.DOC_INDEX
    if not folders and name in ROOT_MANIFESTS:
        return FileRole.MANIFEST
    base = path.rsplit("/", 1)[-1]
    base_stem = base.rsplit(".", 1)[0] if "." in base else base
    is_test = not TEST_DIRS.isdisjoint(folder_set) or bool(TEST_NAME.match(base_stem))
    if not FIXTURE_DIRS.isdisjoint(folder_set) or ext in FIXTURE_EXTENSIONS:
        return FileRole.FIXTURE
    if is_test:
        return FileRole.TEST
    if ext in CODE_EXTENSIONS:
        if not EXAMPLE_DIRS.isdisjoint(folder_set):
            return FileRole.EXAMPLE
        if stem in ENTRY_STEMS and len(folders) <= 3:
            return FileRole.ENTRY_POINT
        return FileRole.SOURCE
    if ext in DOC_EXTENSIONS or in_docs:
        return FileRole.DOC
    return FileRole.CONFIG


def _is_translation(folders: list[str]) -> bool:
    if any(f in TRANSLATION_PARENTS for f in folders):
        return True
    # docs/<lang>/...: only under a docs-like folder, so that a source folder named "es" or "id" is safe
    return any(
        folders[i] in DOC_DIRS and LANGUAGE_CODE.fullmatch(folders[i + 1]) is not None
        for i in range(len(folders) - 1)
    )
