"""Kernel-test setup: Triton's CPU interpreter when no GPU, fixed seeds, a tiny config, comparison helpers.

TRITON_INTERPRET must be set before any kernel module is decorated by @triton.jit, so it is set here,
at conftest import, ahead of the test modules' imports.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from wholerepo.kernels.config import AttentionConfig  # noqa: E402


@pytest.fixture(autouse=True)
def fixed_seeds() -> None:
    torch.manual_seed(0)


@pytest.fixture
def device() -> str:
    """Small cases run on the GPU where there is one, else in Triton's interpreter on the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def small_dtype(device: str) -> torch.dtype:
    """The interpreter computes bf16 dot products wrong, so CPU cases use fp32 inputs."""
    return torch.bfloat16 if device == "cuda" else torch.float32


def tiny_config(ratio: int = 4) -> AttentionConfig:
    """Every dim a power of two >= 16 (tl.dot's minimum), nope 96 = one full and one partial scale block."""
    return AttentionConfig(name="tiny", n_heads=16, index_topk=16, head_dim=128, rope_dim=32,
                           index_heads=16, index_dim=32, window=16, ratio=ratio)


@pytest.fixture
def tiny() -> Callable[..., AttentionConfig]:
    return tiny_config


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.double().cpu(), want.double().cpu()
    assert torch.isfinite(got).all(), f"{(~torch.isfinite(got)).sum().item()} non-finite outputs"
    return ((got - want).norm() / want.norm().clamp_min(1e-30)).item()


@pytest.fixture
def assert_rel_close() -> Callable[[torch.Tensor, torch.Tensor, float], None]:
    """‖got − want‖/‖want‖ ≤ tol, reporting how many and which elements are off by more than tol·rms."""

    def check(got: torch.Tensor, want: torch.Tensor, tol: float) -> None:
        err = _rel_err(got, want)
        if err > tol:
            diff = (got.double().cpu() - want.double().cpu()).abs()
            bad = (diff > tol * want.double().cpu().pow(2).mean().sqrt()).nonzero()
            raise AssertionError(f"relative error {err:.3g} > {tol}: {len(bad)} elements off, first {bad[:5].tolist()}")

    return check


@pytest.fixture
def assert_topk() -> Callable[[torch.Tensor, torch.Tensor, int], None]:
    """Compare top-k as sets, ties allowed: right count, no duplicates, -1 padding after the valid slots,
    every pick scores >= the k-th best (within rounding), every clearly better entry picked."""

    def check(got: torch.Tensor, scores: torch.Tensor, topk: int) -> None:
        got, scores = got.cpu(), scores.double().cpu()
        for row in range(got.shape[0]):
            finite = torch.isfinite(scores[row])
            k_eff = min(topk, int(finite.sum()))
            picks = got[row, :k_eff].long()
            assert (got[row, k_eff:] == -1).all(), f"row {row}: slots past {k_eff} not -1"
            assert (picks >= 0).all() and picks.unique().numel() == k_eff, f"row {row}: bad or repeated picks"
            if k_eff == 0:
                continue
            kth = scores[row][finite].sort(descending=True).values[k_eff - 1]
            slack = 1e-3 * scores[row][finite].abs().max() + 1e-6
            assert (scores[row, picks] >= kth - slack).all(), f"row {row}: a pick scores below the k-th best"
            must = (scores[row] > kth + slack).nonzero().flatten()
            assert torch.isin(must, picks).all(), f"row {row}: a clearly better entry was not picked"

    return check
