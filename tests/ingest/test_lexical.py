"""Contract: question words match code the way code spells them (camelCase, snake_case, paths), BM25
prefers the file that holds the identifier over one that merely mentions common words, and a term in the
path counts more than one in the text."""

from __future__ import annotations

from wholerepo.ingest import term_scan
from wholerepo.ingest.lexical import parse_query, score_lexical, split_words, stem_word
from wholerepo.ingest.term_scan import scan_terms
from wholerepo.ingest.types import SourceFile


def source(path: str, text: str) -> SourceFile:
    return SourceFile(path, text, len(text.encode()), "0" * 40)


def lexical(files: list[SourceFile], query: str) -> dict[str, float]:
    terms = parse_query(query)
    return score_lexical(files, terms.words, scan_terms(files, terms.words, locate=frozenset()))


def test_split_words_follows_code_spelling() -> None:
    assert split_words("parseURLFor_http2") == ["parse", "url", "for", "http", "2"]
    assert split_words("src/TokenCache-v2.rs") == ["src", "token", "cache", "v", "2", "rs"]


def test_parse_query_keeps_identifiers_paths_and_codes() -> None:
    terms = parse_query("Fix F401 in `unused-import` when OptionParser.parse_args sees src/a/core.py (#123)")
    assert "f401" in terms.words
    assert {"OptionParser", "parse_args"} <= set(terms.names)
    assert {"unused-import", "src/a/core.py"} <= set(terms.paths)
    assert "fix" not in terms.words and "when" not in terms.words
    assert "123" not in terms.words


def test_stem_word_keeps_short_words() -> None:
    assert stem_word("options") == "option"
    assert stem_word("unused") == "unused"
    assert stem_word("classes") == "class"


def test_bm25_prefers_the_file_with_the_identifier() -> None:
    filler = "value = compute(value)\n" * 40
    files = [
        source("a/engine.py", filler + "class TokenBucket:\n    def refill(self): ...\n"),
        source("a/other.py", filler + "# the bucket of tokens is elsewhere\n"),
        source("a/third.py", filler),
    ]
    scores = lexical(files, "How does the TokenBucket refill?")
    assert max(scores, key=scores.__getitem__) == "a/engine.py"
    assert "a/third.py" not in scores


def test_path_match_outweighs_a_passing_mention() -> None:
    files = [
        source("billing/invoice.py", "def make():\n    return 1\n"),
        source("misc/notes.py", "# invoice is mentioned once here\nx = 1\n"),
    ]
    scores = lexical(files, "where are invoices built?")
    assert scores["billing/invoice.py"] > scores["misc/notes.py"]


def test_counts_every_case_variant() -> None:
    files = [source("x.rs", "struct Parser; fn parser() {} const PARSER: u8 = 0;")]
    hits = scan_terms(files, ["parser"], locate=frozenset({0}))
    assert hits.counts["x.rs"] == {0: 3}
    assert hits.positions["x.rs"][0] == [7, 18, 36]


def test_fallback_without_the_accelerator_counts_the_same(monkeypatch) -> None:
    files = [
        source("a.py", "class TokenCache:\n    token = TOKEN\n"),
        source("b.py", "tokens = []\n" * 3),
        source("c.py", "nothing here\n"),
    ]
    fast = scan_terms(files, ["token", "cache"], locate=frozenset({1}))
    # the accelerator is an optional wheel: this is the path a machine without it takes
    monkeypatch.setattr(term_scan, "ahocorasick_rs", None)
    slow = scan_terms(files, ["token", "cache"], locate=frozenset({1}))
    assert slow == fast
    assert fast.counts == {"a.py": {0: 3, 1: 1}, "b.py": {0: 3}}


def test_parse_query_reads_the_scope_tags_of_a_commit_title() -> None:
    assert parse_query("[ty] [playground] Make the run panel scroll").scopes == ("ty", "playground")
    assert parse_query("[`flake8-pyi`] Mark PYI061 fixes unsafe").scopes == ("flake8-pyi",)
    assert parse_query("fix(annotate): use the patch origin marker").scopes == ("annotate",)
    assert parse_query("Fix [ty] in the middle of a title").scopes == ()
    assert parse_query("release: 1.2.3").scopes == ()
