"""Print `wholerepo plan`'s table for V4 Flash and Pro on 2x, 4x, 8x H200 and 4x B200 (fp8 KV, vLLM's paged
layout), at 1M and at 128K tokens. Pure arithmetic: no GPU needed.

Run (-P keeps bench/ off sys.path):
    .venv/bin/python -P bench/plan_table.py [--json]
"""

from __future__ import annotations

import json
import sys

from wholerepo.cli.plan_cmd import plan_as_dict, render_plan_table
from wholerepo.runtime.hardware import parse_gpu_set
from wholerepo.runtime.plan import plan_memory

GPU_SETS = ("2xH200", "4xH200", "8xH200", "4xB200")
MODELS = ("v4-flash", "v4-pro")


def main() -> None:
    for context in (1_048_576, 131_072):
        plans = [plan_memory(model, parse_gpu_set(gpus), context_length=context) for model in MODELS for gpus in GPU_SETS]
        if "--json" in sys.argv:
            print(json.dumps([plan_as_dict(plan) for plan in plans], indent=2))
        else:
            print(render_plan_table(plans))


if __name__ == "__main__":
    main()
