"""Time to first token of `ask` on the CPU engine (SmolLM2 on vLLM's CPU build), cold and warm.

Each round generates a seeded repository that fills most of SmolLM2's 8K context, plus a file whose name
carries a fresh random salt: the salt sits in the pack's file tree, near the start, so nothing after it
can come from an earlier round's prefix cache (cold). Two warm asks follow on the same repository: the
same question again (a re-run, e.g. a pre-commit hook: the whole prompt but the last block is cached) and
a new question (only the part of the pack that does not depend on the question can be reused). Uses the running local server, or starts one
(`wholerepo serve`); --endpoint URL points it elsewhere.

Run (-P keeps bench/ off sys.path):
    .venv/bin/python -P bench/ask_latency.py [--rounds 3] [--endpoint URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from wholerepo.jobs.ask import AskOptions, AskResult, ask_question
from wholerepo.runtime.local import connect_endpoint

ANSWER_TOKENS = 16  # short answers: the benchmark is about prefill, not decode
NUM_MODULES = 16  # ~5.5K-token prompts: most of SmolLM2's context, a minute or less per cold ask


def make_repository(root: Path, seed: int) -> Path:
    rng = random.Random(seed)
    for index in range(NUM_MODULES):
        lines = [f'"""Module {index}: helpers for stage {index}."""', ""]
        for function in range(5):
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            lines += [f"def stage_{index}_step_{function}(value):",
                      f"    return value * {a} + {b}", "", ""]
        (root / f"module_{index:02d}.py").write_text("\n".join(lines))
    (root / f"salt_{uuid.uuid4().hex[:12]}.txt").write_text("cache breaker\n")
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.name=bench", "-c", "user.email=b@b", "commit", "-qm", "x"]):
        subprocess.run(["git", *command], cwd=root, check=True)
    return root


def _ask(endpoint, repo: Path, question: str) -> AskResult:
    return ask_question(endpoint, AskOptions(question, repo, answer_tokens=ANSWER_TOKENS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint", default=None)
    args = parser.parse_args()
    endpoint = connect_endpoint(args.endpoint, progress=lambda message: print(message, file=sys.stderr))
    _ask(endpoint, make_repository(Path(tempfile.mkdtemp()), 0), "warm-up")  # first request pays one-time costs
    rows = []
    for round_index in range(args.rounds):
        repo = make_repository(Path(tempfile.mkdtemp(prefix="wholerepo-bench-")), round_index)
        cold = _ask(endpoint, repo, "What does stage_3_step_2 return?")
        again = _ask(endpoint, repo, "What does stage_3_step_2 return?")
        other = _ask(endpoint, repo, "Which module defines stage_7_step_1?")
        rows.append((cold, again, other))
    print(f"ask latency on {endpoint.base_url} ({rows[0][0].chat.model}), {ANSWER_TOKENS} answer tokens")
    print("| round | prompt tokens | cold TTFT s | same question: cached / TTFT s | new question: cached / TTFT s |")
    print("|------:|--------------:|------------:|-------------------------------:|------------------------------:|")
    for index, row in enumerate(rows, start=1):
        cold, again, other = (result.chat for result in row)
        print(f"| {index} | {cold.usage.prompt_tokens:,} | {cold.timings.ttft_s:.2f} | "
              f"{again.usage.cached_tokens:,} / {again.timings.ttft_s:.2f} | "
              f"{other.usage.cached_tokens:,} / {other.timings.ttft_s:.2f} |")
    for label, column in (("cold", 0), ("same question", 1), ("new question", 2)):
        print(f"median TTFT {label}: {statistics.median(row[column].chat.timings.ttft_s for row in rows):.2f} s")

if __name__ == "__main__":
    main()
