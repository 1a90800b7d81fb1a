"""Selection recall: does a question-aware pack hold the files a real change touched?

For each chosen commit of a real repository (not a merge, touching 1-8 source files, a message of at least
20 characters), the commit message is the question and the source files it modified or deleted (files that
exist in the parent) are the answer. The PARENT commit is packed with `--query <message>` at each budget;
recall is the share of answer files packed in full, and separately in full or as signatures.

The repositories and the built work trees stay outside this repository (paths are arguments; the default
work folder is under /tmp). Each repository gets one work tree that steps from parent to parent in commit
order, writing only the files that differ; its git repository borrows the mirror's objects and has HEAD at
the parent, so the packer sees the real history. Blobs missing from a partial mirror are left out of the
work tree (and counted).

    .venv/bin/python bench/selection_recall.py --repo click=/path/to/click.git \\
        --repo fastapi=/path/to/fastapi.git --commits 25 [--budgets 32768,131072,1000000]
    --engine rank: rank_files + a greedy fill of full texts (a harness for ranking work, no signatures)
    --no-query: the baseline, the same packs without the question (repository-centric order only)
    --split tune --commits 50: 50 other commits (none of the 25 evaluation commits), to tune weights on
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SOURCE_SUFFIXES = (
    ".py", ".pyi", ".js", ".jsx", ".mjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".c", ".h", ".cc",
    ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".scala",
)  # fmt: skip
TRAILERS = ("co-authored-by:", "signed-off-by:", "reviewed-by:", "<!--")
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false",
       "-c", "init.defaultBranch=main", "-c", "core.quotePath=false"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Case:
    commit: str
    parent: str
    question: str
    answer: tuple[str, ...]


def git_out(repo: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    return subprocess.run([*GIT, *args], cwd=repo, input=input_bytes, capture_output=True, check=True).stdout


def choose_cases(mirror: Path, count: int, scan: int, split: str = "eval", holdout: int = 25) -> list[Case]:
    """`count` commits spread evenly over the newest `scan` qualifying ones (deterministic). split "eval":
    those commits; "tune": `count` commits spread evenly over the qualifying ones that the eval split of
    `holdout` commits does not use, so that weights tuned on them are measured on commits they never saw."""
    log = git_out(
        mirror, "log", f"-n{scan * 4}", "--no-merges", "--no-renames", "--name-status", "-z",
        "--format=%x1e%H %P%x1f%B%x1f",
    ).decode("utf-8", errors="replace")  # fmt: skip
    found: list[Case] = []
    for record in log.split("\x1e")[1:]:
        head, message, changes = (record.split("\x1f") + ["", ""])[:3]
        ids = head.split()
        if len(ids) != 2:
            continue
        fields = [f for f in changes.strip("\0\n").split("\0") if f]
        touched = [(fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2)]
        sources = [(s, p) for s, p in touched if p.endswith(SOURCE_SUFFIXES)]
        answer = tuple(sorted(p for s, p in sources if s in ("M", "D")))
        question = "\n".join(
            line for line in message.strip().splitlines() if not line.lower().startswith(TRAILERS)
        ).strip()
        if 1 <= len(sources) <= 8 and answer and len(question) >= 20:
            found.append(Case(ids[0], ids[1], question, answer))
        if len(found) >= scan:
            break
    if split == "tune":
        held = {c.commit for c in _spread(found, holdout)}
        found = [c for c in found if c.commit not in held]
    return _spread(found, count)


def _spread(found: list[Case], count: int) -> list[Case]:
    step = max(len(found) / max(count, 1), 1.0)
    return [found[int(i * step)] for i in range(min(count, len(found)))]


class WorkTree:
    """One folder that becomes each parent commit in turn. Its git repository borrows the mirror's objects
    (alternates) and points HEAD at the parent, so the packer sees the real history (churn, ordering)."""

    def __init__(self, mirror: Path, folder: Path) -> None:
        self.mirror, self.folder, self.num_missing = mirror, folder, 0
        self.current: str | None = None
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / ".git").exists():
            git_out(folder, "init", "-q")
        objects = (mirror / git_out(mirror, "rev-parse", "--git-path", "objects").decode().strip()).resolve()
        info = folder / ".git" / "objects" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "alternates").write_text(f"{objects}\n")

    def move_to(self, commit: str) -> None:
        if self.current is None:
            entries = _tree_entries(self.mirror, commit)
            self._clear()
            self._write(entries)
        else:
            diff = git_out(self.mirror, "diff-tree", "-r", "--no-renames", "-z", self.current, commit)
            parts = diff.split(b"\0")
            writes, removes = [], []
            for i in range(0, len(parts) - 1, 2):
                meta, path = parts[i].decode().split(), parts[i + 1]
                if len(meta) < 5:
                    continue
                if meta[4] == "D" or meta[1] in ("120000", "160000"):
                    removes.append(path)
                else:
                    writes.append((meta[3].encode(), path, meta[1] == "100755"))
            for path in removes:
                (self.folder / path.decode("utf-8", "surrogateescape")).unlink(missing_ok=True)
            self._write(writes)
        git_out(self.folder, "update-ref", "HEAD", commit)
        git_out(self.folder, "read-tree", commit)
        subprocess.run([*GIT, "update-index", "-q", "--refresh"], cwd=self.folder, capture_output=True)
        self.current = commit

    def _clear(self) -> None:
        for child in self.folder.iterdir():
            if child.name != ".git":
                subprocess.run(["rm", "-rf", str(child)], check=True)

    def _write(self, entries: list[tuple[bytes, bytes, bool]]) -> None:
        """Blob contents through one `git cat-file --batch` (fed from a thread: its pipe would fill)."""
        if not entries:
            return
        proc = subprocess.Popen([*GIT, "cat-file", "--batch"], cwd=self.mirror, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None

        def feed() -> None:
            proc.stdin.write(b"".join(sha + b"\n" for sha, _, _ in entries))  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]

        threading.Thread(target=feed, daemon=True).start()
        for _, path, executable in entries:
            header = proc.stdout.readline().split()
            if header[-1] == b"missing":
                self.num_missing += 1
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            target = self.folder / path.decode("utf-8", "surrogateescape")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            target.write_bytes(data)
            if executable:
                target.chmod(0o755)
        proc.wait()


def _tree_entries(mirror: Path, commit: str) -> list[tuple[bytes, bytes, bool]]:
    out = []
    for record in git_out(mirror, "ls-tree", "-r", "-z", commit).split(b"\0"):
        if record:
            meta, path = record.split(b"\t", 1)
            mode, kind, sha = meta.split()
            if kind == b"blob" and mode != b"120000":
                out.append((sha, path, mode == b"100755"))
    return out


def pack_modes(folder: Path, question: str, budget: int, engine: str) -> dict[str, str]:
    """path -> mode ("full" | "signatures" | "path") of one pack of `folder` for `question`."""
    if engine == "pack":
        from wholerepo.ingest.options import PackOptions
        from wholerepo.ingest.pack import pack_repository

        result = pack_repository(
            PackOptions(path=folder, budget=budget, query=question or None, format="json")
        )
        return {f.path: f.mode.value for f in result.files}
    return _rank_fill(folder, question, budget)


def _rank_fill(folder: Path, question: str, budget: int) -> dict[str, str]:
    """Ranking harness: rank every readable text file, then take full texts in rank order while they fit
    (tokens estimated at 3.6 bytes each when no tokenizer module is there yet)."""
    from wholerepo.ingest.rank import rank_files
    from wholerepo.ingest.types import SourceFile

    files = []
    for raw in git_out(folder, "ls-files", "-z").split(b"\0"):
        if not raw:
            continue
        path = raw.decode("utf-8", "surrogateescape")
        data = (folder / path).read_bytes() if (folder / path).is_file() else b""
        if b"\0" in data[:8000] or len(data) > 1_000_000:
            continue
        files.append(SourceFile(path, data.decode("utf-8", "replace"), len(data), ""))
    modes, used = {}, 0
    for ranked in rank_files(files, query=question or None):
        cost = int(ranked.file.size_bytes / 3.6) + 12
        if used + cost <= budget:
            modes[ranked.file.path], used = "full", used + cost
        else:
            modes[ranked.file.path] = "path"
    return modes


def run_repo(name: str, mirror: Path, work: Path, args: argparse.Namespace) -> list[dict[str, object]]:
    cases = choose_cases(mirror, args.commits, args.scan, args.split, args.holdout)
    cases.reverse()  # oldest first: the work tree steps forward through history
    tree = WorkTree(mirror, work / name)
    rows = []
    for number, case in enumerate(cases, 1):
        tree.move_to(case.parent)
        for budget in args.budgets:
            start = time.perf_counter()
            question = "" if args.no_query else case.question
            modes = pack_modes(tree.folder, question, budget, args.engine)
            seconds = time.perf_counter() - start
            full = sum(modes.get(p) == "full" for p in case.answer)
            shown = sum(modes.get(p) in ("full", "signatures") for p in case.answer)
            rows.append({"repo": name, "commit": case.commit[:12], "budget": budget, "answer": len(case.answer),
                         "full": full, "full_or_signatures": shown, "absent": sum(p not in modes for p in case.answer),
                         "seconds": round(seconds, 2), "question": case.question.splitlines()[0][:80],
                         "modes": {p: modes.get(p, "absent") for p in case.answer}})  # fmt: skip
            print(f"[{name} {number}/{len(cases)} {case.commit[:10]} {budget}] full {full}/{len(case.answer)} "
                  f"shown {shown}/{len(case.answer)} in {seconds:.1f}s", file=sys.stderr)  # fmt: skip
    print(f"[{name}] blobs missing from the mirror: {tree.num_missing}", file=sys.stderr)
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    print("| repo | commits | budget | recall full | recall full+signatures | answer files absent |")
    print("|---|---:|---:|---:|---:|---:|")
    keys = sorted({(r["repo"], r["budget"]) for r in rows}, key=lambda k: (str(k[0]), int(k[1])))  # type: ignore[call-overload]
    for repo, budget in keys:
        group = [r for r in rows if r["repo"] == repo and r["budget"] == budget]
        full = sum(r["full"] / r["answer"] for r in group) / len(group)  # type: ignore[operator]
        shown = sum(r["full_or_signatures"] / r["answer"] for r in group) / len(group)  # type: ignore[operator]
        absent = sum(int(r["absent"]) for r in group)  # type: ignore[call-overload]
        print(f"| {repo} | {len(group)} | {budget:,} | {full:.2f} | {shown:.2f} | {absent} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", action="append", required=True, help="NAME=PATH of a git repository")
    parser.add_argument("--commits", type=int, default=25)
    parser.add_argument("--scan", type=int, default=600, help="newest qualifying commits to sample from")
    parser.add_argument("--budgets", default="32768,131072,1000000")
    parser.add_argument("--split", choices=("eval", "tune"), default="eval",
                        help="eval: the evaluation commits; tune: other commits, for tuning weights")  # fmt: skip
    parser.add_argument("--holdout", type=int, default=25, help="with --split tune: the eval split's size")
    parser.add_argument("--work", type=Path, default=Path("/tmp/wholerepo-recall"))
    parser.add_argument("--engine", choices=("pack", "rank"), default="pack")
    parser.add_argument("--json-out", type=Path, help="write every per-commit row here")
    parser.add_argument("--no-query", action="store_true", help="baseline: pack without the question")
    args = parser.parse_args()
    args.budgets = [int(b) for b in args.budgets.split(",")]
    rows = []
    for spec in args.repo:
        name, _, path = spec.partition("=")
        rows += run_repo(name, Path(path), args.work, args)
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))
    print_table(rows)


if __name__ == "__main__":
    main()
