"""`wholerepo plan`: memory for serving DeepSeek V4 Flash and Pro on a GPU set (table on stdout, or --json)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from wholerepo.cli.console import write_result
from wholerepo.cli.edge import exits_cleanly
from wholerepo.errors import UsageError
from wholerepo.runtime.kv_memory import KvDtype  # the option's type: typer reads it to build --help

if TYPE_CHECKING:  # the planner and GPU probe load only when `plan` runs
    from wholerepo.runtime.plan import MemoryPlan


def plan_as_dict(plan: MemoryPlan) -> dict[str, object]:
    from wholerepo.runtime.plan import GIB

    return {
        "model": plan.model, "gpus": plan.gpus, "kv_dtype": plan.kv_dtype.value, "context_length": plan.context_length,
        "parallelism": plan.parallelism, "data_parallel_size": plan.data_parallel_size,
        "expert_parallel": plan.expert_parallel, "gpu_memory_utilization": plan.gpu_memory_utilization,
        "weights_total_gib": round(plan.weights_total_bytes / GIB, 2),
        "weights_per_gpu_gib": round(plan.weights_per_gpu_bytes / GIB, 2),
        "kv_budget_per_gpu_gib": round(plan.kv_budget_per_gpu_bytes / GIB, 2),
        "kv_per_sequence_128k_gib": round(plan.kv_per_sequence_128k_bytes / GIB, 3),
        "kv_per_sequence_1m_gib": round(plan.kv_per_sequence_1m_bytes / GIB, 3),
        "kv_per_sequence_at_context_gib": round(plan.kv_per_sequence_bytes / GIB, 3),
        "sequences_at_context": plan.sequences_at_context, "max_model_len": plan.max_model_len,
        "fits": plan.fits, "problem": plan.problem,
    }


def render_plan_table(plans: Sequence[MemoryPlan]) -> str:
    """A plain-text table (no colour), the same for the CLI and bench/plan_table.py."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from wholerepo.runtime.plan import GIB

    first = plans[0]
    table = Table(title=f"DeepSeek V4 memory plan: KV {first.kv_dtype.value}, context {first.context_length:,} tokens",
                  box=box.MARKDOWN)
    notes: list[str] = []
    for column in ("model", "GPUs", "parallel", "weights/GPU GiB", "KV room/GPU GiB", "KV/seq 128K GiB",
                   "KV/seq 1M GiB", "seqs at context", "max-model-len", "verdict"):
        table.add_column(column, justify="left" if column in ("model", "GPUs", "parallel", "verdict") else "right")
    for plan in plans:
        table.add_row(
            plan.model, plan.gpus, plan.parallelism, f"{plan.weights_per_gpu_bytes / GIB:.1f}",
            f"{plan.kv_budget_per_gpu_bytes / GIB:.1f}", f"{plan.kv_per_sequence_128k_bytes / GIB:.3f}",
            f"{plan.kv_per_sequence_1m_bytes / GIB:.2f}", f"{plan.sequences_at_context:,}",
            f"{plan.max_model_len:,}", "fits" if plan.fits else f"no [{_note(notes, plan.problem)}]",
        )
    console = Console(width=200, no_color=True, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    for number, note in enumerate(notes, start=1):
        console.print(f"[{number}] {note}", markup=False, highlight=False)
    return "\n".join(line.strip() if not line.startswith("|") else line.rstrip()
                     for line in console.export_text().splitlines()).strip() + "\n"


def _note(notes: list[str], problem: str | None) -> int:
    if problem not in notes:
        notes.append(problem or "")
    return notes.index(problem or "") + 1


def register(app: typer.Typer) -> None:
    @app.command("plan")
    @exits_cleanly
    def plan(
        gpus: list[str] = typer.Option([], "--gpus", help="GPU set, e.g. 4xH200 (repeatable) [default: found]."),
        model: list[str] = typer.Option([], "--model", "-m", help="v4-flash and/or v4-pro [default: both]."),
        context: int = typer.Option(1_048_576, "--context", help="Context length to count sequences at."),
        kv_dtype: KvDtype = typer.Option(KvDtype.FP8, "--kv-dtype", help="fp8 (vLLM's paged layout) or bf16."),
        utilization: float | None = typer.Option(None, "--gpu-memory-utilization", help="[default: the recipe's]"),
        output_json: bool = typer.Option(False, "--json", help="One JSON list instead of the table."),
    ) -> None:
        """Weights and KV memory for V4 Flash and Pro: sequences that fit and the largest max-model-len.

        Example: wholerepo plan --gpus 4xH200 --context 131072
        """
        from wholerepo.runtime.hardware import detect_gpus, parse_gpu_set
        from wholerepo.runtime.plan import V4_MODELS, plan_memory

        sets = [parse_gpu_set(spec) for spec in gpus]
        if not sets:
            found = detect_gpus()
            if found is None:
                raise UsageError("no NVIDIA GPU found here; name a set with --gpus, e.g. --gpus 4xH200")
            sets = [found]
        plans = [
            plan_memory(name, gpu_set, kv_dtype=kv_dtype, context_length=context, gpu_memory_utilization=utilization)
            for name in (model or list(V4_MODELS)) for gpu_set in sets
        ]
        write_result(json.dumps([plan_as_dict(p) for p in plans], indent=2) if output_json else render_plan_table(plans))
