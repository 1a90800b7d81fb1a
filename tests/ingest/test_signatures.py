"""Contract: signatures keep every definition's header with its line number and drop bodies, in each
supported language, using grammar wheels that work offline; other files have none."""

from __future__ import annotations

import pytest

from wholerepo.ingest.signatures import extract_signatures, language_of

PYTHON = '''import os

CONSTANT = 3


class Store(Base):
    """Holds things."""

    @property
    def size(self) -> int:
        return len(self.items)

    def add(self, item: str,
            *, force: bool = False) -> None:
        self.items.append(item)


def main(argv: list[str]) -> int:
    def inner():
        return 1
    return inner()
'''


def test_python_classes_methods_and_functions_with_line_numbers() -> None:
    sig = extract_signatures("pkg/store.py", PYTHON)
    assert sig == (
        "6: class Store(Base):\n"
        "9:   @property def size(self) -> int:\n"
        "13:   def add(self, item: str, *, force: bool = False) -> None:\n"
        "18: def main(argv: list[str]) -> int:\n"
    )


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("a.cpp", "#ifndef A_H\n#define A_H\nnamespace ns {\nstruct Point { int x; };\n"
                  "template <typename T>\nT twice(T v) { return v * 2; }\n}\n#endif\n",
         ["3: namespace ns", "4:   struct Point", "5:   template <typename T> T twice(T v)"]),
        ("b.c", "int add(int a, int b);\nstatic int sub(int a, int b) {\n  return a - b;\n}\n",
         ["1: int add(int a, int b);", "2: static int sub(int a, int b)"]),
        ("c.ts", "export interface Shape {\n  area(): number;\n}\nexport class Box {\n  width(): number { return 1; }\n}\n"
                 "export const scale = (x: number): number => {\n  return x * 2;\n};\n",
         ["1: export interface Shape", "4: export class Box", "5:   width(): number",
          "7: export const scale = (x: number): number =>"]),
        ("d.go", "package d\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n\ntype T struct{}\n",
         ["3: func Add(a, b int) int", "7: type T struct{}"]),
        ("e.rs", "pub struct S;\nimpl S {\n    pub fn new() -> Self {\n        S\n    }\n}\n",
         ["1: pub struct S;", "2: impl S", "3:   pub fn new() -> Self"]),
        ("f.java", "class A {\n  int f(int x) {\n    return x;\n  }\n}\n", ["1: class A", "2:   int f(int x)"]),
        ("README.md", "# Title\n\n```\n# not a heading\n```\n\n## Usage\ntext\n", ["1: # Title", "7: ## Usage"]),
    ],
)
def test_each_language_keeps_headers_not_bodies(path: str, source: str, expected: list[str]) -> None:
    sig = extract_signatures(path, source)
    assert sig is not None
    assert sig.splitlines() == expected


def test_unsupported_or_empty_files_have_none() -> None:
    assert extract_signatures("data.csv", "a,b\n1,2\n") is None
    assert extract_signatures("empty.py", "x = 1\n") is None
    assert language_of("Makefile") is None
    assert language_of("x/Y.H") == "cpp"


def test_broken_source_still_yields_what_parses() -> None:
    sig = extract_signatures("broken.py", "def good(a):\n    return a\n\ndef bad(:\n")
    assert sig is not None and sig.startswith("1: def good(a):")
