"""What each file would cost in the pack, in tokens of the chosen tokenizer.

Counting every file of a large repository cold is the one expensive thing a pack could do (ruff: 15M
tokens, ~4 s on two cores even with a fast tokenizer), and a 1M-token pack needs only a fifteenth of
them. So costs start exact where the disk cache knows them and estimated from length elsewhere; the
planner then asks for exact counts of just the files it selected, and plans again (research/packers.md,
"count tokens exactly only for the files that are actually packed"). The final text is always counted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from types import MappingProxyType
from typing import Protocol

from wholerepo.ingest.count_pieces import (
    count_with_known_middles,
    known_in_order,
    middles_of,
    split_for_counting,
)
from wholerepo.ingest.count_prefetch import CountPrefetch
from wholerepo.ingest.options import OutputFormat
from wholerepo.ingest.render import FileBlock, body_text, frame_block
from wholerepo.ingest.signature_cache import STORE_VERSION, SignatureCache
from wholerepo.ingest.signatures import language_of
from wholerepo.ingest.types import Mode, SourceFile

SIGNATURE_LINE_TOKENS = 6  # a signature line costs 8-30 tokens ("12: def f(x):" is 8): 6 stays below
_DEFINITION_LINE = re.compile(  # one match per line that opens a definition; written with its newline,
    # not ^ and re.MULTILINE, so that re skips from newline to newline (~30% faster; the text gets a "\n"
    # in front for its first line)
    r"\n[ \t]*(?:pub(?:\([^)\n]*\))?[ \t]+|export[ \t]+|async[ \t]+)*"
    r"(?:def|class|fn|struct|enum|trait|impl|interface|func|function|namespace)[ \t]",
)
CHARS_PER_TOKEN_GUESS = 3.6  # 1M-token V4 packs of ruff and torch run 3.9 chars/token; guessing a little
# low over-counts, which the exact recount gives back (each 0.1 closer saves re-planning rounds; guessing
# high would let a plan overshoot and cost an extra render and final count)


class Tokenizer(Protocol):
    name: str  # a tokenizer whose counts add up across line-start cuts also has `sums_at_line_starts = True`

    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


class CountCache(Protocol):
    def get_many(self, shas: Iterable[str]) -> Mapping[str, int]: ...

    def put_many(self, counts: Mapping[str, int]) -> None: ...

    def flush(self) -> None: ...


def derived_key(*parts: str | bytes) -> str:
    """A 40-hex key for the count cache, for texts that are not a blob (line-numbered, redacted, ...)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


