"""`wholerepo review`: review a change with the whole repository in context.

Exit codes: 0 reviewed, nothing at or above --fail-on; 1 findings at or above it; 2 usage or configuration
error; 3 not reviewed (server unreachable, timeout, prompt too long, an answer that did not validate after a
retry) unless --on-unavailable pass, the default outside CI, which warns and exits 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from wholerepo.cli.console import err_console, write_result
from wholerepo.cli.edge import exits_cleanly
from wholerepo.errors import HardwareError, ModelUnavailableError, UsageError

EXIT_FINDINGS = 1
EXIT_NOT_REVIEWED = 3


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("review")(review)


@exits_cleanly
def review(
    path: Path = typer.Argument(Path("."), help="A folder inside the repository; the whole repository is reviewed."),
    staged: bool = typer.Option(False, "--staged", help="Review the index against HEAD (pre-commit)."),
    base: str | None = typer.Option(None, "--base", help="Review the work tree against its merge base with REF."),
    range_spec: str | None = typer.Option(None, "--range", help="Review commits A..B (or A...B)."),
    untracked: bool = typer.Option(True, "--untracked/--no-untracked",
                                   help="Work tree scope: include new files .gitignore does not exclude."),
    output_format: str | None = typer.Option(None, "--format", "-f",
                                             help="text|markdown|json|jsonl|sarif|rdjsonl|github|codequality"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE instead of stdout."),
    summary: Path | None = typer.Option(None, "--summary",
                                        help="Also append the markdown report to FILE ($GITHUB_STEP_SUMMARY)."),
    fail_on: str | None = typer.Option(None, "--fail-on", help="none|note|warning|error: exit 1 at or above it."),
    on_unavailable: str | None = typer.Option(None, "--on-unavailable",
                                              help="pass|fail when no review happened (default: fail in CI)."),
    max_findings: int | None = typer.Option(None, "--max-findings", help="Most findings to report (default 10)."),
    max_answer_tokens: int | None = typer.Option(None, "--max-answer-tokens", help="Cap on the answer's tokens."),
    endpoint: str | None = typer.Option(None, "--endpoint", help="OpenAI-compatible base URL."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name on the endpoint."),
    profile: str | None = typer.Option(None, "--profile", help="Model profile: v4-flash, v4-pro, smollm2."),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="Tokenizer for the budget."),
    budget: int | None = typer.Option(None, "--budget", help="Cap on the packed repository's tokens."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds to wait for the answer."),
    context_lines: int | None = typer.Option(None, "--context-lines", help="Lines around each diff hunk."),
    template: Path | None = typer.Option(None, "--template", help="A prompt template to use instead of review.md."),
) -> None:
    """Review changes for defects with the whole repository in context.

    With no scope flag the work tree is reviewed against HEAD, new untracked files included (--no-untracked
    leaves them out); in CI the pull request's base or a push's range is picked from the CI's variables.

    Example: wholerepo review --base origin/main --format sarif -o review.sarif --fail-on error
    """
    # imported here: the review job pulls jsonschema, httpx and the pack pipeline (~0.2 s) that the other
    # commands and `--help` should not pay
    from wholerepo.config import load_config
    from wholerepo.jobs.review import ReviewRequest, review_changes
    from wholerepo.review.diff import find_repo_root
    from wholerepo.review.findings import FailOn
    from wholerepo.review.render import render_report, report_format
    from wholerepo.review.scope import resolve_scope
    from wholerepo.runtime.local import connect_endpoint

    root = find_repo_root(path)
    config = load_config(root, {
        "review_format": output_format, "fail_on": fail_on, "on_unavailable": on_unavailable,
        "max_findings": max_findings, "max_answer_tokens": max_answer_tokens, "endpoint": endpoint,
        "model": model, "profile": profile, "tokenizer": tokenizer, "budget": budget, "timeout": timeout,
        "context_lines": context_lines,
    })
    fmt = report_format(config["review_format"])
    scope = resolve_scope(staged=staged, base=base, range_spec=range_spec, env=os.environ, untracked=untracked,
                          root=root)
    console = err_console()
    if scope.note:
        console.print(scope.note, markup=False, highlight=False)

    def progress(message: str) -> None:
        console.print(message, style="dim", markup=False, highlight=False)

    try:
        try:
            model_endpoint = connect_endpoint(config["endpoint"], model=config["model"], progress=progress)
        except HardwareError as error:  # no endpoint, and no local server can run here: nothing can review
            raise ModelUnavailableError(error.message) from None
        request = ReviewRequest(
            root=root, scope=scope, endpoint=model_endpoint, profile=config["profile"],
            tokenizer=config["tokenizer"], budget=config["budget"], max_findings=config["max_findings"],
            answer_tokens=config["max_answer_tokens"], context_lines=config["context_lines"],
            timeout_s=config["timeout"], template=template)
        report = review_changes(request, progress=progress)
    except ModelUnavailableError as error:
        raise typer.Exit(_not_reviewed(error, config["on_unavailable"])) from None
    _write(render_report(report, fmt), output)
    if summary is not None:
        _append(render_report(report, report_format("markdown")), summary)
    num_failing = report.num_failing(FailOn(config["fail_on"]))
    console.print(f"{len(report.findings)} finding(s), {num_failing} at or above --fail-on {config['fail_on']}, "
                  f"{len(report.dropped)} dropped (quote not found); {report.seconds:.1f}s", highlight=False,
                  markup=False)
    raise typer.Exit(EXIT_FINDINGS if num_failing else 0)


def _not_reviewed(error: ModelUnavailableError, on_unavailable: str | None) -> int:
    """--on-unavailable: fail (exit 3) in CI by default; elsewhere one warning line and exit 0."""
    from rich.text import Text  # only on this path: rich costs ~20 ms to import

    from wholerepo.review.scope import is_ci

    policy = on_unavailable or ("fail" if is_ci(os.environ) else "pass")
    if policy == "fail":
        err_console().print(Text("not reviewed: ", style="bold red") + Text(error.message))
        return EXIT_NOT_REVIEWED
    err_console().print(Text("warning: review skipped, nothing was reviewed: ", style="yellow")
                        + Text(f"{error.message} (--on-unavailable fail makes this exit 3)"))
    return 0


def _write(text: str, output: Path | None) -> None:
    if output is None:
        write_result(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write --output {output} ({error.strerror})") from None


def _append(text: str, path: Path) -> None:
    # Appended: GitHub's step summary file may already hold what earlier commands of the step wrote.
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError as error:
        raise UsageError(f"cannot write --summary {path} ({error.strerror})") from None
