"""Which files of the pack import which: the edges behind "most-imported modules" (centrality) and behind
"what imports the changed file / what the named file imports" (one hop).

Specifiers come from import_specs.py; here they are resolved against the files in the pack only. Anything
that resolves to no packed file (the standard library, third-party packages, generated code) is dropped.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wholerepo.ingest.import_specs import LANGUAGE_OF_EXTENSION, Language, extract_import_specs
from wholerepo.ingest.types import SourceFile

JS_SUFFIXES = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".vue", ".svelte", ".d.ts")
GO_MODULE = re.compile(r"^module[ \t]+(\S+)", re.M)
CARGO_NAME = re.compile(r'^\[package\][^\[]*?^name[ \t]*=[ \t]*"([^"]+)"', re.M | re.S)


@dataclass(frozen=True, slots=True)
class ImportGraph:
    """importer -> files it imports, and the reverse; both only over files in the pack."""

    imports: dict[str, frozenset[str]]
    importers: dict[str, frozenset[str]]

    def neighbours(self, path: str) -> frozenset[str]:
        return self.imports.get(path, frozenset()) | self.importers.get(path, frozenset())


def build_import_graph(files: Sequence[SourceFile]) -> ImportGraph:
    """Extract and resolve the imports of every code file in `files`."""
    index = _PathIndex(files)
    forward: dict[str, set[str]] = {}
    for f in files:
        dot = f.path.rfind(".")
        language = LANGUAGE_OF_EXTENSION.get(f.path[dot:].lower()) if dot > 0 else None
        if language is None:
            continue
        targets = set(index.resolve(f.path, language, extract_import_specs(language, f.text)))
        targets.discard(f.path)
        if targets:
            forward[f.path] = targets
    backward: dict[str, set[str]] = {}
    for source, targets in forward.items():
        for target in targets:
            backward.setdefault(target, set()).add(source)
    return ImportGraph(
        {k: frozenset(v) for k, v in forward.items()}, {k: frozenset(v) for k, v in backward.items()}
    )


class _PathIndex:
    """Lookups from module names, package paths and crate names to the paths in the pack."""

    def __init__(self, files: Sequence[SourceFile]) -> None:
        self.paths = {f.path for f in files}
        self.python: dict[str, str] = {}
        self.java: dict[str, str] = {}
        self.by_basename: dict[str, list[str]] = {}
        self.go_modules: list[tuple[str, str]] = []  # (module path, folder), longest module first
        self.go_dirs: dict[str, list[str]] = {}
        self.crates: dict[str, str] = {}  # crate name (underscored) -> its src folder
        self.crate_roots: list[str] = []  # src folders, longest first
        self._rust_memo: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self._rust_spec_memo: dict[tuple[str, str], tuple[str, ...]] = {}
        for f in sorted(files, key=lambda f: (f.path.count("/"), f.path)):  # shallower paths win clashes
            self._add(f)
        self.go_modules.sort(key=lambda m: -len(m[0]))
        self.crate_roots.sort(key=lambda r: -len(r))
        self._crate_root_set = frozenset(self.crate_roots)

    def _add(self, f: SourceFile) -> None:
        path = f.path
        folder, _, name = path.rpartition("/")
        self.by_basename.setdefault(name, []).append(path)
        if name.endswith((".py", ".pyi")):
            for module in self._python_names(path):
                self.python.setdefault(module, path)
        elif name.endswith((".java", ".kt", ".scala")):
            parts = path.rsplit(".", 1)[0].split("/")
            for i in range(len(parts) - 1):
                self.java.setdefault(".".join(parts[i:]), path)
        elif name.endswith(".go") and not name.endswith("_test.go"):
            self.go_dirs.setdefault(folder, []).append(path)
        elif name == "go.mod":
            found = GO_MODULE.search(f.text)
            if found:
                self.go_modules.append((found.group(1), folder))
        elif name == "Cargo.toml":
            src = f"{folder}/src" if folder else "src"
            if f"{src}/lib.rs" in self.paths or f"{src}/main.rs" in self.paths:
                self.crate_roots.append(src)
                found = CARGO_NAME.search(f.text)
                if found:
                    self.crates[found.group(1).replace("-", "_")] = src

    def _python_names(self, path: str) -> Iterable[str]:
        """Dotted names under which `path` can be imported: from its top package, and from the repo root
        or a src/ folder (namespace packages have no __init__.py to follow)."""
        parts = path.rsplit(".", 1)[0].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts:
            return []
        top = len(parts) - 1  # parts[:top] is the module's folder; climb while it is a package
        while top > 0 and "/".join(parts[:top]) + "/__init__.py" in self.paths:
            top -= 1
        names = [".".join(parts[top:]), ".".join(parts)]
        if "src" in parts[:-1]:
            names.append(".".join(parts[parts.index("src") + 1 :]))
        return [n for n in names if n]

    def resolve(self, path: str, language: Language, specs: Iterable[str]) -> Iterable[str]:
        if language is Language.RUST:
            return self._resolve_rust(path, specs)
        return self._resolve_other(path, language, specs)

    def _crate_root(self, path: str) -> str | None:
        """The longest crate root that holds `path`: its deepest folder that is one (a set lookup per
        folder instead of a startswith per crate: ruff has ~50 crates and ~2,000 .rs files)."""
        folder = path.rpartition("/")[0]
        while folder:
            if folder in self._crate_root_set:
                return folder
            folder = folder.rpartition("/")[0]
        return None

    def _resolve_rust(self, path: str, specs: Iterable[str]) -> list[str]:
        root = self._crate_root(path)
        module = self._rust_module_path(root, path) if root is not None else []
        memo = self._rust_spec_memo
        found: list[str] = []
        for spec in set(specs):
            if spec.startswith(("self::", "super::", "mod:")):
                found.extend(self._rust(path, root, module, spec))
                continue
            key = (root or "", spec)  # crate:: and other-crate paths repeat across a crate's files
            hit = memo.get(key)
            if hit is None:
                hit = memo[key] = tuple(self._rust(path, root, module, spec))
            found.extend(hit)
        return found

    def _resolve_other(self, path: str, language: Language, specs: Iterable[str]) -> Iterable[str]:
        resolver = {
            Language.PYTHON: self._python,
            Language.JAVASCRIPT: self._javascript,
            Language.GO: self._go,
            Language.JAVA: self._java,
            Language.C: self._c,
        }[language]
        for spec in specs:
            yield from resolver(path, spec)

    def _python(self, path: str, spec: str) -> Iterable[str]:
        module, _, names = spec.partition(":")
        stripped = module.lstrip(".")
        if len(stripped) < len(module):  # relative: resolve by folders, not by the module index
            folder = posixpath.dirname(path)
            for _ in range(len(module) - len(stripped) - 1):
                folder = posixpath.dirname(folder)
            base = posixpath.join(folder, *stripped.split(".")) if stripped else folder
            found = [
                p for name in filter(None, names.split(",")) for p in self._python_file(f"{base}/{name}")
            ]
            return found or self._python_file(base)  # the names are submodules, or items of the module
        found = [
            self.python[f"{module}.{n}"]
            for n in filter(None, names.split(","))
            if f"{module}.{n}" in self.python
        ]
        if found:
            return found
        parts = module.split(".")
        for end in range(len(parts), 0, -1):  # `import a.b.c` uses a.b.c, else its nearest package
            hit = self.python.get(".".join(parts[:end]))
            if hit:
                return [hit]
        return []

    def _python_file(self, base: str) -> list[str]:
        return [p for p in (f"{base}.py", f"{base}.pyi", f"{base}/__init__.py") if p in self.paths][:1]

    def _javascript(self, path: str, spec: str) -> Iterable[str]:
        if not spec.startswith("."):
            return []
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
        stem = target[: -len(posixpath.splitext(target)[1])] if spec.endswith((".js", ".mjs")) else None
        candidates = (
            [target] + [target + s for s in JS_SUFFIXES] + [f"{target}/index{s}" for s in JS_SUFFIXES]
        )
        if stem:  # TypeScript ESM writes './x.js' for './x.ts'
            candidates += [stem + s for s in JS_SUFFIXES]
        return [p for p in candidates if p in self.paths][:1]

    def _go(self, path: str, spec: str) -> Iterable[str]:
        for module, folder in self.go_modules:
            if spec == module or spec.startswith(module + "/"):
                rest = spec[len(module) :].lstrip("/")
                return self.go_dirs.get(posixpath.join(folder, rest).strip("/") if rest else folder, [])
        return []

    def _rust(self, path: str, root: str | None, module: list[str], spec: str) -> Iterable[str]:
        if spec.startswith("mod:"):
            if root is None:
                return self._rust_module(path.rpartition("/")[0], (spec[4:],))
            return self._rust_module(root, (*module, spec[4:]))
        segments = [s for s in spec.split("::") if s and s != "*"]
        if not segments:
            return ()
        head = segments[0]
        if head == "crate" and root is not None:
            return self._rust_module(root, tuple(segments[1:]))
        if head in ("self", "super") and root is not None:
            base = list(module)
            while segments and segments[0] in ("self", "super"):
                if segments.pop(0) == "super" and base:
                    base = base[:-1]
            return self._rust_module(root, (*base, *segments))
        crate = self.crates.get(head)
        return self._rust_module(crate, tuple(segments[1:])) if crate else ()

    def _rust_module_path(self, root: str, path: str) -> list[str]:
        parts = path[len(root) + 1 : -len(".rs")].split("/")
        if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
            parts = parts[:-1]
        return parts

    def _rust_module(self, root: str, segments: tuple[str, ...]) -> tuple[str, ...]:
        """The file of the longest prefix of `segments` that is a module (the rest are items in it)."""
        key = (root, segments)
        found = self._rust_memo.get(key)
        if found is None:
            found = self._rust_memo[key] = self._rust_lookup(root, segments)
        return found

    def _rust_lookup(self, root: str, segments: tuple[str, ...]) -> tuple[str, ...]:
        for end in range(len(segments), 0, -1):
            base = root + "/" + "/".join(segments[:end]) if root else "/".join(segments[:end])
            for candidate in (base + ".rs", base + "/mod.rs"):
                if candidate in self.paths:
                    return (candidate,)
        for top in ("lib.rs", "main.rs"):
            if f"{root}/{top}" in self.paths:
                return (f"{root}/{top}",)
        return ()

    def _java(self, path: str, spec: str) -> Iterable[str]:
        name = spec.removesuffix(".*")
        hit = self.java.get(name) or self.java.get(name.rsplit(".", 1)[0])
        return [hit] if hit else []

    def _c(self, path: str, spec: str) -> Iterable[str]:
        local = posixpath.normpath(posixpath.join(posixpath.dirname(path), spec))
        if local in self.paths:
            return [local]
        matches = [p for p in self.by_basename.get(posixpath.basename(spec), []) if p.endswith(spec)]
        if not matches:
            return []
        return [max(matches, key=lambda p: len(posixpath.commonprefix([p, path])))]
