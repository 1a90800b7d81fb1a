"""The split combine (kernels/split_combine.py) against a float64 torch formula, on every path: one tile,
chunks, several heads or a slice of dims per program, empty splits, a row with only the sink, heads past the
last full block, bf16 and fp32 outputs. (It replaced sparse_attention's own combine launch, which it was also
compared with until that was removed: round 6.)"""

from __future__ import annotations

import math

import pytest
import torch

from wholerepo.errors import UsageError
from wholerepo.kernels.sparse_attention import LOG2E
from wholerepo.kernels.split_combine import CombineTuning, combine_splits, default_tuning

TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2}


def _partials(n: int, heads: int, splits: int, dim: int, device: str, *, seed: int) -> tuple[torch.Tensor, ...]:
    """acc [n,H,S,D], ml [n,H,S,2] shaped like the attention's: acc_s = l_s x (a mean row), every third split
    empty (m = -inf, l = 0, acc = 0), positions up to 1M tokens (angles up to ~1e6 rad)."""
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(n, heads, splits, generator=g) * 4
    l_ = torch.rand(n, heads, splits, generator=g) * 30 + 1
    acc = torch.randn(n, heads, splits, dim, generator=g) * l_[..., None]
    empty = torch.arange(splits) % 3 == 1
    m[..., empty], l_[..., empty], acc[..., empty, :] = -math.inf, 0.0, 0.0
    ml = torch.stack([m, l_], dim=-1)
    sink = torch.randn(heads, generator=g)
    positions = torch.randint(0, 1 << 20, (n,), generator=g)
    return tuple(t.to(device) for t in (acc, ml, sink, positions))


def _inv_freq(rope: int, device: str) -> torch.Tensor:
    return (1.0 / 160000.0 ** (torch.arange(0, rope, 2, dtype=torch.float64) / rope)).float().to(device)


def torch_combine(acc, ml, sink, positions, inv_freq, nope: int) -> torch.Tensor:
    """The combine in float64, written from its definition (angle = pos·freq of the fp32 frequencies in float64, as
    reference.apply_rope: the kernel keeps the fp32 product's rounding, up to 0.03 rad at 1M, through an fma)."""
    m, l_ = ml[..., 0].double().cpu(), ml[..., 1].double().cpu()
    sink2 = sink.double().cpu() * LOG2E
    top = torch.maximum(m.amax(-1), sink2[None, :])
    w = torch.exp2(m - top[..., None])
    den = (w * l_).sum(-1) + torch.exp2(sink2[None, :] - top)
    o = (w[..., None] * acc.double().cpu()).sum(-2) / den[..., None]
    angle = (positions.cpu().double()[:, None] * inv_freq.cpu().float().double()[None, :])[:, None, :]
    even, odd = o[..., nope::2].clone(), o[..., nope + 1 :: 2].clone()
    o[..., nope::2] = even * angle.cos() + odd * angle.sin()
    o[..., nope + 1 :: 2] = odd * angle.cos() - even * angle.sin()
    return o


def _run(acc, ml, sink, positions, inv_freq, nope, dtype, tuning=None) -> torch.Tensor:
    out = torch.full(acc.shape[:2] + acc.shape[3:], float("nan"), device=acc.device, dtype=dtype)
    combine_splits(acc, ml, sink, positions, inv_freq, out, nope=nope, tuning=tuning)
    assert torch.isfinite(out).all(), "the poisoned (NaN) output was not fully overwritten"
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("splits", [1, 2, 20, 260])
def test_matches_formula(device, dtype, splits, assert_rel_close):
    n, heads, dim, nope = 2, 5, 128, 96
    args = (*_partials(n, heads, splits, dim, device, seed=splits), _inv_freq(dim - nope, device), nope)
    got = _run(*args, dtype)
    assert_rel_close(got, torch_combine(*args), TOL[dtype])


