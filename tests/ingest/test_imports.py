"""Contract: imports resolve to the files of the pack for Python, JS/TS, Go, Rust, Java and C; what
resolves to nothing (standard library, third-party) is dropped."""

from __future__ import annotations

from wholerepo.ingest.import_specs import expand_rust_use
from wholerepo.ingest.imports import build_import_graph
from wholerepo.ingest.types import SourceFile


def graph_of(files: dict[str, str]) -> dict[str, set[str]]:
    sources = [SourceFile(p, t, len(t), "0" * 40) for p, t in files.items()]
    return {k: set(v) for k, v in build_import_graph(sources).imports.items()}


def test_python_absolute_relative_and_packages() -> None:
    graph = graph_of({
        "src/pkg/__init__.py": "",
        "src/pkg/a.py": "import os\nfrom pkg import b\nfrom .sub import c\nfrom . import (\n    d,\n)\n",
        "src/pkg/b.py": "def f():\n    import pkg.sub as s\n",
        "src/pkg/d.py": "from ..pkg.missing import x\n",
        "src/pkg/sub/__init__.py": "",
        "src/pkg/sub/c.py": "from pkg.b import f  # a comment\n",
    })  # fmt: skip
    assert graph["src/pkg/a.py"] == {"src/pkg/b.py", "src/pkg/sub/c.py", "src/pkg/d.py"}
    assert graph["src/pkg/b.py"] == {"src/pkg/sub/__init__.py"}
    assert graph["src/pkg/sub/c.py"] == {"src/pkg/b.py"}
    assert "src/pkg/d.py" not in graph


def test_javascript_extensions_index_and_require() -> None:
    graph = graph_of({
        "web/app.ts": "import { a } from './lib/a';\nimport './side.js';\nconst u = require('../util')\n"
        "import React from 'react';\nexport * from './lib';\n",
        "web/lib/a.tsx": "export const a = 1;\n",
        "web/lib/index.ts": "export * from './a';\n",
        "web/side.ts": "",
        "util.js": "",
    })  # fmt: skip
    assert graph["web/app.ts"] == {"web/lib/a.tsx", "web/side.ts", "util.js", "web/lib/index.ts"}


def test_go_packages_map_to_directories_through_go_mod() -> None:
    graph = graph_of({
        "go.mod": "module example.com/tool\n\ngo 1.22\n",
        "cmd/tool/main.go": 'package main\n\nimport (\n\t"fmt"\n\tx "example.com/tool/internal/store"\n)\n',
        "internal/store/store.go": "package store\n",
        "internal/store/disk.go": 'package store\nimport "example.com/tool/internal/codec"\n',
        "internal/store/store_test.go": "package store\n",
        "internal/codec/codec.go": "package codec\n",
    })  # fmt: skip
    assert graph["cmd/tool/main.go"] == {"internal/store/store.go", "internal/store/disk.go"}
    assert graph["internal/store/disk.go"] == {"internal/codec/codec.go"}


def test_rust_mod_use_crate_super_and_workspace_crates() -> None:
    graph = graph_of({
        "crates/core_lib/Cargo.toml": '[package]\nname = "core-lib"\nversion = "0.1.0"\n',
        "crates/core_lib/src/lib.rs": "pub mod rules;\nmod util;\n",
        "crates/core_lib/src/util.rs": "use crate::rules::unused::{check, Kind};\n",
        "crates/core_lib/src/rules/mod.rs": "pub mod unused;\n",
        "crates/core_lib/src/rules/unused.rs": "use super::super::util;\nuse std::fmt;\n",
        "crates/app/Cargo.toml": '[package]\nname = "app"\n',
        "crates/app/src/main.rs": "use core_lib::rules::{self, unused::check};\n",
    })  # fmt: skip
    assert graph["crates/core_lib/src/lib.rs"] == {
        "crates/core_lib/src/rules/mod.rs",
        "crates/core_lib/src/util.rs",
    }
    assert graph["crates/core_lib/src/util.rs"] == {"crates/core_lib/src/rules/unused.rs"}
    assert graph["crates/core_lib/src/rules/unused.rs"] == {"crates/core_lib/src/util.rs"}
    assert graph["crates/app/src/main.rs"] == {
        "crates/core_lib/src/rules/mod.rs",
        "crates/core_lib/src/rules/unused.rs",
    }


def test_java_and_c() -> None:
    graph = graph_of({
        "src/main/java/com/acme/App.java": "package com.acme;\nimport com.acme.util.Strings;\nimport java.util.List;\n",
        "src/main/java/com/acme/util/Strings.java": "package com.acme.util;\n",
        "lib/src/main.c": '#include "util/str.h"\n#include <stdio.h>\n#include "local.h"\n',
        "lib/include/util/str.h": "",
        "lib/src/local.h": "",
    })  # fmt: skip
    assert graph["src/main/java/com/acme/App.java"] == {"src/main/java/com/acme/util/Strings.java"}
    assert graph["lib/src/main.c"] == {"lib/include/util/str.h", "lib/src/local.h"}


def test_expand_rust_use_trees() -> None:
    assert expand_rust_use("a::{b, c::{d, e}, self}") == ["a::b", "a::c::d", "a::c::e", "a"]


def test_rust_nested_crate_uses_its_own_root_and_line_start_rules() -> None:
    """A crate inside another crate's folder resolves `crate::` against the deeper crate; `use` and `mod`
    count only at a line's start (indented, or after `pub`/`pub(crate)`), not inside words or comments."""
    graph = graph_of({
        "Cargo.toml": '[package]\nname = "outer"\n',
        "src/lib.rs": "pub mod a;\n",
        "src/a.rs": "",
        "src/inner/Cargo.toml": '[package]\nname = "inner"\n',
        "src/inner/src/lib.rs": "pub(crate) use crate::b;\n// we reuse crate::c;\nfn f() {\n    use crate::d;\n}\n",
        "src/inner/src/b.rs": "",
        "src/inner/src/c.rs": "",
        "src/inner/src/d.rs": "",
    })  # fmt: skip
    assert graph["src/lib.rs"] == {"src/a.rs"}
    assert graph["src/inner/src/lib.rs"] == {"src/inner/src/b.rs", "src/inner/src/d.rs"}
