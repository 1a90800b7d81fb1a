"""`wholerepo review` as a library call: diff the scope, check the server, pack the repository change-aware
into what the model's context leaves after the diff and the answer, ask for schema-bound JSON (one retry),
locate every finding's quote in the reviewed files, and return one ReviewReport.

Stages are keyword arguments with the real ones as defaults; tests substitute only the model (a tiny real
HTTP server speaking the OpenAI API), never the diff, the pack or the locator.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wholerepo.errors import ContextOverflowError, InvalidModelOutputError, UsageError
from wholerepo.ingest.options import PackOptions
from wholerepo.ingest.types import PackResult
from wholerepo.prompts import render_template
from wholerepo.review.diff import DEFAULT_CONTEXT_LINES, ScopeDiff, diff_scope, read_reviewed
from wholerepo.review.findings import ModelAnswer, answer_max_chars, answer_schema, parse_answer
from wholerepo.review.locate import locate_findings
from wholerepo.review.report import Coverage, ReviewReport
from wholerepo.review.scope import ReviewScope, ScopeKind
from wholerepo.runtime.client import complete_chat, select_model
from wholerepo.runtime.endpoint import Endpoint
from wholerepo.runtime.profiles import DEFAULT_PACK_PROFILE, ModelProfile, profile_from_name
from wholerepo.runtime.types import ChatResult

TEMPLATE = "review"
TEMPLATE_VARIABLES = frozenset({"nonce", "pack", "scope", "changed_files", "diff", "max_findings"})
MAX_FINDINGS_LIMIT = 50
# JSON of code and prose averages well over 3 characters per token in BPE vocabularies (V4, SmolLM2,
# o200k), so characters / 3 bounds the tokens of the longest answer the schema admits.
CHARS_PER_TOKEN_BOUND = 3

Progress = Callable[[str], None]
PackStage = Callable[[PackOptions], PackResult]
CompleteStage = Callable[..., ChatResult]


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    root: Path
    scope: ReviewScope
    endpoint: Endpoint
    profile: str | None = None  # None: smollm2 when the server serves SmolLM2, else the default profile
    tokenizer: str | None = None  # None: the profile's
    budget: int | None = None  # cap on the pack's tokens; the context left over is the real limit
    max_findings: int = 10
    answer_tokens: int | None = None  # cap on the answer; None: the profile's reserve, at most a quarter of the context
    context_lines: int = DEFAULT_CONTEXT_LINES
    timeout_s: float = 600.0
    template: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_findings <= MAX_FINDINGS_LIMIT:
            raise UsageError(f"--max-findings must be 1..{MAX_FINDINGS_LIMIT}, got {self.max_findings}")
        if self.answer_tokens is not None and self.answer_tokens < 64:
            raise UsageError(f"--max-answer-tokens must be at least 64, got {self.answer_tokens}")
        if not 0 <= self.context_lines <= 1000:
            raise UsageError(f"--context-lines must be 0..1000, got {self.context_lines}")


def _pack_stage(options: PackOptions) -> PackResult:
    from wholerepo.ingest.pack import pack_repository  # the packer is the heaviest import; load it on use

    return pack_repository(options)


def _count_stage(tokenizer: str, text: str) -> int:
    from wholerepo.ingest.tokenizers import get_tokenizer

    return get_tokenizer(tokenizer).count(text)


def _pick_profile(name: str | None, served_model: str) -> ModelProfile:
    if name:
        return profile_from_name(name)
    return profile_from_name("smollm2" if "smollm2" in served_model.lower() else DEFAULT_PACK_PROFILE)


def _answer_budget(request: ReviewRequest, profile: ModelProfile, context: int) -> tuple[dict[str, Any], int]:
    """The schema and max_tokens, sized together: string bounds shrink until the longest answer the schema
    admits fits the answer budget, so a finish_reason "length" means the model rambled (whitespace), not
    that the budget was too small for a valid answer."""
    cap = request.answer_tokens or min(profile.answer_reserve, context // 4)
    schema = answer_schema(request.max_findings, max_chars=cap * CHARS_PER_TOKEN_BOUND)
    return schema, max(cap, answer_max_chars(schema) // CHARS_PER_TOKEN_BOUND)


def _nonce(*texts: str) -> str:
    """A delimiter suffix no reviewed text contains, so content cannot close the block it sits in."""
    while True:
        nonce = secrets.token_hex(8)
        if not any(nonce in text for text in texts):
            return nonce


def _prompt(request: ReviewRequest, diff: ScopeDiff, pack_text: str, nonce: str) -> str:
    return render_template(
        TEMPLATE, request.template, nonce=nonce, pack=pack_text, diff=diff.text.rstrip("\n"),
        scope=request.scope.describe(), changed_files=", ".join(diff.changed_paths) or "(only deletions)",
        max_findings=request.max_findings,
    )


def _ask(complete: CompleteStage, request: ReviewRequest, prompt: str, schema: dict[str, Any],
         max_tokens: int, budget: int) -> tuple[ModelAnswer, int, int]:
    """Two attempts at most; the second says why the first was refused. Returns (answer, attempts, tokens)."""
    wire_schema = {k: v for k, v in schema.items() if k not in ("$schema", "title", "description")}
    response_format = {"type": "json_schema",
                       "json_schema": {"name": "wholerepo_review", "schema": wire_schema, "strict": True}}
    content, problem, spent = prompt, "", 0
    for attempt in (1, 2):
        result = complete(request.endpoint, [{"role": "user", "content": content}], max_tokens=max_tokens,
                          temperature=0.0, response_format=response_format, timeout_s=request.timeout_s,
                          budget_hint=budget)
        spent += result.usage.completion_tokens
        if result.finish_reason == "length":
            problem = f"the answer was cut off at max_tokens={max_tokens}"
        else:
            try:
                return parse_answer(result.text, schema), attempt, spent
            except InvalidModelOutputError as error:
                problem = error.message
        content = (f"{prompt}\n\nYour previous reply was refused: {problem}. Reply again with one short JSON "
                   "object that matches the schema.")
    raise InvalidModelOutputError(f"the model's answer did not validate after 2 attempts ({problem})")


def review_changes(request: ReviewRequest, *, progress: Progress | None = None, pack: PackStage = _pack_stage,
                   complete: CompleteStage = complete_chat,
                   count_tokens: Callable[[str, str], int] = _count_stage) -> ReviewReport:
    """Review the request's scope; raises ModelUnavailableError subclasses when no review could happen."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    diff = diff_scope(request.root, request.scope, context_lines=request.context_lines)
    if not diff.text.strip():
        say("nothing changed in the scope: nothing to review")
        return _report(request, diff, None, 0, 0, 0, ModelAnswer((), ""), "", 0, 0, started)
    say("checking the model server")
    info = select_model(request.endpoint)  # fails in milliseconds when nothing listens, before any packing
    profile = _pick_profile(request.profile, info.name)
    tokenizer = request.tokenizer or profile.tokenizer
    context = info.max_model_len or profile.context_length
    schema, max_tokens = _answer_budget(request, profile, context)
    frame_tokens = count_tokens(tokenizer, _prompt(request, diff, "", "0" * 16))
    # A margin for the chat template and for our tokenizer differing from the server's (1% + 128 tokens).
    available = context - max_tokens - frame_tokens - (128 + context // 100)
    if available <= 0:
        raise ContextOverflowError(
            f"the diff and instructions alone take {frame_tokens:,} tokens and the model holds {context:,} "
            f"({max_tokens:,} kept for the answer): review a smaller range or use a model with a longer context")
    budget = min(available, request.budget) if request.budget else available
    say(f"packing the repository into {budget:,} tokens ({tokenizer})")
    packed = pack(PackOptions(path=request.root, budget=budget, tokenizer=tokenizer, profile=profile.name,
                              changed_paths=diff.changed_paths,
                              # new files are in the diff; pack them too, like every changed file
                              untracked=request.scope.kind is ScopeKind.WORKTREE and request.scope.untracked))
    prompt = _prompt(request, diff, packed.text, _nonce(packed.text, diff.text))
    say(f"asking {info.name} for a review")
    answer, attempts, spent = _ask(complete, request, prompt, schema, max_tokens, budget)
    return _report(request, diff, packed, count_tokens(tokenizer, diff.text), budget, frame_tokens, answer,
                   info.name, attempts, spent, started)


def _report(request: ReviewRequest, diff: ScopeDiff, packed: PackResult | None, diff_tokens: int, budget: int,
            frame_tokens: int, answer: ModelAnswer, model: str, attempts: int, spent: int,
            started: float) -> ReviewReport:
    located = locate_findings(answer.findings, lambda path: read_reviewed(request.root, request.scope, diff, path))
    ordered = sorted(located.findings, key=lambda f: (-f.severity.rank, f.path, f.start_line))
    coverage = Coverage(
        scope=request.scope.describe(), scope_source=request.scope.source, base_commit=diff.base_commit,
        head_commit=diff.head_commit, changed_paths=diff.changed_paths, deleted_paths=diff.deleted_paths,
        diff_tokens=diff_tokens, pack_budget=budget, pack_tokens=packed.total_tokens if packed else 0,
        prompt_tokens=(frame_tokens + packed.total_tokens) if packed else None,
        packed=packed.files if packed else (), skipped=packed.skipped if packed else (),
    )
    return ReviewReport(
        coverage=coverage, findings=tuple(ordered[:request.max_findings]), dropped=located.dropped,
        num_over_cap=max(0, len(ordered) - request.max_findings), summary=answer.summary, model=model,
        attempts=attempts, completion_tokens=spent, seconds=time.perf_counter() - started,
    )
