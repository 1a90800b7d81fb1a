"""`ask`: pack the repository for the question, to the served model's budget, and stream the answer.

Order of work: find the endpoint and its max_model_len; count the template's own tokens on the server
(exact, chat template included); pack to max_model_len - answer reserve - template; render the ask template
(pack first, question last, so the server's prefix cache reuses the pack on the next question); count the
final prompt on the server and refuse it locally if it cannot fit; stream; check citations.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wholerepo.errors import ContextOverflowError
from wholerepo.ingest.types import PackedFile, PackResult
from wholerepo.jobs.citations import Citation, check_citations
from wholerepo.prompts import fill_template, load_template
from wholerepo.runtime.client import check_fit, complete_chat, count_chat_tokens, select_model
from wholerepo.runtime.endpoint import Endpoint
from wholerepo.runtime.profiles import PROFILES, sampling_for
from wholerepo.runtime.types import ChatResult

TEMPLATE = "ask"
TextSink = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AskOptions:
    question: str
    path: Path = Path(".")
    budget: int | None = None  # None: derived from the server's context
    answer_tokens: int | None = None  # None: the profile's answer reserve
    temperature: float | None = None  # None: the profile's sampling
    template_path: Path | None = None
    tokenizer: str | None = None  # None: chosen from the served model
    timeout_s: float = 600.0
    stream: bool = True


@dataclass(frozen=True, slots=True)
class AskResult:
    answer: str
    citations: tuple[Citation, ...]
    files: tuple[PackedFile, ...]
    pack_tokens: int
    budget: int
    chat: ChatResult  # usage (prompt, cached, completion tokens) and timings (ttft, total)


# SmolLM2 decodes 2-5 tokens/s at a 7K-token context on 2 busy cores, and its useful answers are short:
# 384 tokens bound an ask to about two minutes (the profile's 1,024-token reserve took 8 minutes).
ASK_ANSWER_TOKENS = {"smollm2": 384}


def answer_reserve_for(model: str, max_model_len: int) -> int:
    """Tokens kept for the answer: the ask cap, the profile's reserve, else an eighth of the context
    within 512..8,192 tokens."""
    if model in ASK_ANSWER_TOKENS:
        return ASK_ANSWER_TOKENS[model]
    profile = PROFILES.get(model)
    if profile is not None and profile.context_length <= max_model_len:
        return profile.answer_reserve
    return max(512, min(8_192, max_model_len // 8))


def tokenizer_for(model: str) -> str:
    """Pack counts must use the served model's tokenizer ("smollm2" or "v4"); others use v4 as the
    estimate, and the exact server-side count afterwards corrects the budget once."""
    profile = PROFILES.get(model)
    return profile.tokenizer if profile is not None else "v4"


def _repo_root(path: Path) -> Path:
    done = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else path


def _line_counts(root: Path, files: tuple[PackedFile, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for packed in files:
        try:
            counts[packed.path] = len((root / packed.path).read_text(errors="replace").splitlines())
        except OSError:
            counts[packed.path] = 0
    return counts


def ask_question(
    endpoint: Endpoint,
    options: AskOptions,
    *,
    on_text: TextSink | None = None,
    progress: Callable[[str], None] | None = None,
) -> AskResult:
    say = progress or (lambda _message: None)
    info = select_model(endpoint)
    endpoint = endpoint.with_model(info.name)
    max_model_len = info.max_model_len or PROFILES.get(info.name, PROFILES["v4-flash"]).context_length
    reserve = options.answer_tokens or answer_reserve_for(info.name, max_model_len)
    template = load_template(TEMPLATE, options.template_path)

    def messages_for(pack_text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": fill_template(template, pack=pack_text, question=options.question)}]

    frame_tokens = count_chat_tokens(endpoint, info.name, messages_for(""))
    budget = options.budget or max_model_len - reserve - frame_tokens
    if budget <= 0:
        raise ContextOverflowError(
            f"the question and template take {frame_tokens:,} tokens, leaving nothing of the {max_model_len:,}-token "
            f"context after {reserve:,} for the answer; shorten the question or the template"
        )
    tokenizer = options.tokenizer or tokenizer_for(info.name)
    pack = _pack(options, budget, tokenizer, say)
    messages = messages_for(pack.text)
    prompt_tokens = count_chat_tokens(endpoint, info.name, messages)
    if options.budget is None and prompt_tokens + reserve > max_model_len:
        # The local tokenizer only estimated this model's count; shrink by the measured excess once.
        budget -= prompt_tokens + reserve - max_model_len + max(16, budget // 100)
        pack = _pack(options, budget, tokenizer, say)
        messages = messages_for(pack.text)
        prompt_tokens = count_chat_tokens(endpoint, info.name, messages)
    check_fit(prompt_tokens, reserve, max_model_len, budget_hint=budget)
    say(f"sending {prompt_tokens:,} prompt tokens ({len(pack.files)} files) to {info.name} at {endpoint.base_url}")
    sampling = sampling_for(info.name)
    temperature = options.temperature if options.temperature is not None else sampling.pop("temperature", 0.0)
    sampling.pop("temperature", None)
    chat = complete_chat(
        endpoint, messages, max_tokens=reserve, temperature=temperature, stream=options.stream,
        on_text=on_text, timeout_s=options.timeout_s, check_context=False, extra_body=sampling,
    )
    citations = check_citations(chat.text, _line_counts(_repo_root(options.path), pack.files))
    return AskResult(chat.text, citations, pack.files, pack.total_tokens, budget, chat)


def _pack(options: AskOptions, budget: int, tokenizer: str, say: Callable[[str], None]) -> PackResult:
    from wholerepo.ingest.options import PackOptions
    from wholerepo.ingest.pack import pack_repository  # the packing stack loads only when a pack is made

    say(f"packing {options.path} to {budget:,} tokens ({tokenizer} tokenizer)")
    return pack_repository(PackOptions(
        path=options.path, budget=budget, tokenizer=tokenizer, query=options.question, line_numbers=True,
    ))
