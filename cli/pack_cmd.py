"""`wholerepo pack`: the repository as one prompt that fits the budget, on stdout or in a file."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from wholerepo import atomic
from wholerepo.cli.console import err_console, is_interactive, write_result
from wholerepo.cli.edge import exits_cleanly
from wholerepo.cli.fast_params import FastCoercionCommand
from wholerepo.errors import UsageError
from wholerepo.ingest.options import OutputFormat, PackOptions
from wholerepo.ingest.types import Mode, PackResult

ProgressCallback = Callable[[str, int, int], None]  # ingest.pack.Progress, without importing the pipeline

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`--max-file-size 512k`, `2M`, `1000000`: bytes (k = 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"--max-file-size {text!r} is not a size; write it like 200000, 512k or 2M")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def write_atomically(target: Path, chunks: Iterable[str]) -> None:
    """Write to `target` through a temporary file in the same folder and os.replace: on an error or
    Ctrl-C the old file (or no file) stays, never half of the new one."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"-o {target}: folder {folder} does not exist; create it first")
    encoded = (chunk.encode("utf-8", errors="surrogateescape") for chunk in chunks)
    atomic.write_atomically(target, encoded, sync=True)


@contextmanager
def _progress_bar() -> Iterator[ProgressCallback | None]:
    """A bar over the pack's stages, only when a person watches stderr."""
    if not is_interactive():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # ~17 ms: terminals only

    with Progress(TextColumn("packing: {task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err_console(), transient=True) as bar:
        task = bar.add_task("start", total=None)

        def update(stage: str, index: int, total: int) -> None:
            bar.update(task, description=stage, completed=index - 1, total=total)

        yield update


def print_stats(result: PackResult) -> None:
    from rich.table import Table

    table = Table(title=f"wholerepo pack: {result.total_tokens:,} of {result.budget:,} tokens ({result.tokenizer})")
    table.add_column("outcome")
    table.add_column("files", justify="right")
    table.add_column("tokens", justify="right")
    for mode in Mode:
        chosen = [f for f in result.files if f.mode is mode]
        table.add_row(mode.value, f"{len(chosen):,}", f"{sum(f.tokens for f in chosen):,}")
    for reason, count in sorted(Counter(s.reason.value for s in result.skipped).items()):
        table.add_row(f"skipped: {reason}", f"{count:,}", "")
    if result.num_redactions:
        table.add_row("secrets redacted", f"{result.num_redactions:,}", "")
    err_console().print(table)
    timings = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.timings.items())
    err_console().print(f"stable prefix: {result.stable_prefix_chars:,} chars; {timings}")


def register(app: typer.Typer) -> None:
    @app.command("pack", cls=FastCoercionCommand)
    @exits_cleanly
    def pack(
        path: Path = typer.Argument(Path("."), help="Repository (or, with --no-git, folder) to pack."),
        budget: int | None = typer.Option(None, "--budget", "-b", help="Tokens the whole pack may take "
                                          "[default: the model's context minus its answer reserve]."),
        model: str | None = typer.Option(None, "--model", "--profile", "-m",
                                         help="Model profile: v4-flash (default), v4-pro, smollm2."),
        tokenizer: str | None = typer.Option(None, "--tokenizer", help="v4, o200k, cl100k, smollm2 or "
                                             "hf:DIR [default: the model's]."),
        query: str | None = typer.Option(None, "--query", "-q", help="Pick files for this question."),
        query_file: Path | None = typer.Option(None, "--query-file", help="Read the question from a file."),
        diff: str | None = typer.Option(None, "--diff", help="Pick files changed since this git ref first."),
        output_format: OutputFormat = typer.Option(OutputFormat.XML, "--format", "-f", case_sensitive=False),
        line_numbers: bool = typer.Option(False, "--line-numbers", help="Number every line of full files."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write here (atomically), not stdout."),
        stats: bool = typer.Option(False, "--stats", help="Summary table on stderr."),
        tree: bool = typer.Option(False, "--tree", help="Tokens per folder on stderr."),
        untracked: bool = typer.Option(False, "--untracked", help="Also untracked files git does not ignore."),
        recurse_submodules: bool = typer.Option(False, "--recurse-submodules", help="Enter submodules."),
        no_git: bool = typer.Option(False, "--no-git", help="Pack a plain folder, not a git work tree."),
        include: list[str] = typer.Option([], "--include", help="Only paths matching this glob (repeatable)."),
        exclude: list[str] = typer.Option([], "--exclude", help="Leave out paths matching this glob (repeatable)."),
        keep_lock_files: bool = typer.Option(False, "--keep-lock-files"),
        keep_vendored: bool = typer.Option(False, "--keep-vendored"),
        keep_generated: bool = typer.Option(False, "--keep-generated"),
        keep_minified: bool = typer.Option(False, "--keep-minified"),
        max_file_size: str | None = typer.Option(None, "--max-file-size", help="Skip larger files (e.g. 1M)."),
        no_redact: bool = typer.Option(False, "--no-redact", help="Leave likely secrets in place."),
    ) -> None:
        """Pack a git repository into one prompt of at most --budget tokens.

        Example: wholerepo pack . --budget 200000 --query "how are tokens counted?" -o pack.xml
        """
        if query is not None and query_file is not None:
            raise UsageError("give the question once: --query or --query-file, not both")
        if query_file is not None:
            query = _read_query(query_file)
        options = PackOptions(
            path=path, budget=budget, tokenizer=tokenizer, profile=model, query=query, diff_ref=diff,
            untracked=untracked, recurse_submodules=recurse_submodules, no_git=no_git, includes=tuple(include),
            excludes=tuple(exclude), keep_lock_files=keep_lock_files, keep_vendored=keep_vendored,
            keep_generated=keep_generated, keep_minified=keep_minified,
            max_file_bytes=parse_size(max_file_size) if max_file_size is not None else None,
            redact=not no_redact, format=output_format.value, line_numbers=line_numbers,
        )
        # imported here: the pipeline (tokenizers, tree-sitter, pathspec) costs ~0.1 s that other commands
        # and `--help` should not pay
        from wholerepo.ingest.pack import pack_repository
        from wholerepo.ingest.render import render_json
        from wholerepo.ingest.tree import build_token_tree, format_token_tree

        with _progress_bar() as progress:
            result = pack_repository(options, progress=progress)
        text = render_json(result) if output_format is OutputFormat.JSON else result.text
        if output is not None:
            write_atomically(output, [text])
        else:
            write_result(text)
        if stats:
            print_stats(result)
        if tree:
            err_console().print(format_token_tree(build_token_tree(result.files)), markup=False, end="")


def _read_query(path: Path) -> str:
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--query-file {path}: cannot read it ({error.__class__.__name__}); check the path") from None
