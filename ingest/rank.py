"""Order the files of a pack, best first: repository-centric by default, question-aware with a query,
change-aware with changed paths. Selection fills the budget in this order (select.py).

Default score = role prior (README > architecture docs > contributing > docs index > manifests > entry
points > source > docs > examples > config > tests > fixtures > translations) + import centrality (PageRank)
and churn (how often it changed lately) for code.
A query adds relevance: files it names (mentions.py), BM25 (lexical.py) and one hop of imports around
the named and best-matching files; a commit-style title's scope tag ("[ty] ...", "fix(db): ...") lifts
the files under the folders it names. Changed paths go first, then their importers and imports.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from wholerepo.ingest.centrality import score_centrality
from wholerepo.ingest.entry_points import find_entry_points
from wholerepo.ingest.history import Churn
from wholerepo.ingest.imports import ImportGraph, build_import_graph
from wholerepo.ingest.lexical import index_path_words, parse_query, score_lexical
from wholerepo.ingest.mentions import NameIndex, find_mentions, index_names, scope_paths
from wholerepo.ingest.rank_cache import RankStructure, load_structure, store_structure, tree_key
from wholerepo.ingest.roles import FileRole, classify_role
from wholerepo.ingest.term_scan import scan_terms
from wholerepo.ingest.types import RankedFile, SourceFile

ROLE_PRIOR = {
    FileRole.README: 100.0, FileRole.ARCHITECTURE: 95.0, FileRole.CONTRIBUTING: 85.0,
    FileRole.DOC_INDEX: 80.0, FileRole.MANIFEST: 75.0, FileRole.ENTRY_POINT: 70.0, FileRole.SOURCE: 20.0,
    FileRole.DOC: 14.0, FileRole.EXAMPLE: 10.0, FileRole.CONFIG: 8.0, FileRole.TEST: 6.0,
    FileRole.FIXTURE: 2.0, FileRole.TRANSLATION: 1.0,
}  # fmt: skip
CENTRALITY_WEIGHT = {
    FileRole.SOURCE: 45.0,
    FileRole.ENTRY_POINT: 10.0,
    FileRole.TEST: 3.0,
    FileRole.EXAMPLE: 3.0,
}  # most-imported source (up to 65) stays below entry points (70)
QUERY_ROLE_FACTOR = {
    FileRole.SOURCE: 1.0, FileRole.ENTRY_POINT: 1.0, FileRole.MANIFEST: 0.8, FileRole.README: 0.8,
    FileRole.ARCHITECTURE: 0.8, FileRole.CONTRIBUTING: 0.6, FileRole.DOC_INDEX: 0.7, FileRole.DOC: 0.7,
    FileRole.EXAMPLE: 0.5, FileRole.CONFIG: 0.6, FileRole.TEST: 0.7, FileRole.FIXTURE: 0.35,
    FileRole.TRANSLATION: 0.1,
}  # fmt: skip
_ROLE_OF_VALUE = {r.value: r for r in FileRole}  # FileRole(value) costs ~1 us a file (Enum's lookup)
UNLINKED_ROLES = frozenset({FileRole.FIXTURE, FileRole.TRANSLATION})
LEXICAL_WEIGHT = 50.0  # the best BM25 match scores this; a file named outright scores 70-100
NEIGHBOUR_SHARE = 0.15  # an import neighbour of a named or top file gets this share of its score
NEIGHBOUR_MIN_SOURCE = 40.0  # only strong files pass relevance on: weak matches would spread noise
SIZE_SCALE_BYTES = 60_000  # ~16k tokens: relevance per token matters when the budget is short, so a
# question's score is divided by (1 + size/scale) ** SIZE_EXPONENT: fastapi's 600 KB release notes matched
# "release version" but filled a 128K budget alone. Measured on 90 commits of click/fastapi/ruff
# (bench/selection_recall.py): 60 KB beat 180 KB, 400 KB and no penalty at 24K-230K tokens of focus
SIZE_EXPONENT = 0.75  # 0.75 and 1.0 beat 0.5 (+5 points of recall at 24K-32K); 1.0 lost some at 230K
DEFAULT_MIX = 0.1  # with a query, the default score still counts at this weight (central code first);
# 0.1 beat 0.25 and 0.5 on the recall bench: the stable part of the pack already holds the central files
TEST_AFFIXES = re.compile(r"^tests?_|_tests?$|_spec$|\.(?:test|spec)$")
MAX_COMPANIONS = 3  # test_utils.py names a common stem: pair it with at most this many modules
CHURN_WEIGHT = 25.0  # code that changes often is what questions and reviews are about: on the recall
# bench (90 commits) 25 gave +4 points at 32K on click and fastapi and +7 at 128K on ruff; 45 helped ruff
# more but cost click and fastapi
CHURN_BUCKETS = 6  # changes in the window, bucketed by powers of two (0, 1, 2-3, ..., 32+): a file's
# score moves only when its count doubles, so one more commit rarely reorders the stable part
CHURN_ROLES = frozenset({FileRole.SOURCE, FileRole.ENTRY_POINT})
SOURCE_CEILING = 69.0  # central, busy source still comes after the entry points (70)
SCOPE_BOOST = 1.5  # a title tagged with a component ("[ty] ...", "fix(db): ...") multiplies the question
# scores of the files under the folders it names: +0.01-0.02 recall on ruff's tune split (half of its
# commits are tagged [ty]); 2.5 did no better
CHANGED = 1000.0
IMPORTS_CHANGED = 500.0  # importers of a changed file may break with it
IMPORTED_BY_CHANGED = 400.0  # what a changed file uses explains it


@dataclass(frozen=True, slots=True)
class _Base:
    """The question-independent part: computed once per set of files (pack ranks twice)."""

    key: tuple[int, int, tuple[tuple[str, str], ...]]
    graph: ImportGraph
    roles: dict[str, FileRole]
    default: dict[str, float]
    lookups: list[_Lookups]  # built on the first query only (~0.1 s on ruff): empty until then


@dataclass(frozen=True, slots=True)
class _Lookups:
    """Question-independent indexes that only questions use."""

    path_words: dict[str, dict[str, float]]
    names: NameIndex
    companions: dict[str, frozenset[str]]  # a module and its tests (test_x.py <-> x.py), both ways


_last_base: list[_Base] = []  # one entry: pack_repository ranks the same files with and without a query


def rank_files(
    files: Sequence[SourceFile],
    *,
    query: str | None = None,
    changed: Collection[str] = (),
    churn: Mapping[str, Churn] | None = None,
) -> list[RankedFile]:
    """Files best first. `churn` (history.file_churn) lifts code that changes often, by doubling buckets
    so that the order stays put from one commit to the next (the prefix cache, order.py)."""
    collecting = gc.isenabled()
    gc.disable()  # ~1M short-lived tuples (matches, scores) on ruff: the cyclic GC's full passes over
    try:  # the 11k texts' objects cost up to 30% of rank time and free nothing
        return _rank(files, query, changed, churn)
    finally:
        if collecting:
            gc.enable()


def _rank(
    files: Sequence[SourceFile],
    query: str | None,
    changed: Collection[str],
    churn: Mapping[str, Churn] | None,
) -> list[RankedFile]:
    base = _base(files, churn)
    focus: dict[str, tuple[float, str]] = {}
    if query and query.strip():
        focus = _query_scores(files, query, base)
    changed_set = {p for p in changed if p in base.roles}
    if changed_set:
        for path, (score, why) in _change_scores(changed_set, base.graph).items():
            old = focus.get(path, (0.0, ""))
            focus[path] = (old[0] + score, why if score >= old[0] else old[1])
    ranked = []
    for f in files:
        default = base.default[f.path]
        extra, why = focus.get(f.path, (0.0, ""))
        weight = DEFAULT_MIX if focus else 1.0
        is_specific = extra > weight * default
        reason = (
            why
            if is_specific
            else _role_reason(base.roles[f.path], len(base.graph.importers.get(f.path, ())))
        )
        ranked.append(RankedFile(f, extra + weight * default, reason, query_specific=is_specific))
    ranked.sort(key=lambda r: (-r.score, r.file.path.count("/"), r.file.path))
    return ranked


def _base(files: Sequence[SourceFile], churn: Mapping[str, Churn] | None) -> _Base:
    churn_sum = sum(c.num_changes for c in churn.values()) if churn else 0
    key = (id(churn), churn_sum, tuple((f.path, f.content_sha) for f in files))
    if _last_base and _last_base[0].key == key:
        return _last_base[0]
    structure, graph = _structure(files)
    roles = {p: _ROLE_OF_VALUE[r] for p, r in structure.roles.items()}
    default: dict[str, float] = {}
    for f in files:
        role = roles[f.path]
        score = ROLE_PRIOR[role] + CENTRALITY_WEIGHT.get(role, 0.0) * structure.centrality.get(f.path, 0.0)
        record = churn.get(f.path) if churn else None
        if record is not None and role in CHURN_ROLES:
            score += CHURN_WEIGHT * min(record.num_changes.bit_length(), CHURN_BUCKETS) / CHURN_BUCKETS
        default[f.path] = min(score, SOURCE_CEILING) if role is FileRole.SOURCE else score
    if graph is None:  # loaded from the disk cache: rebuild both directions from the imports
        importers: dict[str, set[str]] = {}
        for source, targets in structure.imports.items():
            for target in targets:
                importers.setdefault(target, set()).add(source)
        graph = ImportGraph(
            {p: frozenset(t) for p, t in structure.imports.items()},
            {p: frozenset(s) for p, s in importers.items()},
        )
    base = _Base(key, graph, roles, default, [])
    _last_base[:] = [base]
    return base


def _structure(files: Sequence[SourceFile]) -> tuple[RankStructure, ImportGraph | None]:
    """Roles, imports and centrality: from the disk cache when this exact tree was ranked before. The
    import graph comes along when it was just built (the same edges _base would rebuild from the cache)."""
    key = tree_key(files)
    cached = load_structure(key) if key else None
    if cached is not None:
        return cached, None
    entries = find_entry_points(files)
    roles: dict[str, FileRole] = {}
    for f in files:
        role = classify_role(f.path)
        if f.path in entries and role in (FileRole.SOURCE, FileRole.CONFIG):
            role = FileRole.ENTRY_POINT
        roles[f.path] = role
    # fixtures and translations import nothing worth following (ruff: 3k fixture .py files, ~40% of parse)
    graph = build_import_graph([f for f in files if roles[f.path] not in UNLINKED_ROLES])
    structure = RankStructure(
        {p: r.value for p, r in roles.items()},
        score_centrality(graph),
        {p: tuple(sorted(t)) for p, t in graph.imports.items()},
    )
    if key:
        store_structure(key, structure)
    return structure, graph


def _query_scores(files: Sequence[SourceFile], query: str, base: _Base) -> dict[str, tuple[float, str]]:
    terms = parse_query(query)
    if not base.lookups:
        names = index_names(files)
        base.lookups.append(_Lookups(index_path_words(files), names, _companions(names, base.roles)))
    lookups = base.lookups[0]
    scan = list(terms.words) + list(terms.names)
    locate = {
        i: t
        for i, t in enumerate(scan)
        if i >= len(terms.words) or (len(t) >= 4 and terms.weights[i] >= 1.0)  # title words only
    }
    hits = scan_terms(files, scan, locate=frozenset(locate))
    lexical = score_lexical(files, terms.words, hits, path_words=lookups.path_words, weights=terms.weights)
    top = max(lexical.values(), default=0.0)
    scores: dict[str, tuple[float, str]] = {
        p: (LEXICAL_WEIGHT * s / top, "matches the question's words") for p, s in lexical.items()
    }
    mentions = find_mentions(files, terms, hits, name_terms=locate, index=lookups.names)
    for path, (strength, why) in mentions.items():
        old = scores.get(path, (0.0, ""))
        scores[path] = (old[0] + strength, why)
    spread: dict[str, tuple[float, str]] = {}
    for path, (score, _) in scores.items():
        if score < NEIGHBOUR_MIN_SOURCE:
            continue
        share = NEIGHBOUR_SHARE * score
        for neighbour in base.graph.neighbours(path):
            if share > spread.get(neighbour, (0.0, ""))[0]:
                spread[neighbour] = (share, f"import neighbour of {path}")
        for neighbour in lookups.companions.get(path, ()):
            if share > spread.get(neighbour, (0.0, ""))[0]:
                spread[neighbour] = (share, f"test or module paired with {path}")
    for path, (share, why) in spread.items():
        old = scores.get(path, (0.0, ""))
        scores[path] = (old[0] + share, old[1] if old[0] >= share else why)
    sizes = {f.path: f.size_bytes for f in files}
    scoped = scope_paths(terms.scopes, lookups.names) if terms.scopes else frozenset()
    return {
        p: (
            s
            * QUERY_ROLE_FACTOR[base.roles[p]]
            * (SCOPE_BOOST if p in scoped else 1.0)
            / (1 + sizes[p] / SIZE_SCALE_BYTES) ** SIZE_EXPONENT,
            why,
        )
        for p, (s, why) in scores.items()
    }


def _companions(names: NameIndex, roles: Mapping[str, FileRole]) -> dict[str, frozenset[str]]:
    """Pair test files with the module they are named after: click's tests import `click`, not
    `click.termui`, so only the name links tests/test_termui.py to src/click/termui.py."""
    pairs: dict[str, set[str]] = {}
    for stem, paths in names.by_stem.items():
        subject = TEST_AFFIXES.sub("", stem)
        if subject == stem or len(subject) < 3:
            continue
        tests = [p for p in paths if roles[p] is FileRole.TEST]
        modules = [
            p for p in names.by_stem.get(subject, []) if roles[p] in (FileRole.SOURCE, FileRole.ENTRY_POINT)
        ]
        if not tests or not modules or len(modules) > MAX_COMPANIONS:
            continue
        for test in tests:
            for module in modules:
                pairs.setdefault(test, set()).add(module)
                pairs.setdefault(module, set()).add(test)
    return {p: frozenset(v) for p, v in pairs.items()}


def _change_scores(changed: set[str], graph: ImportGraph) -> dict[str, tuple[float, str]]:
    out: dict[str, tuple[float, str]] = {}
    for path in sorted(changed):
        for importer in graph.importers.get(path, ()):
            if importer not in changed and out.get(importer, (0.0, ""))[0] < IMPORTS_CHANGED:
                out[importer] = (IMPORTS_CHANGED, f"imports changed file {path}")
        for imported in graph.imports.get(path, ()):
            if imported not in changed and out.get(imported, (0.0, ""))[0] < IMPORTED_BY_CHANGED:
                out[imported] = (IMPORTED_BY_CHANGED, f"imported by changed file {path}")
    for path in changed:
        out[path] = (CHANGED, "changed")
    return out


def _role_reason(role: FileRole, num_importers: int) -> str:
    if num_importers:
        return f"{role.value}, imported by {num_importers} file{'s' if num_importers > 1 else ''}"
    return role.value
