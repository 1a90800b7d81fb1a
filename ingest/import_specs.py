"""Pull the raw import specifiers out of one file's text, by language, with regular expressions.

No parser: a regex pass over the head of each file is ~50x cheaper than tree-sitter and finds the same
module-level imports. Every pattern starts with a literal keyword, so Python's `re` can skip ahead with its
fast literal search instead of trying every position (a `^`-anchored pattern was 20x slower on ruff).
"""

from __future__ import annotations

import re
from enum import StrEnum

HEAD_CHARS = 32_768  # imports sit at the top: scanning only the first 32K characters of each file halves
# the time on ruff's 27 MB of Rust and loses only imports inside late `mod tests` blocks


class Language(StrEnum):
    PYTHON = "python"
    JAVASCRIPT = "javascript"
    GO = "go"
    RUST = "rust"
    JAVA = "java"
    C = "c"


LANGUAGE_OF_EXTENSION = {
    ".py": Language.PYTHON, ".pyi": Language.PYTHON,
    ".js": Language.JAVASCRIPT, ".jsx": Language.JAVASCRIPT, ".mjs": Language.JAVASCRIPT,
    ".cjs": Language.JAVASCRIPT, ".ts": Language.JAVASCRIPT, ".tsx": Language.JAVASCRIPT,
    ".mts": Language.JAVASCRIPT, ".cts": Language.JAVASCRIPT, ".vue": Language.JAVASCRIPT,
    ".svelte": Language.JAVASCRIPT,
    ".go": Language.GO, ".rs": Language.RUST,
    ".java": Language.JAVA, ".kt": Language.JAVA, ".kts": Language.JAVA, ".scala": Language.JAVA,
    ".c": Language.C, ".h": Language.C, ".cc": Language.C, ".cpp": Language.C, ".cxx": Language.C,
    ".hpp": Language.C, ".hh": Language.C, ".hxx": Language.C, ".cu": Language.C, ".cuh": Language.C,
    ".m": Language.C, ".mm": Language.C,
}  # fmt: skip

PY_IMPORT = re.compile(r"import[ \t]+(\([^)]*\)|[^\n#;]+)")
PY_FROM = re.compile(r"from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)")
JS_FROM = re.compile(r"""from[ \t]*['"]([^'"\n]+)['"]""")
JS_BARE_IMPORT = re.compile(r"""import[ \t]*\(?[ \t]*['"]([^'"\n]+)['"]""")
JS_REQUIRE = re.compile(r"""require\([ \t]*['"]([^'"\n]+)['"]""")
GO_IMPORT = re.compile(r'import[ \t]*(?:\(([^)]*)\)|[\w.]*[ \t]*"([^"\n]+)")')
GO_QUOTED = re.compile(r'"([^"\n]+)"')
RUST_USE = re.compile(r"use[ \t]+([\w:{}, \t\n*]+?)[ \t]*;")
RUST_MOD = re.compile(r"mod[ \t]+(\w+)[ \t]*;")
JAVA_IMPORT = re.compile(r"import[ \t]+(?:static[ \t]+)?([\w.]+(?:\.\*)?)")
RUST_PUB = ("pub", "pub(crate)", "pub(super)", "pub(self)")
C_INCLUDE = re.compile(r'#[ \t]*include[ \t]*"([^"\n]+)"')


def extract_import_specs(language: Language, text: str) -> list[str]:
    """The specifiers as written: `pkg.mod:name1,name2` / `.rel:name` (Python), `./x` (JS), module paths
    (Go), `crate::a::b` and `mod:x` (Rust), `a.b.C` (Java), `x.h` (C). The resolver maps them to files."""
    head = text if len(text) <= HEAD_CHARS else text[:HEAD_CHARS]
    if language is Language.PYTHON:
        return _python(head)
    if language is Language.JAVASCRIPT:
        return [m for r in (JS_FROM, JS_BARE_IMPORT, JS_REQUIRE) for m in r.findall(head)]
    if language is Language.GO:
        out: list[str] = []
        for block, single in GO_IMPORT.findall(head):
            out.extend(GO_QUOTED.findall(block) if block else [single])
        return out
    if language is Language.RUST:
        return _rust(head)
    if language is Language.JAVA:
        return [m.group(1) for m in JAVA_IMPORT.finditer(head) if _at_line_start(head, m.start())]
    return C_INCLUDE.findall(head)


def _python(head: str) -> list[str]:
    out: list[str] = []
    for m in PY_FROM.finditer(head):
        if _at_line_start(head, m.start()):
            names = ",".join(n.split()[0] for n in _names(m.group(2)))
            out.append(f"{m.group(1)}:{names}")
    for m in PY_IMPORT.finditer(head):
        if _at_line_start(head, m.start()):
            out.extend(n.split()[0] for n in _names(m.group(1)) if n)
    return out


def _rust(head: str) -> list[str]:
    """`use` trees expanded, then `mod:` names, of items that start their line (after an optional `pub`)."""
    out: list[str] = []
    for m in RUST_USE.finditer(head):
        if _at_line_start(head, m.start(), RUST_PUB):
            out.extend(expand_rust_use(m.group(1)))
    out.extend("mod:" + m.group(1) for m in RUST_MOD.finditer(head) if _at_line_start(head, m.start(), RUST_PUB))
    return out


def _names(group: str) -> list[str]:
    return [n.strip() for n in group.strip("()").replace("\\", " ").split(",") if n.strip()]


def _at_line_start(text: str, start: int, allow: tuple[str, ...] = ()) -> bool:
    """Only indentation (or one of `allow`, such as Rust's `pub`) precedes the keyword on its line."""
    if start == 0 or text[start - 1] == "\n":  # most matches (5 in 6 of ruff's Rust ones): no slicing
        return True
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start].strip()
    return not before or before in allow


def expand_rust_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]; `self` items name their parent path."""
    tree = "".join(tree.split())
    if "{" not in tree:  # 2 of 3 use lines in ruff
        return [tree.removesuffix("::self")]
    out: list[str] = []
    _expand("", tree, out)
    return out


def _expand(prefix: str, tree: str, out: list[str]) -> None:
    brace = tree.find("{")
    if brace < 0:
        path = prefix + tree
        out.append(path.removesuffix("::self"))
        return
    head = prefix + tree[:brace]
    body = tree[brace + 1 : tree.rfind("}")] if "}" in tree else tree[brace + 1 :]
    if "{" not in body:  # one level, the common case: split on commas without a character loop
        out.extend((head + item).removesuffix("::self") for item in body.split(",") if item)
        return
    depth, item_start = 0, 0
    for i, ch in enumerate(body + ","):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            item = body[item_start:i]
            if item:
                _expand(head, item, out)
            item_start = i + 1
