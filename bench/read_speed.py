"""Read-stage speed: discover_files + read_files (classify, decode, redact) on one large real tree.

The tree is the installed torch package minus compiled objects (*.so*, *.pyc): ~12k files, 248 MB on
disk of which ~82 MB is text under the 1 MiB cap, committed into a temporary git repository; it keeps
torch's test binaries and large headers so the binary and size-cap paths run too. `--repo` points at
any other repository instead (bench/pack_speed.py's code-only tree, for example).

Each configuration runs `--runs` times in this process after one warm-up (the OS page cache is warm,
as for any second look at a repository); the table gives median and min wall seconds and the median
CPU seconds (this process plus its git children).

    .venv/bin/python bench/read_speed.py [--runs 5] [--repo PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from wholerepo.ingest.discover import discover_files
from wholerepo.ingest.read import ReadOptions, read_files
from wholerepo.ingest.redact import has_secret_trigger

DEFAULT_REPO = Path("/tmp/wholerepo-bench-read")
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"]


def build_repository(dest: Path) -> Path:
    """Copy torch (minus .so/.pyc) into `dest` and commit it once; reused on later runs."""
    marker = dest / ".git" / "wholerepo-read-bench-done"
    if marker.exists():
        return dest
    import torch  # only to find the installed package

    source = Path(torch.__file__).parent
    shutil.rmtree(dest, ignore_errors=True)
    for path in sorted(source.rglob("*")):
        if path.is_symlink() or not path.is_file() or ".so" in path.name or path.suffix == ".pyc":
            continue
        target = dest / "torch" / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    subprocess.run([*GIT, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*GIT, "commit", "-qm", "torch tree"], cwd=dest, check=True)
    marker.write_text("ok\n")
    return dest


def time_runs(runs: int, step: Callable[[], object]) -> tuple[float, float, float]:
    """(median wall s, min wall s, median CPU s). CPU counts this process and its git children: on a
    shared machine it is the steadier number, since waiting for a core does not count."""
    step()  # warm-up: imports, page cache
    walls, cpus = [], []
    for _ in range(runs):
        before, start = os.times(), time.perf_counter()
        step()
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append(sum(after[:4]) - sum(before[:4]))
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repo", type=Path, default=None)
    args = parser.parse_args()
    repo = args.repo or build_repository(DEFAULT_REPO)
    discovery = discover_files(repo)
    default = read_files(discovery, ReadOptions())
    everything = read_files(
        discovery, ReadOptions(keep_generated=True, keep_minified=True, keep_vendored=True)
    )
    texts = [(f.text.encode(), f.text, f.path) for f in everything.files]
    rows = [
        ("discover_files", lambda: discover_files(repo)),
        ("read_files (defaults, redact)", lambda: read_files(discovery, ReadOptions())),
        ("read_files (defaults, no redact)", lambda: read_files(discovery, ReadOptions(redact=False))),
        ("discover + read (defaults)", lambda: read_files(discover_files(repo), ReadOptions())),
        ("secret prefilter alone", lambda: sum(has_secret_trigger(*t) for t in texts)),
    ]
    print(f"repo: {repo}  ({os.cpu_count()} cores; other processes share them)", file=sys.stderr)
    print(f"tracked files: {len(discovery.files) + len(discovery.skipped):,}")
    print(f"packed by default: {len(default.files):,} files, {default.num_bytes_read / 1e6:.1f} MB of text")
    print(f"skipped by default: {dict(Counter(s.reason.value for s in default.skipped).most_common())}")
    print(
        f"text with every keep_* on: {len(everything.files):,} files, {everything.num_bytes_read / 1e6:.1f} MB"
    )
    print(f"redactions: {sum(f.num_redactions for f in default.files)}")
    print("\n| stage | median wall s | min wall s | median CPU s |\n|---|---:|---:|---:|")
    for name, step in rows:
        median, best, cpu = time_runs(args.runs, step)
        print(f"| {name} | {median:.3f} | {best:.3f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
