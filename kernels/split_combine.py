"""Merge of the sparse attention's per-split partials (fp32, or bf16), with the sink and the inverse RoPE, in Triton.

out = Σ_s 2^(m_s-M)·acc_s / (Σ_s 2^(m_s-M)·l_s + 2^(sink·log2e - M)), M = max(m_s, sink·log2e), then the
interleaved pairs (2i, 2i+1) rotated by -pos·freq (pairs below nope/2 have freq 0: unrotated), written in
out's dtype. (It replaced sparse_attention's one-program-per-(query, head) combine: round 6.) Laid out
for both decode regimes:

- busy launches (Pro B=32: 4096 query-heads, 2 splits) are instruction and L2-bandwidth bound, so one program
  takes HB heads of one query as one [HB, splits, D] tile of contiguous 2 KB rows (128-bit loads), the sum
  over splits stays inside each thread (no barrier, no shared memory), and cos/sin (shared by the heads of
  a query) are paid once per program for the ROPE/2 rotating pairs only;
- small launches (Flash B=1: 64 query-heads, ~20 splits) are latency bound, so each head's dims are spread
  over D/DB programs and every split is loaded at once: one dependent L2 round trip before the math (the
  old kernel waited on six: two passes of three 8-split steps).

Launches with more splits than one tile holds (c128a: up to ~260) loop over chunks of SC splits with a
running max, the next chunk's loads issued before the current chunk's math.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_wait

from wholerepo.errors import UsageError
from wholerepo.kernels._launch import (
    check_dtype,
    check_last_contiguous,
    check_power_of_two,
    check_shape,
    pdl_launch,
)
from wholerepo.kernels.rope_angle import rope_cos_sin


@dataclass(frozen=True, slots=True)
class CombineTuning:
    """Program shape: HB heads x DB dims, SC splits per tile ([HB, SC, DB] fp32 in registers)."""

    heads: int
    dims: int
    splits: int
    num_warps: int


MAX_SPLITS = 64  # splits in one tile: up to this many are loaded at once (one L2 round trip), more in chunks
BUSY_PROGRAMS = 264  # 2 per SM on the H200's 132 SMs: heads per program shrink to keep at least this many
SPREAD_PROGRAMS = 200  # below this many (one head per program), a head's dims are spread over programs
MIN_DIMS = 128  # the narrowest spread: one warp's 32 threads x 4 floats
TILE_FLOATS = 32  # fp32 tile elements per thread (eight 128-bit loads): sets the warp count


def default_tuning(rows: int, heads: int, splits: int, dim: int) -> CombineTuning:
    """Busy launches: several heads per program (up to 8, at most TILE_FLOATS per thread, at least
    BUSY_PROGRAMS programs), one warp per 128 dims, so the sum over splits stays inside each thread. Small
    launches: one head per program, its dims spread until SPREAD_PROGRAMS programs (or until the tile fits);
    warps past one per 128 dims split the splits (a cross-warp sum after the loads). With several heads, no
    more warps than that: Triton 3.6 would give the extra ones heads, 3.9 splits."""
    # more splits than one tile: chunks of half a tile, since the next chunk is loaded during the current one
    sc = triton.next_power_of_2(splits) if splits <= MAX_SPLITS else MAX_SPLITS // 2
    hb = min(8, triton.next_power_of_2(heads))
    while hb > 1 and (rows * triton.cdiv(heads, hb) < BUSY_PROGRAMS or hb * sc * 4 > TILE_FLOATS):
        hb //= 2
    db = dim
    if hb > 1:
        return CombineTuning(hb, db, sc, max(1, min(8, db // 128)))
    while db > min(MIN_DIMS, dim) and (rows * heads * (dim // db) < SPREAD_PROGRAMS or sc * db > 8 * 32 * TILE_FLOATS):
        db //= 2
    return CombineTuning(1, db, sc, min(8, max(1, sc * db // (32 * TILE_FLOATS))))


@triton.jit
def _load_chunk(acc_rows, ml_rows, s0, S, stride_as, stride_ms, head_ok, SC: tl.constexpr):
    """Splits s0..s0+SC-1 (masked past S and past the last head): acc [HB, SC, DB], m and l [HB, SC, 1].
    (m, l) is one 64-bit load (ml strides come in pairs, so the compiler sees the 8-byte alignment). m and l
    keep the tile's rank so that they live in its register layout: [HB, SC] vectors, or a [.., 1, 2] load,
    were converted through shared memory or loaded 4 times over (offline SASS)."""
    offs_s = (s0 + tl.arange(0, SC))[None, :, None]
    live = (offs_s < S) & head_ok[:, :, None]
    a = tl.load(acc_rows[:, None, :] + offs_s * stride_as, mask=live, other=0.0).to(tl.float32)
    pair = tl.arange(0, 2)[None, None, :]
    empty = tl.where(pair == 0, float("-inf"), 0.0)  # a masked split: m = -inf, l = 0
    ml = tl.load(ml_rows[:, :, None] + 2 * offs_s * stride_ms + pair, mask=live, other=empty)
    m, l_ = tl.split(ml)
    m, l_ = m[:, :, None], l_[:, :, None]
    return a, m, l_


@triton.jit
def _combine_splits_kernel(
    acc_ptr, ml_ptr, sink_ptr, pos_ptr, freq_ptr, out_ptr, H, S,
    stride_ab, stride_ah, stride_as, stride_mb, stride_mh, stride_ms, stride_ob, stride_oh,  # ml's in pairs
    NOPE: tl.constexpr, ROPE: tl.constexpr, HB: tl.constexpr, DB: tl.constexpr, SC: tl.constexpr,
    ONE_PASS: tl.constexpr, PDL: tl.constexpr,
):
    """Program (query b, heads h0..h0+HB-1, dims d0..d0+DB-1). m_s = -inf marks a split without a live
    entry (its l and acc are 0): its weight 2^(m_s-M) is 0. M starts at the sink's logit, which is finite,
    so no exp2 ever sees -inf - (-inf). Per-head values are [HB, 1] for the same reason as m and l in
    _load_chunk. Everything before gdc_wait reads only inputs from before the attention launch."""
    b = tl.program_id(0).to(tl.int64)
    offs_h = (tl.program_id(1) * HB + tl.arange(0, HB))[:, None]
    offs_d = (tl.program_id(2) * DB + tl.arange(0, DB))[None, :]
    head_ok = offs_h < H
    sink2 = tl.load(sink_ptr + offs_h, mask=head_ok, other=0.0).to(tl.float32) * 1.4426950408889634
    pos = tl.load(pos_ptr + b).to(tl.float32)
    freq = tl.load(freq_ptr + tl.arange(0, ROPE // 2))[None, None, :]
    if PDL:
        gdc_wait()
    acc_rows = acc_ptr + b * stride_ab + offs_h * stride_ah + offs_d
    ml_rows = ml_ptr + 2 * (b * stride_mb + offs_h * stride_mh)
    a, m, l_ = _load_chunk(acc_rows, ml_rows, 0, S, stride_as, stride_ms, head_ok, SC)
    # inverse RoPE on [HB, chunks of ROPE dims, ROPE/2 pairs]: cos/sin of the ROPE/2 frequencies only, shared
    # by the heads, computed while the partials are in flight; chunks below NOPE pass through (cos 1, sin 0)
    cos, sin = rope_cos_sin(pos, freq)
    is_rope = (tl.program_id(2) * (DB // ROPE) + tl.arange(0, DB // ROPE))[None, :, None] * ROPE >= NOPE
    cos = tl.where(is_rope, cos, 1.0)
    sin = tl.where(is_rope, sin, 0.0)
    if ONE_PASS:
        top = tl.maximum(sink2, tl.max(m, axis=1))
        w = tl.exp2(m - top[:, None, :])
        den = tl.exp2(sink2 - top) + tl.sum(w * l_, axis=1)
        o = tl.sum(a * w, axis=1)
    else:
        top = sink2
        den = tl.full([HB, 1], 1.0, tl.float32)
        o = tl.zeros([HB, DB], tl.float32)
        for s0 in range(0, S, SC):
            a_next, m_next, l_next = _load_chunk(acc_rows, ml_rows, s0 + SC, S, stride_as, stride_ms, head_ok, SC)
            new_top = tl.maximum(top, tl.max(m, axis=1))
            scale = tl.exp2(top - new_top)
            w = tl.exp2(m - new_top[:, None, :])
            den = den * scale + tl.sum(w * l_, axis=1)
            o = o * scale + tl.sum(a * w, axis=1)
            top = new_top
            a, m, l_ = a_next, m_next, l_next
    o = o * (1.0 / den)
    even, odd = tl.split(tl.reshape(o, [HB, DB // ROPE, ROPE // 2, 2]))
    rot = tl.reshape(tl.join(even * cos + odd * sin, odd * cos - even * sin), [HB, DB])
    # stores of the 4 contiguous dims each thread computed: 16-byte bf16 stores (8 dims) took a shared-memory
    # layout conversion
    out = out_ptr + b * stride_ob + offs_h * stride_oh + tl.max_contiguous(offs_d, [1, 4])
    tl.store(out, rot.to(out_ptr.dtype.element_ty), mask=head_ok)


def combine_splits(
    acc: torch.Tensor, ml: torch.Tensor, sink: torch.Tensor, positions: torch.Tensor, inv_freq: torch.Tensor,
    out: torch.Tensor, *, nope: int, pdl: bool = False, tuning: CombineTuning | None = None,
) -> None:
    """acc [n,H,S,D] fp32 (or bf16: the warp-specialized kernel's), ml [n,H,S,2] fp32 (m, l in base 2), sink [H], positions [n], inv_freq
    [(D-nope)/2] -> out [n,H,D] (bf16, fp16 or fp32, written in place). pdl: launched as a programmatic
    dependent of the launch that wrote acc and ml (waits for it before reading them)."""
    if acc.dim() != 4:
        raise UsageError(f"acc has shape {tuple(acc.shape)}, expected [n, heads, splits, head_dim]")
    n, heads, splits, dim = acc.shape
    check_dtype("acc", acc, (torch.float32, torch.bfloat16))
    check_dtype("ml", ml, (torch.float32,))
    check_dtype("out", out, (torch.bfloat16, torch.float16, torch.float32))
    check_shape("ml", ml, (n, heads, splits, 2))
    check_shape("sink", sink, (heads,))
    check_shape("positions", positions, (n,))
    check_shape("out", out, (n, heads, dim))
    check_power_of_two("head_dim", dim)
    rope = dim - nope
    if not 0 <= nope < dim or rope & (rope - 1) or rope < 2 or inv_freq.numel() != rope // 2:
        raise UsageError(f"nope={nope} must leave a power-of-two rope part (>= 2) of head_dim {dim}, with "
                         f"(head_dim - nope)/2 inverse frequencies (got {inv_freq.numel()})")
    for name, x in (("acc", acc), ("ml", ml), ("out", out), ("inv_freq", inv_freq), ("sink", sink)):
        check_last_contiguous(name, x)
    if n == 0 or splits == 0 or ml.stride(0) % 2 or ml.stride(1) % 2 or ml.stride(2) % 2:
        raise UsageError("acc must hold at least one split, and ml's strides must be even (contiguous (m, l) pairs)")
    t = tuning or default_tuning(n, heads, splits, dim)
    if any(v <= 0 or v & (v - 1) for v in (t.heads, t.dims, t.splits, t.num_warps)) or t.dims % rope or dim % t.dims:
        raise UsageError(f"tuning {t}: powers of two only, dims a multiple of the rope part {rope} dividing "
                         f"head_dim {dim}")
    _combine_splits_kernel[(n, triton.cdiv(heads, t.heads), dim // t.dims)](
        acc, ml, sink, positions, inv_freq, out, heads, splits,
        acc.stride(0), acc.stride(1), acc.stride(2), ml.stride(0) // 2, ml.stride(1) // 2, ml.stride(2) // 2,
        out.stride(0), out.stride(1),
        NOPE=nope, ROPE=dim - nope, HB=t.heads, DB=t.dims, SC=t.splits, ONE_PASS=splits <= t.splits, PDL=pdl,
        num_warps=t.num_warps, **pdl_launch(pdl),
    )
