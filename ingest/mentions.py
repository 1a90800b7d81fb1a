"""Files a question names: by path (`src/a/core.py`), file name (`core.py`), module (`click.core`,
`crate::rules::x`), a code-spelled name that is a file's stem (`unused-import` -> unused_import.rs), or an
identifier the file defines (`class OptionParser`, `fn parse_args`). Naming beats word overlap: a reader
who writes a path means that file."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wholerepo.ingest.lexical import QueryTerms
from wholerepo.ingest.term_scan import TermHits
from wholerepo.ingest.types import SourceFile

NAMED_PATH = 100.0
NAMED_FILE = 90.0
NAMED_MODULE = 90.0
NAMED_STEM = 70.0
NAMED_FOLDER = 60.0  # shared by the folder's files (divided by the square root of their number)
DEFINES_NAME = 60.0  # an identifier written the way code writes it (snake_case, CamelCase)
DEFINES_WORD = 20.0  # a plain word that some file defines (`option` -> class Option); 15-20 beat 30 and 45 on
# the recall bench: long commit bodies hold many words that something happens to define
MAX_DEFINITION_FILES = 400  # a term found in more files is too common for its definitions to point anywhere
GENERIC_STEMS = frozenset(
    {"mod", "index", "main", "__init__", "lib", "init", "utils", "util", "types", "test", "tests", "setup",
     "config", "conftest", "common", "core", "base", "helpers"}
)  # fmt: skip
DEFINITION_BEFORE = re.compile(
    r"(?:\b(?:class|def|fn|func|function|struct|enum|trait|interface|type|typedef|const|let|var|val|static|"
    r"object|record|mod|module|macro_rules!|union|protocol|extension)\s+|\bfunc\s*\([^)]*\)\s*)$"
)
WORD_CHAR = re.compile(r"[\w$]")


@dataclass(frozen=True, slots=True)
class NameIndex:
    """Question-independent lookups from names to paths (built once per set of files)."""

    paths: tuple[str, ...]
    by_name: dict[str, list[str]]  # file name, lower case
    by_stem: dict[str, list[str]]  # file stem in snake_case
    by_folder: dict[str, list[str]]  # every folder's name in snake_case (test_ prefix dropped) -> files
    by_module: dict[str, list[str]]  # last module part -> "module/path\0file path"


def index_names(files: Sequence[SourceFile]) -> NameIndex:
    by_name: dict[str, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    by_module: dict[str, list[str]] = {}
    by_folder: dict[str, list[str]] = {}
    folder_keys: dict[str, str] = {}
    for f in files:
        folders, _, name = f.path.rpartition("/")
        by_name.setdefault(name.lower(), []).append(f.path)
        stem = name.rsplit(".", 1)[0] if "." in name else name
        by_stem.setdefault(_snake(stem), []).append(f.path)
        for folder in folders.split("/") if folders else ():  # tests/test_cookie_params/, docs_src/x/
            key = folder_keys.get(folder)
            if key is None:
                key = folder_keys[folder] = _snake(folder).removeprefix("test_").removesuffix("_test")
            by_folder.setdefault(key, []).append(f.path)
        module = (
            f.path.rsplit(".", 1)[0].removesuffix("/__init__").removesuffix("/mod").removesuffix("/index")
        )
        by_module.setdefault(module.rpartition("/")[2].lower(), []).append(module.lower() + "\0" + f.path)
    return NameIndex(tuple(f.path for f in files), by_name, by_stem, by_folder, by_module)


def find_mentions(
    files: Sequence[SourceFile],
    terms: QueryTerms,
    hits: TermHits,
    *,
    name_terms: dict[int, str],
    index: NameIndex | None = None,
) -> dict[str, tuple[float, str]]:
    """path -> (strength, reason) for files the question names. `name_terms` maps the scan's term
    indices (see term_scan.scan_terms) of located terms to their spelling."""
    found: dict[str, tuple[float, str]] = {}

    def note(path: str, strength: float, reason: str) -> None:
        if strength > found.get(path, (0.0, ""))[0]:
            found[path] = (strength, reason)

    index = index or index_names(files)
    by_name, by_stem, by_folder, by_module = index.by_name, index.by_stem, index.by_folder, index.by_module
    for token in terms.paths:
        clean = token.removeprefix("./").lower()
        if "/" in clean:
            for path in index.paths:
                low = path.lower()
                if low == clean or low.endswith("/" + clean):
                    note(path, NAMED_PATH, f"named in question: {token}")
        if "." in clean and "/" not in clean:
            for path in by_name.get(clean, []):
                note(path, NAMED_FILE / len(by_name[clean]) ** 0.5, f"named in question: {token}")
        dotted = re.split(r"\.|::", clean)
        if len(dotted) >= 2:
            for end in range(len(dotted), 1, -1):
                suffix = "/".join(dotted[:end])
                matches = [e.split("\0")[1] for e in by_module.get(dotted[end - 1], []) if _ends(e, suffix)]
                for path in matches:
                    note(path, NAMED_MODULE / len(matches) ** 0.5, f"module named in question: {token}")
                if matches:
                    break
    for name in list(terms.names) + [t for t in terms.paths if "-" in t and "/" not in t]:
        key = _snake(name)
        if key in GENERIC_STEMS:
            continue
        paths = by_stem.get(key, [])
        for path in paths:
            note(path, NAMED_STEM / len(paths) ** 0.5, f"named in question: {name}")
        inside = by_folder.get(key, [])
        for path in inside:
            note(path, NAMED_FOLDER / len(inside) ** 0.5, f"in a folder named in question: {name}")
    names = {t.lower() for t in terms.names}
    by_text = {f.path: f.text for f in files}
    holders_of: dict[int, list[str]] = {}
    for path, per_file in hits.positions.items():
        for term in per_file:
            holders_of.setdefault(term, []).append(path)
    for term, spelling in name_terms.items():
        holders = holders_of.get(term, [])
        if not holders or len(holders) > MAX_DEFINITION_FILES:
            continue
        definers = [p for p in holders if _defines(by_text[p], hits.positions[p][term], spelling)]
        strength = DEFINES_NAME if spelling.lower() in names else DEFINES_WORD
        for path in definers:
            note(path, strength / len(definers) ** 0.5, f"defines {spelling}")
    return found


def scope_paths(scopes: Sequence[str], index: NameIndex) -> frozenset[str]:
    """Files under a folder that a title's scope tag names: the folder itself (`[flake8-pyi]` ->
    flake8_pyi/) or one whose name holds the tag as whole words (`[ty]` -> ty_ide/, `fix(db):` ->
    ruff_db/)."""
    found: set[str] = set()
    for scope in scopes:
        words = _snake(scope).replace(".", "_").replace("/", "_").split("_")
        size = len(words)
        for key, paths in index.by_folder.items():
            parts = key.split("_")
            if any(parts[i : i + size] == words for i in range(len(parts) - size + 1)):
                found.update(paths)
    return frozenset(found)


def _snake(name: str) -> str:
    """OptionParser, option-parser, option_parser -> option_parser."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return spaced.replace("-", "_").lower()


def _ends(entry: str, suffix: str) -> bool:
    module = entry.split("\0")[0]
    return module == suffix or module.endswith("/" + suffix)


def _defines(text: str, starts: list[int], spelling: str) -> bool:
    size = len(spelling)
    low = spelling.lower()
    for start in starts:
        end = start + size
        if text[start:end].lower() != low:
            continue
        if (start and WORD_CHAR.match(text, start - 1)) or (end < len(text) and WORD_CHAR.match(text, end)):
            continue
        if DEFINITION_BEFORE.search(text, max(0, start - 40), start):
            return True
    return False