class CostModel:
    """Token costs of files as blocks of the pack (content plus its frame), full or as signatures."""

    def __init__(
        self,
        files: Sequence[SourceFile],
        tokenizer: Tokenizer,
        cache: CountCache,
        signatures: SignatureCache,
        extract: Callable[[str, str], str | None],
        fmt: OutputFormat,
        line_numbers: bool,
    ) -> None:
        self._files = {f.path: f for f in files}
        self._tokenizer = tokenizer
        self._cache = cache
        self._signatures = signatures
        self._extract = extract
        self._fmt = fmt
        self._line_numbers = line_numbers
        self._frame_exact: dict[tuple[str, Mode], int] = {}
        self._sums = bool(getattr(tokenizer, "sums_at_line_starts", False))
        self._middles: dict[str, int] = {}  # middle text -> count, for count_pack (see count_pieces.py)
        self._prefetch: CountPrefetch | None = None
        self._frame_base = self._measure_frame_base()
        self.num_counted = 0  # tokens of file content counted in this pack (0 when the cache knew all)
        # Every file starts estimated, even when the cache knows its count: the plan must not depend on
        # what an earlier pack happened to count, or a cold and a warm pack of one commit would differ
        # (and so would the prefix the server caches). The cache only saves the counting.
        self._content = {path: self._guess(f) for path, f in self._files.items()}
        self.estimated: set[str] = set(self._files)
        self._sig_tokens: dict[str, int | None] = {}
        self._full: dict[str, int] | None = None  # full_costs(), built on first use

    def _content_key(self, f: SourceFile) -> str:
        """content_sha is the blob id of the text as packed (after redaction), so it keys the count;
        line numbers change the text, so they get a key of their own."""
        return derived_key("lines-1", f.content_sha) if self._line_numbers else f.content_sha

    def _guess(self, f: SourceFile) -> int:
        """From the text's length, known without loading a lazy text (SourceFile.num_chars)."""
        lines = f.num_newlines() * 2 if self._line_numbers else 0
        return int(f.num_chars() / CHARS_PER_TOKEN_GUESS) + lines + 1

    def _measure_frame_base(self) -> int:
        block = FileBlock("a", Mode.FULL, "x\n")
        framed = frame_block(block, "x\n", self._fmt)
        return max(self.count_texts([framed])[0] - 2, 1)

    def frame_cost(self, path: str, mode: Mode) -> int:
        exact = self._frame_exact.get((path, mode))
        return exact if exact is not None else self._frame_base + len(path) // 2 + 1

    def full_costs(self) -> Mapping[str, int]:
        """Content plus frame of every file, kept up to date by make_exact (a plan round reads it whole:
        rebuilding it for 10k files each round cost ~15 ms)."""
        if self._full is None:
            self._full = {path: n + self.frame_cost(path, Mode.FULL) for path, n in self._content.items()}
        return MappingProxyType(self._full)

    def _refresh_full(self, path: str) -> None:
        if self._full is not None:
            self._full[path] = self._content[path] + self.frame_cost(path, Mode.FULL)

    def source(self, path: str) -> SourceFile:
        return self._files[path]

    def content_tokens(self, path: str) -> int:
        return self._content[path]

    def make_exact(self, full: Iterable[str], signatures: Iterable[str]) -> bool:
        """Count exactly the content of `full` files still estimated, and the frames of every block.
        Returns whether any cost changed (then the plan is redone)."""
        todo = [p for p in full if p in self.estimated]
        changed = False
        keys = {p: self._content_key(self._files[p]) for p in todo}
        self._take_prefetched(keys.values())
        if todo:
            known = dict(self._cache.get_many(set(keys.values())))
            missing = [p for p in todo if keys[p] not in known]
            if missing:
                texts = [self._body(p) for p in missing]
                fresh = dict(zip((keys[p] for p in missing), self._count_in_pieces(texts), strict=True))
                self._cache.put_many(fresh)
                known |= fresh
                self.num_counted += sum(fresh.values())
            for path in todo:
                changed |= self._content[path] != known[keys[path]]
                self._content[path] = known[keys[path]]
                self.estimated.discard(path)
                self._refresh_full(path)
        frames = [(p, Mode.FULL) for p in full] + [(p, Mode.SIGNATURES) for p in signatures]
        frames = [key for key in frames if key not in self._frame_exact]
        if frames:
            texts = [frame_block(FileBlock(p, m, ""), "\n", self._fmt) for p, m in frames]
            for key, count in zip(frames, self.count_texts(texts), strict=True):
                exact = max(count - 1, 1)
                changed |= exact != self.frame_cost(*key)
                self._frame_exact[key] = exact
                self._refresh_full(key[0])
        return changed

    def signature_text(self, path: str) -> str | None:
        key = self._signature_key(path)
        if key not in self._signatures:
            self._signatures.put(key, self._extract(path, self._files[path].text))
        return self._signatures.get(key)

    def signature_costs(self, paths: Sequence[str], limit: int | None = None) -> Mapping[str, int | None]:
        """Block costs as signatures (None: the file has none). Extracts, then counts, what is new. With
        a `limit` (the tokens left), see _SignatureCostsWithin: a file whose definition lines alone
        (counted with a regex, ~1 GB/s) would cost more than the tokens still left is not parsed (a parse
        runs at 4-7 MB/s here): it gets a cost just above them, which cannot fit."""
        if limit is not None:
            return _SignatureCostsWithin(self, paths, limit)
        todo = [p for p in paths if p not in self._sig_tokens]
        texts = {p: self.signature_text(p) for p in todo}
        with_text = [p for p in todo if texts[p]]
        counts = dict(zip(with_text, self.count_texts([texts[p] or "" for p in with_text]), strict=True))
        for path in todo:
            self._sig_tokens[path] = counts.get(path)
        return {
            p: (
                None
                if self._sig_tokens[p] is None
                else (self._sig_tokens[p] or 0) + self.frame_cost(p, Mode.SIGNATURES)
            )
            for p in paths
        }

    def fits_as_signatures(self, path: str, left: int) -> int | None:
        """The signature cost of `path` when its definition-line guess fits in `left` tokens (decided on
        the guess alone, cached or not, so a warm pack decides as a cold one did), else `left + 1`."""
        if self.definition_guess_exceeds(path, left):
            return left + 1
        return self.signature_costs([path])[path]

    def _signature_key(self, path: str) -> str:
        return derived_key(f"signatures-{STORE_VERSION}", self._files[path].content_sha)

    def definition_guess_exceeds(self, path: str, left: int) -> bool:
        """Whether the lower bound on a file's signature tokens, SIGNATURE_LINE_TOKENS per definition
        line, exceeds `left`. Decided without the regex when the file has too few lines for it, and
        otherwise the regex stops at the first match that decides it: near the end of a budget (`left`
        a few hundred tokens) that is a few lines into each of ruff's 400-odd remaining candidates
        instead of all of them (the full scans took ~0.2 s of its cold pack). The count, or the lower
        bound it reached ("N+"), is kept with the signatures, so a later question reads it instead of
        scanning again."""
        if language_of(path) in (None, "markdown"):
            return left < 0
        need = max(left // SIGNATURE_LINE_TOKENS + 1, 0)  # the fewest lines whose guess exceeds `left`
        if self._files[path].num_newlines() + 1 < need:  # each match starts a line: no scan can reach it
            return False
        key = derived_key("definition-lines-2", self._files[path].content_sha)
        known = self._signatures.get(key)
        if known is not None:
            count = int(known.rstrip("+"))
            if count >= need or not known.endswith("+"):
                return count >= need
        matches = _DEFINITION_LINE.finditer("\n" + self._files[path].text)
        count = sum(1 for _ in islice(matches, need))
        self._signatures.put(key, f"{count}+" if count == need else str(count))
        return count >= need

    def signature_tokens(self, path: str) -> int:
        return self._sig_tokens.get(path) or 0

    def count_text(self, text: str) -> int:
        """Exact tokens of a whole text (tree, final pack), cached by its hash: an unchanged pack of an
        unchanged repository is not counted twice (hashing 4 MB takes ~5 ms, counting it ~250 ms)."""
        return self.count_texts([text])[0]

    def count_texts(self, texts: Sequence[str]) -> list[int]:
        """Exact counts of texts that are not files (frames, signatures, the tree, the pack), cached by
        their hash, so that a warm pack never even loads the tokenizer (~1-2 s for V4 here)."""
        keys = [derived_key("text", self._tokenizer.name, text) for text in texts]
        known = dict(self._cache.get_many(set(keys)))
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
        if missing:
            fresh = dict(zip(missing, self._count_in_pieces(list(missing.values())), strict=True))
            self._cache.put_many(fresh)
            known |= fresh
        return [known[key] for key in keys]

    def _count_in_pieces(self, texts: Sequence[str]) -> list[int]:
        """Exact counts of `texts`. Where the tokenizer allows, each is counted as head, middle and tail,
        and each middle's count is kept (and cached under its text's key) for count_pack."""
        totals, middles = self._counted_in_pieces(texts)
        self._keep_middles(middles)
        return totals

    def _counted_in_pieces(self, texts: Sequence[str]) -> tuple[list[int], dict[str, int]]:
        """(counts of `texts`, counts of their middles); touches no state, so a prefetch thread runs it."""
        if not self._sums:
            return self._tokenizer.count_many(texts), {}
        pieces, owners, middles = split_for_counting(texts)
        counts = self._tokenizer.count_many(pieces)
        totals = [0] * len(texts)
        for owner, count in zip(owners, counts, strict=True):
            totals[owner] += count
        return totals, {middle: counts[index] for middle, index in middles.items()}

    def _keep_middles(self, middles: Mapping[str, int]) -> None:
        self._middles.update(middles)
        self._cache.put_many({derived_key("text", self._tokenizer.name, m): n for m, n in middles.items()})

    def prefetch(self, paths: Sequence[str]) -> None:
        """Start counting the contents of `paths` (the files a plan will likely hold in full) beside the
        planning (count_prefetch.py). make_exact takes the counts and counts the rest itself."""
        if self._prefetch is not None:
            return
        keys = {p: self._content_key(self._files[p]) for p in paths}
        known = self._cache.get_many(set(keys.values()))
        todo = list({keys[p]: p for p in paths if keys[p] not in known}.items())
        if todo:
            self._prefetch = CountPrefetch(
                self._counted_in_pieces,
                [(key, self._files[path].num_chars(), partial(self._body, path)) for key, path in todo],
            )

    def _take_prefetched(self, needed: Collection[str] | None = None) -> None:
        """The prefetched counts; `needed`: the content keys the plan wants now (see CountPrefetch.take)."""
        if self._prefetch is None:
            return
        counts, middles = self._prefetch.take(needed)
        self._prefetch = None
        self._cache.put_many(counts)
        self._keep_middles(middles)
        self.num_counted += sum(counts.values())

    def _body(self, path: str) -> str:
        return body_text(FileBlock(path, Mode.FULL, self._files[path].text), self._line_numbers)

    def count_pack(self, text: str, parts: Callable[[], Sequence[str]]) -> int:
        """Exact tokens of the final pack. `parts()`: texts counted before (full files' bodies, the tree)
        in the order they appear in it; their middles are not counted again (count_pieces.py)."""
        key = derived_key("text", self._tokenizer.name, text)
        cached = self._cache.get_many([key])
        if key in cached:
            return cached[key]
        if not self._sums:
            return self.count_text(text)
        middles = middles_of(parts())
        counts = dict(self._middles)
        unknown = {derived_key("text", self._tokenizer.name, m): m for m in middles if m not in counts}
        counts |= {unknown[k]: n for k, n in self._cache.get_many(unknown).items()}
        total = count_with_known_middles(text, known_in_order(middles, counts), self._tokenizer.count_many)
        self._cache.put_many({key: total})
        return total

    def flush(self) -> None:
        self._take_prefetched()
        self._cache.flush()
        self._signatures.flush()


class _SignatureCostsWithin(Mapping[str, "int | None"]):
    """Signature costs of one batch, worked out as select.fill_section reads them: in order, each file
    against the tokens left after the files before it that fit (fill_section takes every cost that
    fits). Parsing a file whose guess already exceeds what is left would be wasted: on ruff's cold 1M
    pack most of the parses were (185 parses of 6.7 MB for 43 signatures)."""

    def __init__(self, costs: CostModel, paths: Sequence[str], limit: int) -> None:
        self._costs = costs
        self._paths = {p: None for p in paths}
        self._left = limit
        self._seen: dict[str, int | None] = {}

    def __getitem__(self, path: str) -> int | None:
        if path not in self._paths:
            raise KeyError(path)
        if path not in self._seen:
            cost = self._costs.fits_as_signatures(path, self._left)
            if cost is not None and cost <= self._left:
                self._left -= cost
            self._seen[path] = cost
        return self._seen[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)
