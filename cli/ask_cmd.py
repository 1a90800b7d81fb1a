"""`wholerepo ask QUESTION [PATH]`: the answer streams to stdout; progress and usage go to stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from wholerepo.cli.console import err_console, write_result
from wholerepo.cli.edge import exits_cleanly
from wholerepo.errors import UsageError

if TYPE_CHECKING:  # the job pulls httpx and the pack pipeline (~0.15 s): only `ask` itself pays for it
    from wholerepo.jobs.ask import AskResult


def _write_stream(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _usage_line(result: AskResult) -> str:
    usage, timings = result.chat.usage, result.chat.timings
    cached = "unknown" if usage.cached_tokens is None else f"{usage.cached_tokens:,}"
    ttft = "n/a" if timings.ttft_s is None else f"{timings.ttft_s:.2f}s"
    return (
        f"{len(result.files)} files, prompt {usage.prompt_tokens:,} tokens (cached {cached}), "
        f"answer {usage.completion_tokens:,} tokens; first token {ttft}, total {timings.total_s:.2f}s"
    )


def as_json(result: AskResult) -> str:
    usage, timings = result.chat.usage, result.chat.timings
    return json.dumps({
        "answer": result.answer,
        "model": result.chat.model,
        "finish_reason": result.chat.finish_reason,
        "citations": [
            {"text": c.text, "path": c.path, "line": c.line, "end_line": c.end_line, "valid": c.valid, "problem": c.problem}
            for c in result.citations
        ],
        "files": [{"path": f.path, "mode": f.mode.value, "tokens": f.tokens} for f in result.files],
        "pack_tokens": result.pack_tokens,
        "budget": result.budget,
        "usage": {
            "prompt_tokens": usage.prompt_tokens, "cached_tokens": usage.cached_tokens,
            "completion_tokens": usage.completion_tokens, "ttft_s": timings.ttft_s, "total_s": timings.total_s,
        },
    }, indent=2)


def register(app: typer.Typer) -> None:
    @app.command("ask")
    @exits_cleanly
    def ask(
        question: str = typer.Argument(..., help="What to ask about the repository."),
        path: Path = typer.Argument(Path("."), help="The repository (any folder inside its work tree)."),
        endpoint: str | None = typer.Option(None, "--endpoint", help="OpenAI-compatible server URL "
                                            "[env: WHOLEREPO_ENDPOINT, OPENAI_BASE_URL; default: the local server]."),
        model: str | None = typer.Option(None, "--model", "-m", help="Model name on the server, or the profile "
                                         "to start locally (smollm2, v4-flash, v4-pro)."),
        budget: int | None = typer.Option(None, "--budget", "-b", help="Pack tokens [default: the server's context "
                                          "minus the answer reserve and the template]."),
        max_tokens: int | None = typer.Option(None, "--max-tokens", help="Answer tokens [default: the profile's reserve]."),
        template: Path | None = typer.Option(None, "--template", help="A prompt template file with {{pack}} and {{question}}."),
        timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for the server between bytes."),
        output_json: bool = typer.Option(False, "--json", help="Print one JSON object (answer, citations, files, usage)."),
    ) -> None:
        """Ask a question about a whole repository; the answer cites path:line.

        Example: wholerepo ask "Where are exit codes defined?" .
        """
        if not question.strip():
            raise UsageError("the question is empty; ask something, e.g. wholerepo ask \"What does this repo do?\" .")
        from wholerepo.jobs.ask import AskOptions, ask_question
        from wholerepo.runtime.local import connect_endpoint

        say = err_console().print
        target = connect_endpoint(endpoint, model=model, progress=say)
        # Always streamed, also for --json: the first byte times the prefill (time to first token).
        options = AskOptions(question, path, budget, max_tokens, template_path=template, timeout_s=timeout)
        result = ask_question(target, options, on_text=None if output_json else _write_stream, progress=say)
        if output_json:
            write_result(as_json(result))
        else:
            _write_stream("\n")
        for citation in result.citations:
            if not citation.valid:
                err_console().print(f"warning: citation {citation.text} does not match the pack ({citation.problem})",
                                    style="yellow", highlight=False)
        err_console().print(_usage_line(result), highlight=False)
