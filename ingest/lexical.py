"""Question relevance by words: BM25 over each file's content and, weighted higher, over its path.

Words are split the way code spells them (camelCase, snake_case, kebab-case, dotted and slashed paths),
lower-cased and lightly stemmed, so "parsing options" finds `OptionParser` and `src/parser/options.rs`.
Content counts are substring counts of the stems (one Aho-Corasick pass, see term_scan.py): "pars" in
`parser` and `parsing` counts, which is what a stemmer would give at a fraction of the cost.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from wholerepo.ingest.term_scan import TermHits
from wholerepo.ingest.types import SourceFile

WORD_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
RAW_TOKENS = re.compile(r"[A-Za-z0-9_$][\w$]*(?:(?:[./:\\-]|::)[\w$]+)*")
NOISE = re.compile(r"https?://\S+|\S+@\S+\.\w+|#\d+|\b[0-9a-f]{7,40}\b")
CODE_LIKE = re.compile(r"[A-Za-z]+[0-9]+[A-Za-z0-9]*")
SCOPE_TAGS = re.compile(r"^\s*((?:\[[^\]\n]{1,40}\]\s*)+)")  # "[ty] [playground] Fix ...", "[`pylint`] ..."
SCOPE_CONVENTIONAL = re.compile(r"^\s*[a-z]+\(([\w./-]{1,40})\)!?:")  # "fix(annotate): ...", "feat(api)!:"
MIN_TERM_CHARS = 3
BODY_WEIGHT = 0.5  # a commit body or a long question adds context words; at 0.5 recall was +0.7 points over
# 1.0 on the bench (90 commits) and equal to 0.25
MAX_TERMS = 24  # a long commit body yields 100+ words; the rarest-looking 24 carry the signal and keep
# the Aho-Corasick match lists (Python objects) small
K1 = 1.2  # BM25's usual constants
B = 0.75
PATH_WEIGHT = 1.5  # a term in the path says more than one in the text; on the recall bench
# (bench/selection_recall.py, 90 commits) 1.5 beat 2.5 and 4: higher, and content stopped counting
BASENAME_WEIGHT = 2.0  # within the path, the file's own name counts double its folders

_STOPWORDS_TEXT = """a an the and or not no nor of in on at to for from by with without into onto over under about as is
    are was were be been being it its this that these those there here then than so such if else when
    while where which who whom what why how all any each every some more most less few many much very can
    could should would will shall may might must do does did done doing have has had having get gets got
    make makes made use uses used using add adds added adding fix fixes fixed fixing remove removes removed
    update updates updated change changes changed improve improved ensure handle handles handled support
    supports allow allows now new also only just instead via per too still even same other again back bump
    minor typo small some issue issues case cases work works working way because since before after out up
    down off between both either i we you they he she our your their my me us them one two first second
    wip pr merge merged commit revert reverts correctly properly correct proper better test tests see"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_CODE_STOPWORDS_TEXT = """self this return import from def class function const let var none null nil true false str int
    string value type data self_ none_ args kwargs cls pub fn impl mut"""
CODE_STOPWORDS = frozenset(_CODE_STOPWORDS_TEXT.split())


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """What a question asks about, in the forms the rank stages look for."""

    words: tuple[str, ...]  # stems for BM25, lower case, rarest-looking first
    names: tuple[str, ...]  # identifiers as written (OptionParser, parse_args): definitions are looked up
    paths: tuple[str, ...]  # path-like tokens: src/a.py, a.py, click.core, crate::rules::x, unused-import
    weights: tuple[float, ...] = ()  # one per word: 1 for the first line, BODY_WEIGHT below it
    scopes: tuple[str, ...] = ()  # the title's component tags, lower case: "[ty] Fix" / "fix(db):" -> ty, db


def stem_word(word: str) -> str:
    """Strip one common English suffix; keep at least 4 characters so that short words stay intact."""
    if len(word) >= 8 and word.endswith(("ing", "ies")):
        return word[:-3]
    if len(word) >= 7 and word.endswith("ed"):
        return word[:-2]
    if len(word) >= 6 and word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) >= 5 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def split_words(text: str) -> list[str]:
    """Lower-case word parts of identifiers and paths: `parseURLFor_http2` -> parse, url, for, http, 2."""
    return [w.lower() for w in WORD_PARTS.findall(text)]


def parse_query(query: str) -> QueryTerms:
    """Split a question into BM25 words, identifiers and path-like mentions. Words of the first line (a
    commit's or issue's title) weigh 1; words only in the lines below weigh BODY_WEIGHT."""
    words: dict[str, float] = {}
    names: dict[str, None] = {}
    paths: dict[str, None] = {}
    title, _, body = query.strip().partition("\n")
    for text, weight in ((title, 1.0), (body, BODY_WEIGHT)):
        for raw in RAW_TOKENS.findall(NOISE.sub(" ", text)):
            token = raw.strip(".-:/\\")
            if len(token) < MIN_TERM_CHARS:
                continue
            if any(sep in token for sep in "/.\\") or "::" in token or "-" in token:
                paths[token] = None
            for part in re.split(r"[./:\\-]+", token):
                if len(part) >= MIN_TERM_CHARS and _is_identifier(part):
                    names[part] = None
            found = [token.lower()] if CODE_LIKE.fullmatch(token) else []  # codes: F401, PLR0913, utf8
            for word in split_words(token):
                if not (word.isdigit() or word in STOPWORDS or word in CODE_STOPWORDS):
                    found.append(stem_word(word))
            for stem in found:
                if len(stem) >= MIN_TERM_CHARS and weight > words.get(stem, 0.0):
                    words[stem] = weight
    ordered = sorted(words, key=lambda w: (-words[w], -len(w)))[:MAX_TERMS]  # longer words are rarer
    weights = tuple(words[w] for w in ordered)
    return QueryTerms(tuple(ordered), tuple(names), tuple(paths), weights, parse_scopes(title))


def parse_scopes(title: str) -> tuple[str, ...]:
    """The components a commit-style title is tagged with: leading `[tag]`s or a conventional-commit
    scope. They name a part of the repository even when too short to count as a word ("[ty]")."""
    tagged = SCOPE_TAGS.match(title)
    if tagged:
        found = re.findall(r"\[([^\]]+)\]", tagged.group(1))
    else:
        conventional = SCOPE_CONVENTIONAL.match(title)
        found = [conventional.group(1)] if conventional else []
    scopes = (t.strip().strip("`'\"").strip().lower() for t in found)
    return tuple(dict.fromkeys(t for t in scopes if len(t) >= 2 and re.fullmatch(r"[\w./-]+", t)))


def _is_identifier(part: str) -> bool:
    """Looks like a name in code rather than an English word: snake_case, camelCase, or CapWords."""
    if not re.fullmatch(r"[A-Za-z_$][\w$]*", part):
        return False
    if "_" in part.strip("_") or (part.startswith("__") and part.endswith("__")):
        return True
    return bool(re.search(r"[a-z][A-Z]|^[A-Z][a-z]+[A-Z]", part))


def score_lexical(
    files: Sequence[SourceFile],
    words: Sequence[str],
    hits: TermHits,
    *,
    path_words: Mapping[str, Mapping[str, float]] | None = None,
    weights: Sequence[float] = (),
) -> dict[str, float]:
    """BM25 of every file against `words`: content counts from `hits` (term i = words[i]) plus path
    matches weighted by PATH_WEIGHT. Files that match nothing are left out."""
    if not words or not files:
        return {}
    num_files = len(files)
    path_hits = _path_hits(path_words if path_words is not None else index_path_words(files), words)
    content_df = [0] * len(words)
    for per_term in hits.counts.values():
        for term in per_term:
            if term < len(words):
                content_df[term] += 1
    path_df = [0] * len(words)
    for path_terms in path_hits.values():
        for term in path_terms:
            path_df[term] += 1
    weight = list(weights) or [1.0] * len(words)
    content_idf = [_idf(num_files, df) * w for df, w in zip(content_df, weight, strict=True)]
    path_idf = [_idf(num_files, df) * w for df, w in zip(path_df, weight, strict=True)]
    avg_len = max(sum(len(f.text) for f in files) / num_files, 1.0)
    scores: dict[str, float] = {}
    for f in files:
        total = 0.0
        counts = hits.counts.get(f.path)
        if counts:
            norm = K1 * (1 - B + B * len(f.text) / avg_len)
            for term, tf in counts.items():
                if term < len(words):
                    total += content_idf[term] * tf * (K1 + 1) / (tf + norm)
        in_path = path_hits.get(f.path)
        if in_path:
            total += PATH_WEIGHT * sum(path_idf[t] * weight for t, weight in in_path.items())
        if total > 0:
            scores[f.path] = total
    return scores


def _idf(num_files: int, df: int) -> float:
    return math.log(1 + (num_files - df + 0.5) / (df + 0.5))


def index_path_words(files: Sequence[SourceFile]) -> dict[str, dict[str, float]]:
    """Question-independent: path word -> {path: weight}, BASENAME_WEIGHT for words of the file name."""
    index: dict[str, dict[str, float]] = {}
    folder_words: dict[str, list[str]] = {}
    for f in files:
        folder, _, name = f.path.rpartition("/")
        words = folder_words.get(folder)
        if words is None:
            words = folder_words[folder] = split_words(folder)
        for word in words:
            index.setdefault(word, {})[f.path] = 1.0
        for word in split_words(name):
            index.setdefault(word, {})[f.path] = BASENAME_WEIGHT
    return index


def _path_hits(
    path_words: Mapping[str, Mapping[str, float]], words: Sequence[str]
) -> dict[str, dict[int, float]]:
    """path -> {term: weight}: a term matches a path word that equals it or starts with it (stems)."""
    out: dict[str, dict[int, float]] = {}
    for word, holders in path_words.items():
        for term in _terms_of(word, words):
            for path, weight in holders.items():
                found = out.setdefault(path, {})
                if weight > found.get(term, 0.0):
                    found[term] = weight
    return out


def _terms_of(word: str, words: Sequence[str]) -> list[int]:
    stem = stem_word(word)
    return [i for i, w in enumerate(words) if stem == w or (len(w) >= 4 and word.startswith(w))]
