"""Contract: the memory plan reproduces independently derived V4 figures (vLLM blog, HF checkpoint index,
vLLM's paged layout) and refuses hardware that cannot serve a model, naming what would work."""

from __future__ import annotations

import pytest

from wholerepo.errors import HardwareError, UsageError
from wholerepo.runtime.hardware import parse_gpu_set
from wholerepo.runtime.kv_memory import (
    FLASH_LAYOUT,
    PRO_LAYOUT,
    KvDtype,
    kv_bytes_per_sequence,
    max_tokens_within,
    v32_kv_bytes_per_sequence,
)
from wholerepo.runtime.plan import GIB, plan_memory, require_fit

ONE_M = 1_048_576


def test_pro_bf16_per_sequence_matches_the_blog_and_beats_v32_by_8_7x() -> None:
    # Written out from the blog's accounting: 30 c4a layers hold (128 window + N/4) 1,024-B entries plus N/4
    # 256-B indexer keys; 31 c128a layers hold (128 + N/128) entries.
    blog = 30 * ((128 + ONE_M // 4) * 1024 + (ONE_M // 4) * 256) + 31 * (128 + ONE_M // 128) * 1024
    pro = kv_bytes_per_sequence(PRO_LAYOUT, ONE_M, KvDtype.BF16)
    assert pro == blog
    assert round(pro / GIB, 2) == 9.62
    v32 = v32_kv_bytes_per_sequence(ONE_M)
    assert round(v32 / GIB, 1) == 83.9
    assert round(v32 / pro, 1) == 8.7


def test_flash_fp8_paged_per_sequence_is_3_84_gib() -> None:
    # 4,096 blocks of 256 tokens: 21 c4a layers x (37,440 + 8,640) B + 20 c128a layers x 1,728 B per block,
    # plus per-request sliding-window pages: 43 x 3 SWA, 21 x 3 c4a state, 21 x 3 indexer state, 20 x 17 c128a.
    paged = 4096 * (21 * (37_440 + 8_640) + 20 * 1_728)
    fixed = 43 * 3 * 37_440 + 21 * 3 * 37_440 + 21 * 3 * 8_640 + 20 * 17 * 37_440
    flash = kv_bytes_per_sequence(FLASH_LAYOUT, ONE_M, KvDtype.FP8)
    assert flash == paged + fixed
    assert round(flash / GIB, 2) == 3.84
    assert round(kv_bytes_per_sequence(FLASH_LAYOUT, 131_072, KvDtype.FP8) / GIB, 3) == 0.497


@pytest.mark.parametrize(("layout", "dtype", "expected_gib"), [
    (FLASH_LAYOUT, KvDtype.BF16, 6.72), (PRO_LAYOUT, KvDtype.FP8, 5.51),
])
def test_other_research_table_cells(layout, dtype, expected_gib) -> None:
    assert round(kv_bytes_per_sequence(layout, ONE_M, dtype) / GIB, 2) == expected_gib


def test_flash_weights_are_the_checkpoint_total() -> None:
    plan = plan_memory("v4-flash", parse_gpu_set("4xH200"))
    assert round(plan.weights_total_bytes / 1e9, 1) == 159.6


def test_one_h200_cannot_hold_flash_and_the_refusal_says_what_works() -> None:
    plan = plan_memory("v4-flash", parse_gpu_set("1xH200"))
    assert not plan.fits
    assert plan.max_model_len == 0
    assert "2xH200" in plan.problem
    with pytest.raises(HardwareError, match="2xH200"):
        require_fit(plan)


def test_before_hopper_is_refused_for_kernels_not_memory() -> None:
    plan = plan_memory("v4-flash", parse_gpu_set("8xA100"))
    assert not plan.fits
    assert "Hopper" in plan.problem and "smollm2" in plan.problem


def test_two_h200_serve_flash_with_data_and_expert_parallel() -> None:
    plan = plan_memory("v4-flash", parse_gpu_set("2xH200"))
    assert plan.fits and plan.parallelism == "DP2 + EP2"
    # Routed experts (150.6 GB) split two ways plus 9.0 GB replicated: ~78.5 GiB per GPU (research: 78).
    assert 78 < plan.weights_per_gpu_bytes / GIB < 79
    assert plan.max_model_len == ONE_M
    # One 1M sequence needs 3.84 GiB; each rank has ~45 GiB of KV room.
    assert plan.sequences_at_context == 2 * int(plan.kv_budget_per_gpu_bytes // plan.kv_per_sequence_bytes)


def test_pro_needs_eight_h200_and_more_gpus_fit_more_sequences() -> None:
    assert not plan_memory("v4-pro", parse_gpu_set("4xH200")).fits
    eight = plan_memory("v4-pro", parse_gpu_set("8xH200"))
    assert eight.fits and eight.gpu_memory_utilization == 0.95  # the recipe's Hopper setting
    counts = [plan_memory("v4-flash", parse_gpu_set(f"{n}xH200")).sequences_at_context for n in (2, 4, 8)]
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_max_model_len_is_the_longest_that_fits() -> None:
    budget = 2 * GIB
    longest = max_tokens_within(FLASH_LAYOUT, budget, KvDtype.FP8, limit=ONE_M)
    assert kv_bytes_per_sequence(FLASH_LAYOUT, longest, KvDtype.FP8) <= budget
    assert kv_bytes_per_sequence(FLASH_LAYOUT, longest + 1, KvDtype.FP8) > budget


def test_context_at_128k_counts_more_sequences_than_at_1m() -> None:
    gpus = parse_gpu_set("4xB200")
    short = plan_memory("v4-flash", gpus, context_length=131_072)
    long = plan_memory("v4-flash", gpus)
    assert short.sequences_at_context > 6 * long.sequences_at_context


@pytest.mark.parametrize("bad", ["4xH900", "four H200", "0xH200"])
def test_bad_gpu_sets_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_gpu_set(bad)