@pytest.mark.parametrize("tuning", [
    CombineTuning(heads=4, dims=128, splits=4, num_warps=4),  # heads 4-7 of a block past H=6: masked
    CombineTuning(heads=1, dims=32, splits=32, num_warps=2),  # dims spread over 4 programs, one of them rope
    CombineTuning(heads=2, dims=64, splits=4, num_warps=1),  # chunks: 5 of 4 splits, the last one partial
    CombineTuning(heads=8, dims=128, splits=1, num_warps=4),  # chunks of a single split
])
def test_every_program_shape_gives_the_same_result(device, tuning, assert_rel_close):
    n, heads, splits, dim, nope = 2, 6, 18, 128, 96
    args = (*_partials(n, heads, splits, dim, device, seed=3), _inv_freq(dim - nope, device), nope)
    assert_rel_close(_run(*args, torch.float32, tuning), torch_combine(*args), TOL[torch.float32])


def test_a_row_without_live_entries_is_zero(device):
    """Every split empty: only the sink is left in the denominator, so the output is exactly 0 (not NaN)."""
    acc, ml, sink, positions = _partials(2, 4, 7, 128, device, seed=5)
    ml[1, 2, :, 0], ml[1, 2, :, 1], acc[1, 2] = -math.inf, 0.0, 0.0
    for tuning in (None, CombineTuning(heads=1, dims=64, splits=2, num_warps=1)):
        got = _run(acc, ml, sink, positions, _inv_freq(32, device), 96, torch.float32, tuning)
        assert (got[1, 2] == 0).all()
        assert (got[0] != 0).any() and (got[1, 1] != 0).any()


def test_real_head_dim(device, assert_rel_close):
    """V4's 512 dims (448 nope + 64 rope) with the default shape for the launch and a busy-launch shape."""
    n, heads, splits, dim, nope = 2, 4, 3, 512, 448
    args = (*_partials(n, heads, splits, dim, device, seed=7), _inv_freq(dim - nope, device), nope)
    want = torch_combine(*args)
    for tuning in (None, CombineTuning(heads=4, dims=512, splits=4, num_warps=8)):
        assert_rel_close(_run(*args, torch.bfloat16, tuning), want, TOL[torch.bfloat16])


def test_default_shapes_per_regime():
    """Busy (Pro B=32): 4 heads of full rows per program, a warp per 128 dims; small (Flash B=1): one head,
    dims spread, every split in one tile; c128a's many splits: chunks of half a tile."""
    assert default_tuning(32, 128, 2, 512) == CombineTuning(heads=4, dims=512, splits=2, num_warps=4)
    assert default_tuning(1, 64, 20, 512) == CombineTuning(heads=1, dims=128, splits=32, num_warps=4)
    big = default_tuning(1, 128, 260, 512)
    assert big.heads == 1 and big.splits < 260 and big.splits * big.dims <= 8 * 32 * 32


def test_usage_errors(device):
    acc, ml, sink, positions = _partials(1, 4, 2, 128, device, seed=9)
    freq = _inv_freq(32, device)
    out = torch.empty(1, 4, 128, device=device)
    with pytest.raises(UsageError, match="dtype"):
        combine_splits(acc.half(), ml, sink, positions, freq, out, nope=96)
    with pytest.raises(UsageError, match="ml"):
        combine_splits(acc, ml[:, :, :1], sink, positions, freq, out, nope=96)
    with pytest.raises(UsageError, match="inverse frequencies"):
        combine_splits(acc, ml, sink, positions, freq, out, nope=64)
    with pytest.raises(UsageError, match="tuning"):
        combine_splits(acc, ml, sink, positions, freq, out, nope=96,
                       tuning=CombineTuning(heads=1, dims=16, splits=2, num_warps=1))
    with pytest.raises(UsageError, match="tuning"):
        combine_splits(acc, ml, sink, positions, freq, out, nope=96,
                       tuning=CombineTuning(heads=3, dims=128, splits=2, num_warps=1))


def test_bf16_partials_combine_as_their_fp32_values(device, assert_rel_close):
    """The warp-specialized attention writes bf16 partials (round 10): the combine reads them as the fp32 values
    they hold, so the formula over the rounded partials is matched to fp32 accuracy."""
    n, heads, splits, dim, nope = 2, 5, 3, 128, 96
    acc, ml, sink, positions = _partials(n, heads, splits, dim, device, seed=11)
    args = (acc.bfloat16(), ml, sink, positions, _inv_freq(dim - nope, device), nope)
    assert_rel_close(_run(*args, torch.float32), torch_combine(acc.bfloat16().float(), *args[1:]), TOL[torch.float32])
