"""The memory plan for serving DeepSeek V4 on a GPU set: weights per GPU, KV room, how many sequences fit
and the largest --max-model-len. `wholerepo plan` prints it; `wholerepo serve` refuses what does not fit.

Parallelism follows vLLM's recipes: data parallel attention over all GPUs plus expert parallel MoE
(--data-parallel-size G --enable-expert-parallel). Routed experts are split G ways; attention, shared
experts, embeddings and norms are replicated on every rank. KV is not split: each DP rank holds the whole
KV of the sequences it serves, so a sequence must fit on one GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from wholerepo.errors import HardwareError, UsageError
from wholerepo.runtime.hardware import GpuSet
from wholerepo.runtime.kv_memory import (
    BLOCK_TOKENS,
    FLASH_LAYOUT,
    PRO_LAYOUT,
    AttentionLayout,
    KvDtype,
    kv_bytes_per_sequence,
    max_tokens_within,
)

GIB = 2**30
MAX_CONTEXT = 1_048_576
CONTEXT_128K = 131_072
# Per-GPU memory vLLM needs besides weights and KV: activations, the sparse-prefill workspace (~1.1 GB at
# 1M context and 8K batched tokens), CUDA graphs and NCCL buffers. An estimate, not a measurement.
RUNTIME_OVERHEAD_BYTES = int(2.5 * GIB)
# Below this a V4 server is not worth starting: the shortest useful repository prompt.
MIN_USEFUL_CONTEXT = 32_768


@dataclass(frozen=True, slots=True)
class V4Weights:
    """Checkpoint bytes. Flash: HF model.safetensors.index.json total_size. Pro: the recipe's ~865 GB on
    disk. Routed experts (MXFP4, incl. the MTP layer's) are the part expert parallelism splits."""

    total_bytes: int
    routed_expert_bytes: int

    @property
    def replicated_bytes(self) -> int:
        return self.total_bytes - self.routed_expert_bytes

    def per_gpu_bytes(self, num_gpus: int) -> int:
        return self.replicated_bytes + -(-self.routed_expert_bytes // num_gpus)


V4_MODELS: dict[str, tuple[AttentionLayout, V4Weights]] = {
    "v4-flash": (FLASH_LAYOUT, V4Weights(159_609_485_896, 150_600_000_000)),
    "v4-pro": (PRO_LAYOUT, V4Weights(865_000_000_000, 835_500_000_000)),
}


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    model: str
    gpus: str  # "4xH200"
    kv_dtype: KvDtype
    context_length: int  # the length asked about (--context)
    data_parallel_size: int
    expert_parallel: bool
    gpu_memory_utilization: float
    weights_total_bytes: int
    weights_per_gpu_bytes: int
    kv_budget_per_gpu_bytes: int  # negative when the weights do not fit
    kv_per_sequence_128k_bytes: int
    kv_per_sequence_1m_bytes: int
    kv_per_sequence_bytes: int  # at context_length
    sequences_at_context: int  # across all GPUs
    max_model_len: int  # 0 when nothing fits
    problem: str | None  # None when it can be served

    @property
    def fits(self) -> bool:
        return self.problem is None

    @property
    def parallelism(self) -> str:
        if self.data_parallel_size == 1:
            return "single GPU"
        return f"DP{self.data_parallel_size} + EP{self.data_parallel_size}"


def default_utilization(model: str, gpus: GpuSet) -> float:
    """vLLM's 0.9, except Pro on Hopper, where the recipe raises it to 0.95 to leave room for any KV."""
    return 0.95 if model == "v4-pro" and gpus.kind.is_hopper else 0.9


def plan_memory(
    model: str,
    gpus: GpuSet,
    *,
    kv_dtype: KvDtype = KvDtype.FP8,
    context_length: int = MAX_CONTEXT,
    gpu_memory_utilization: float | None = None,
) -> MemoryPlan:
    """Weights and KV for `model` on `gpus`; problems are reported in the plan, not raised."""
    if model not in V4_MODELS:
        raise UsageError(f"plan covers {', '.join(V4_MODELS)}; got {model!r}")
    if not 0 < context_length <= MAX_CONTEXT:
        raise UsageError(f"--context must be 1..{MAX_CONTEXT:,} tokens, got {context_length:,}")
    layout, weights = V4_MODELS[model]
    utilization = gpu_memory_utilization or default_utilization(model, gpus)
    per_gpu_weights = weights.per_gpu_bytes(gpus.count)
    usable = int(gpus.kind.memory_mib * 2**20 * utilization)
    kv_budget = usable - per_gpu_weights - RUNTIME_OVERHEAD_BYTES
    per_sequence = kv_bytes_per_sequence(layout, context_length, kv_dtype)
    max_len = 0
    if kv_budget > 0:
        max_len = max_tokens_within(layout, kv_budget, kv_dtype, limit=MAX_CONTEXT)
        max_len = max_len if max_len == MAX_CONTEXT else max_len // BLOCK_TOKENS * BLOCK_TOKENS
    per_rank = kv_budget // per_sequence if kv_budget > 0 else 0
    return MemoryPlan(
        model=model, gpus=gpus.label, kv_dtype=kv_dtype, context_length=context_length,
        data_parallel_size=gpus.count, expert_parallel=gpus.count > 1, gpu_memory_utilization=utilization,
        weights_total_bytes=weights.total_bytes, weights_per_gpu_bytes=per_gpu_weights,
        kv_budget_per_gpu_bytes=kv_budget,
        kv_per_sequence_128k_bytes=kv_bytes_per_sequence(layout, CONTEXT_128K, kv_dtype),
        kv_per_sequence_1m_bytes=kv_bytes_per_sequence(layout, MAX_CONTEXT, kv_dtype),
        kv_per_sequence_bytes=per_sequence, sequences_at_context=int(per_rank) * gpus.count,
        max_model_len=max_len, problem=_problem(model, gpus, per_gpu_weights, usable, max_len),
    )


def _problem(model: str, gpus: GpuSet, per_gpu_weights: int, usable: int, max_len: int) -> str | None:
    if gpus.kind.compute_capability < (9, 0):
        return (
            f"{gpus.kind.name} (SM{gpus.kind.compute_capability[0]}{gpus.kind.compute_capability[1]}) has no V4 "
            "attention kernels in stock vLLM (FlashMLA sparse needs Hopper or Blackwell): use H100/H200/B200/B300, "
            "or the CPU default --model smollm2"
        )
    if per_gpu_weights + RUNTIME_OVERHEAD_BYTES >= usable or max_len < MIN_USEFUL_CONTEXT:
        needed = _min_gpus(model, gpus)
        suggestion = f"use at least {needed}x{gpus.kind.name}" if needed else "use larger GPUs"
        return (
            f"{model} weights need {per_gpu_weights / GIB:.1f} GiB per GPU on {gpus.label}, leaving no room for a "
            f"{MIN_USEFUL_CONTEXT:,}-token KV cache in {usable / GIB:.1f} GiB usable: {suggestion}"
        )
    return None


def _min_gpus(model: str, gpus: GpuSet) -> int | None:
    for count in (1, 2, 4, 8, 16, 32, 64):
        if count > gpus.count:
            trial = plan_memory(model, GpuSet(gpus.kind, count), kv_dtype=KvDtype.FP8)
            if trial.fits:
                return count
    return None


def require_fit(plan: MemoryPlan) -> MemoryPlan:
    """For `serve`: a plan that cannot be served becomes a HardwareError naming what would work."""
    if plan.problem:
        raise HardwareError(plan.problem)
    return plan
