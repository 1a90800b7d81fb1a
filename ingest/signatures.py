"""The middle step of degrading a file: its definitions (functions, classes, types) with line numbers.

Parsing uses tree-sitter with one grammar wheel per language (tree-sitter-python, -javascript,
-typescript, -c, -cpp, -go, -rust, -java): they ship compiled grammars. tree-sitter-language-pack 1.25 was
not used because it downloads its grammars on first use, which fails offline. Markdown gets its headings.
Only top-level nodes and the bodies of containers (classes, namespaces, impls) are visited, so the walk
costs little next to the parse (about 7 MB/s of source here).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tree-sitter loads with the first parse: a warm pack parses nothing
    from tree_sitter import Node, Parser

MAX_SIGNATURE_CHARS = 240  # a definition's header beyond this is cut with "…" (huge default arguments)
MAX_PARSE_BYTES = 256 << 10  # larger files (generated tables, amalgamations, big fixtures) cost 40-250 ms a
# parse here and their definition lists alone run to thousands of tokens: they stay path-only


@dataclass(frozen=True, slots=True)
class _Grammar:
    module: str  # the grammar wheel's import name
    function: str  # its function returning the language pointer
    defs: frozenset[str]  # nodes emitted as one signature line
    containers: frozenset[str]  # defs whose body is searched for nested defs
    wrappers: frozenset[str]  # nodes whose children are searched (#ifdef, extern "C", declaration lists)
    function_like: frozenset[str] = frozenset()  # declarations emitted only when they declare a function
    prefixes: frozenset[str] = frozenset()  # wrappers whose text starts the signature (decorators, export)


_C_WRAPPERS = frozenset(
    {
        "preproc_ifdef",
        "preproc_if",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "linkage_specification",
        "declaration_list",
    }
)
_C_DEFS = frozenset(
    {
        "function_definition",
        "struct_specifier",
        "union_specifier",
        "enum_specifier",
        "type_definition",
        "preproc_function_def",
    }
)
_CPP_DEFS = _C_DEFS | {"class_specifier", "namespace_definition", "alias_declaration", "concept_definition"}
_CPP_CONTAINERS = frozenset(
    {"class_specifier", "struct_specifier", "union_specifier", "namespace_definition"}
)
_JS_DEFS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "method_definition",
        "abstract_class_declaration",
        "interface_declaration",
        "type_alias_declaration",
        "enum_declaration",
        "abstract_method_signature",
        "method_signature",
        "internal_module",
        "module",
    }
)
_JS_CONTAINERS = frozenset({"class_declaration", "abstract_class_declaration", "internal_module", "module"})
_JS_WRAPPERS = frozenset({"expression_statement", "statement_block"})
_JS_PREFIXES = frozenset({"export_statement", "ambient_declaration"})

_GRAMMARS: dict[str, _Grammar] = {
    "python": _Grammar(
        "tree_sitter_python",
        "language",
        frozenset({"function_definition", "class_definition"}),
        frozenset({"class_definition"}),
        frozenset(),
        prefixes=frozenset({"decorated_definition"}),
    ),
    "c": _Grammar(
        "tree_sitter_c",
        "language",
        _C_DEFS,
        frozenset({"struct_specifier", "union_specifier"}),
        _C_WRAPPERS,
        frozenset({"declaration"}),
    ),
    "cpp": _Grammar(
        "tree_sitter_cpp",
        "language",
        _CPP_DEFS,
        _CPP_CONTAINERS,
        _C_WRAPPERS,
        frozenset({"declaration", "field_declaration"}),
        frozenset({"template_declaration"}),
    ),
    "javascript": _Grammar(
        "tree_sitter_javascript",
        "language",
        _JS_DEFS,
        _JS_CONTAINERS,
        _JS_WRAPPERS,
        frozenset({"lexical_declaration", "variable_declaration"}),
        _JS_PREFIXES,
    ),
    "typescript": _Grammar(
        "tree_sitter_typescript",
        "language_typescript",
        _JS_DEFS,
        _JS_CONTAINERS,
        _JS_WRAPPERS,
        frozenset({"lexical_declaration", "variable_declaration"}),
        _JS_PREFIXES,
    ),
    "tsx": _Grammar(
        "tree_sitter_typescript",
        "language_tsx",
        _JS_DEFS,
        _JS_CONTAINERS,
        _JS_WRAPPERS,
        frozenset({"lexical_declaration", "variable_declaration"}),
        _JS_PREFIXES,
    ),
    "go": _Grammar(
        "tree_sitter_go",
        "language",
        frozenset({"function_declaration", "method_declaration", "type_declaration"}),
        frozenset(),
        frozenset(),
    ),
    "rust": _Grammar(
        "tree_sitter_rust",
        "language",
        frozenset(
            {
                "function_item",
                "function_signature_item",
                "struct_item",
                "enum_item",
                "union_item",
                "trait_item",
                "impl_item",
                "mod_item",
                "type_item",
                "macro_definition",
            }
        ),
        frozenset({"trait_item", "impl_item", "mod_item"}),
        frozenset({"declaration_list"}),
    ),
    "java": _Grammar(
        "tree_sitter_java",
        "language",
        frozenset(
            {
                "class_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
                "method_declaration",
                "constructor_declaration",
                "annotation_type_declaration",
            }
        ),
        frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration"}),
        frozenset({"enum_body_declarations"}),
    ),
}

_EXTENSIONS = {
    "py": "python",
    "pyi": "python",
    "c": "c",
    "h": "cpp",
    "cc": "cpp",
    "cpp": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
    "hh": "cpp",
    "hxx": "cpp",
    "cu": "cpp",
    "cuh": "cpp",
    "inl": "cpp",
    "js": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "mts": "typescript",
    "cts": "typescript",
    "tsx": "tsx",
    "go": "go",
    "rs": "rust",
    "java": "java",
    "md": "markdown",
    "markdown": "markdown",
}
_FUNCTION_DECLARATORS = ("function_declarator", "arrow_function", "function_expression", "function")


def language_of(path: str) -> str | None:
    """The signature language for a path, by extension (.h is parsed as C++: it reads C headers too)."""
    name = path.rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return _EXTENSIONS.get(name.rsplit(".", 1)[-1].lower())


@cache
def _parser(language: str) -> Parser:
    from tree_sitter import Language, Parser

    grammar = _GRAMMARS[language]
    module = importlib.import_module(grammar.module)
    return Parser(Language(getattr(module, grammar.function)()))


def extract_signatures(path: str, text: str) -> str | None:
    """One line per definition, "LINE: header", nested ones indented; None when the language is not
    supported or the file defines nothing."""
    language = language_of(path)
    if language is None:
        return None
    if language == "markdown":
        return _markdown_headings(text)
    source = text.encode("utf-8", "surrogatepass")
    if len(source) > MAX_PARSE_BYTES:
        return None
    tree = _parser(language).parse(source)
    lines: list[str] = []
    _visit(tree.root_node, source, _GRAMMARS[language], 0, lines, None)
    return "".join(lines) or None


def _visit(
    node: Node, source: bytes, grammar: _Grammar, depth: int, out: list[str], start: Node | None
) -> None:
    for child in node.named_children:
        kind = child.type
        if kind in grammar.prefixes:
            # keep "export", decorators and "template<...>" on the definition's line
            _visit(child, source, grammar, depth, out, start or child)
        elif kind in grammar.wrappers:
            _visit(child, source, grammar, depth, out, None)
        elif kind in grammar.defs or (kind in grammar.function_like and _declares_function(child)):
            body = child.child_by_field_name("body")
            if kind in grammar.function_like:
                body = _function_body(child)
            out.append(_signature_line(start or child, child, body, source, depth))
            start = None
            if kind in grammar.containers and body is not None:
                _visit(body, source, grammar, depth + 1, out, None)


def _declares_function(node: Node) -> bool:
    """A C prototype or a JS `const f = () => ...`; plain variables and fields are left out."""
    for declared in node.named_children:
        target: Node | None = declared
        if declared.type in ("variable_declarator", "init_declarator"):
            target = declared.child_by_field_name("value") or declared.child_by_field_name("declarator")
        while target is not None and target.type in ("pointer_declarator", "reference_declarator"):
            target = target.child_by_field_name("declarator")
        if target is not None and target.type in _FUNCTION_DECLARATORS:
            return True
    return False


def _function_body(node: Node) -> Node | None:
    for child in node.named_children:
        if child.type == "variable_declarator":
            value = child.child_by_field_name("value")
            if value is not None:
                return value.child_by_field_name("body")
    return None


def _signature_line(start: Node, node: Node, body: Node | None, source: bytes, depth: int) -> str:
    end = body.start_byte if body is not None else node.end_byte
    raw = source[start.start_byte : end].decode("utf-8", "replace")
    if body is None and "\n" in raw.strip():
        first, *_, last = raw.strip().split("\n")
        raw = f"{first} … {last.strip()}" if len(first) + len(last) < MAX_SIGNATURE_CHARS else first
    header = " ".join(raw.split())
    if len(header) > MAX_SIGNATURE_CHARS:
        header = header[: MAX_SIGNATURE_CHARS - 1] + "…"
    return f"{start.start_point[0] + 1}: {'  ' * depth}{header}\n"


_HEADING = re.compile(r"^(#{1,6})\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _markdown_headings(text: str) -> str | None:
    lines: list[str] = []
    in_fence = False
    for number, line in enumerate(text.split("\n"), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and _HEADING.match(line):
            lines.append(f"{number}: {line.rstrip()}\n")
    return "".join(lines) or None
