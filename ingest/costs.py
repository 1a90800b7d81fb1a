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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from wholerepo.ingest.options import OutputFormat
from wholerepo.ingest.render import FileBlock, body_text, frame_block
from wholerepo.ingest.signature_cache import STORE_VERSION, SignatureCache
from wholerepo.ingest.signatures import language_of
from wholerepo.ingest.types import Mode, SourceFile

SIGNATURE_LINE_TOKENS = 6  # a signature line costs 8-30 tokens ("12: def f(x):" is 8): 6 stays below
_DEFINITION_LINE = re.compile(
    r"^[ \t]*(?:pub(?:\([^)\n]*\))?[ \t]+|export[ \t]+|async[ \t]+)*"
    r"(?:def|class|fn|struct|enum|trait|impl|interface|func|function|namespace)[ \t]",
    re.MULTILINE,
)
CHARS_PER_TOKEN_GUESS = 3.6  # 1M-token V4 packs of ruff and torch run 3.9 chars/token; guessing a little
# low over-counts, which the exact recount gives back (each 0.1 closer saves re-planning rounds; guessing
# high would let a plan overshoot and cost an extra render and final count)


class Tokenizer(Protocol):
    name: str

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
        self._frame_base = self._measure_frame_base()
        self.num_counted = 0  # tokens of file content counted in this pack (0 when the cache knew all)
        # Every file starts estimated, even when the cache knows its count: the plan must not depend on
        # what an earlier pack happened to count, or a cold and a warm pack of one commit would differ
        # (and so would the prefix the server caches). The cache only saves the counting.
        self._content = {path: self._guess(f) for path, f in self._files.items()}
        self.estimated: set[str] = set(self._files)
        self._sig_tokens: dict[str, int | None] = {}

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

    def full_costs(self) -> dict[str, int]:
        return {path: tokens + self.frame_cost(path, Mode.FULL) for path, tokens in self._content.items()}

    def source(self, path: str) -> SourceFile:
        return self._files[path]

    def content_tokens(self, path: str) -> int:
        return self._content[path]

    def make_exact(self, full: Iterable[str], signatures: Iterable[str]) -> bool:
        """Count exactly the content of `full` files still estimated, and the frames of every block.
        Returns whether any cost changed (then the plan is redone)."""
        todo = [p for p in full if p in self.estimated]
        changed = False
        if todo:
            keys = {p: self._content_key(self._files[p]) for p in todo}
            known = dict(self._cache.get_many(set(keys.values())))
            missing = [p for p in todo if keys[p] not in known]
            if missing:
                blocks = [FileBlock(p, Mode.FULL, self._files[p].text) for p in missing]
                texts = [body_text(block, self._line_numbers) for block in blocks]
                fresh = dict(zip((keys[p] for p in missing), self._tokenizer.count_many(texts), strict=True))
                self._cache.put_many(fresh)
                known |= fresh
                self.num_counted += sum(fresh.values())
            for path in todo:
                changed |= self._content[path] != known[keys[path]]
                self._content[path] = known[keys[path]]
                self.estimated.discard(path)
        frames = [(p, Mode.FULL) for p in full] + [(p, Mode.SIGNATURES) for p in signatures]
        frames = [key for key in frames if key not in self._frame_exact]
        if frames:
            texts = [frame_block(FileBlock(p, m, ""), "\n", self._fmt) for p, m in frames]
            for key, count in zip(frames, self.count_texts(texts), strict=True):
                exact = max(count - 1, 1)
                changed |= exact != self.frame_cost(*key)
                self._frame_exact[key] = exact
        return changed

    def signature_text(self, path: str) -> str | None:
        key = self._signature_key(path)
        if key not in self._signatures:
            self._signatures.put(key, self._extract(path, self._files[path].text))
        return self._signatures.get(key)

    def signature_costs(self, paths: Sequence[str], limit: int | None = None) -> dict[str, int | None]:
        """Block costs as signatures (None: the file has none). Extracts, then counts, what is new. A file
        whose definition lines alone (counted with a regex, ~1 GB/s) would cost more than `limit` is not
        parsed (a parse runs at 4-7 MB/s): it gets a cost just above the limit, which cannot fit."""
        if limit is not None:
            # decided on the guess alone, cached or not, so a warm pack decides as a cold one did
            too_big = {p for p in paths if self._definition_guess(p) > limit}
            fitting = [p for p in paths if p not in too_big]
            return {**self.signature_costs(fitting), **{p: limit + 1 for p in too_big}}
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

    def _signature_key(self, path: str) -> str:
        return derived_key(f"signatures-{STORE_VERSION}", self._files[path].content_sha)

    def _definition_guess(self, path: str) -> int:
        """A lower bound on a file's signature tokens: SIGNATURE_LINE_TOKENS per definition line. Kept
        with the signatures (the regex costs ~0.5 s over ruff's candidates; a lookup nothing)."""
        if language_of(path) in (None, "markdown"):
            return 0
        key = derived_key("definition-lines-1", self._files[path].content_sha)
        known = self._signatures.get(key)
        if known is None:
            known = str(len(_DEFINITION_LINE.findall(self._files[path].text)))
            self._signatures.put(key, known)
        return int(known) * SIGNATURE_LINE_TOKENS

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
            fresh = dict(zip(missing, self._tokenizer.count_many(list(missing.values())), strict=True))
            self._cache.put_many(fresh)
            known |= fresh
        return [known[key] for key in keys]

    def flush(self) -> None:
        self._cache.flush()
        self._signatures.flush()
