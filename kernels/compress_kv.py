"""The KV compressor as one Triton kernel: gated pooling, RMSNorm and RoPE, written in cache layout.

One program builds one entry j: a per-channel softmax over its c·m slots (c4a: A half of tokens
4j-4..4j-1 and B half of 4j..4j+3, 8 slots; c128a: 128 slots), online in chunks of SLOT_BLOCK so c128a's
128x512 fp32 slots never sit in registers at once; then RMSNorm over D and GPT-J RoPE at anchor j·m on
the last rope dims. Channels are handled as even/odd halves so each RoPE pair stays in one lane.
Output: bf16 rows [N, D], or fp8 rows [N, 584] uint8 (448 e4m3 + 64 bf16 + 7 ue8m0 scales + pad); or, with a
slot mapping, each entry written to its row of a cache the caller owns: bf16 rows, fp8 rows, or vLLM's pages of
fp8 rows (`page_rows`), as vLLM's insert does.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from wholerepo.errors import UsageError
from wholerepo.kernels._launch import check_last_contiguous, check_power_of_two, check_shape
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.fp8_layout import fp8_row_addresses
from wholerepo.kernels.rope_angle import rope_cos_sin


@triton.jit
def ceil_log2(x):
    """Exact ceil(log2(x)) for positive normal fp32, from the exponent and mantissa bits."""
    bits = x.to(tl.int32, bitcast=True)
    exponent = ((bits >> 23) & 0xFF) - 127
    return exponent + ((bits & 0x7FFFFF) != 0).to(tl.int32)


@triton.jit
def e4m3_scale_exponent(amax, LOWEST: tl.constexpr):
    """The power-of-two exponent that brings amax to at most 448 (e4m3's largest), ceil(log2(amax / 448)) in
    [LOWEST, 127]; amax below 2^-100 counts as 2^-100 (an all-zero block)."""
    return tl.minimum(tl.maximum(ceil_log2(tl.maximum(amax, 7.888609052210118e-31) / 448.0), LOWEST), 127)


@triton.jit
def e4m3_bytes(x):
    """e4m3 bytes of x, saturating at ±448: the magnitude rounded to nearest even in integer steps first, so the
    conversion only meets values it holds exactly: bit-identical to the GPU's rounding conversion, and right in
    Triton's CPU interpreter, whose conversion turns 126.2 into 64 when rounding carries into the exponent."""
    bits = x.to(tl.int32, bitcast=True)
    mag_bits = bits & 0x7FFFFFFF
    mag = mag_bits.to(tl.float32, bitcast=True)
    normal = ((mag_bits + 0x7FFFF + ((mag_bits >> 20) & 1)) & ~0xFFFFF).to(tl.float32, bitcast=True)  # 3 mantissa bits
    subnormal = ((mag * 512.0 + 12582912.0) - 12582912.0) / 512.0  # below 2^-6: multiples of 2^-9 (1.5·2^23 rounds)
    rounded = tl.minimum(tl.where(mag >= 0.015625, normal, subnormal), 448.0)
    signed = rounded.to(tl.int32, bitcast=True) | (bits & -2147483648)  # the sign as a bit: -0 stays -0
    return signed.to(tl.float32, bitcast=True).to(tl.float8e4nv).to(tl.uint8, bitcast=True)


@triton.jit
def _pool_update(kv_ptr, score_ptr, ape_ptr, tok, valid, col, stride_kt, stride_st, stride_at, m_old, den, a,
                 M: tl.constexpr):
    """Online per-channel softmax pooling over one chunk of slots [SLOT_BLOCK, channels]."""
    g = tl.load(score_ptr + tok[:, None] * stride_st + col, mask=valid[:, None], other=0.0).to(tl.float32)
    g += tl.load(ape_ptr + (tok % M)[:, None] * stride_at + col).to(tl.float32)
    g = tl.where(valid[:, None], g, float("-inf"))  # entry 0 has no previous chunk
    v = tl.load(kv_ptr + tok[:, None] * stride_kt + col, mask=valid[:, None], other=0.0).to(tl.float32)
    m_new = tl.maximum(m_old, tl.max(g, axis=0))
    alpha = tl.exp(m_old - m_new)
    p = tl.exp(g - m_new[None, :])
    return m_new, den * alpha + tl.sum(p, axis=0), a * alpha + tl.sum(p * v, axis=0)


@triton.jit
def pooled_entry(kv_ptr, score_ptr, ape_ptr, norm_ptr, freq_ptr, eps, j, stride_kt, stride_st, stride_at,
                 M: tl.constexpr, C: tl.constexpr, D: tl.constexpr, NOPE: tl.constexpr, SLOT_BLOCK: tl.constexpr):
    """Entry j after pooling, RMSNorm and RoPE, as (even dims, odd dims, pair index, is-rope mask) [D/2] fp32: shared
    by the main compressor and the indexer's (compress_index.py), which differ only in what they write."""
    half = tl.arange(0, D // 2)
    m_e = tl.full([D // 2], float("-inf"), tl.float32)
    m_o = tl.full([D // 2], float("-inf"), tl.float32)
    l_e = tl.zeros([D // 2], tl.float32)
    l_o = tl.zeros([D // 2], tl.float32)
    a_e = tl.zeros([D // 2], tl.float32)
    a_o = tl.zeros([D // 2], tl.float32)
    for s0 in range(0, C * M, SLOT_BLOCK):
        slot = s0 + tl.arange(0, SLOT_BLOCK)
        if C == 2:
            tok = M * j - M + slot  # slots < M: previous chunk's A half; slots >= M: this chunk's B half
            col0 = tl.where(slot >= M, D, 0)
        else:
            tok = M * j + slot
            col0 = slot * 0
        valid = tok >= 0
        tok = tl.where(valid, tok, 0)
        col = col0[:, None] + 2 * half[None, :]
        m_e, l_e, a_e = _pool_update(kv_ptr, score_ptr, ape_ptr, tok, valid, col, stride_kt, stride_st,
                                     stride_at, m_e, l_e, a_e, M)
        m_o, l_o, a_o = _pool_update(kv_ptr, score_ptr, ape_ptr, tok, valid, col + 1, stride_kt, stride_st,
                                     stride_at, m_o, l_o, a_o, M)
    ev = a_e / l_e
    od = a_o / l_o
    rstd = 1.0 / tl.sqrt((tl.sum(ev * ev, axis=0) + tl.sum(od * od, axis=0)) / D + eps)
    ev = ev * rstd * tl.load(norm_ptr + 2 * half).to(tl.float32)
    od = od * rstd * tl.load(norm_ptr + 2 * half + 1).to(tl.float32)
    is_rope = half >= NOPE // 2
    cos, sin = rope_cos_sin((j * M).to(tl.float32), tl.load(freq_ptr + (half - NOPE // 2), mask=is_rope, other=0.0))
    return ev * cos - od * sin, ev * sin + od * cos, half, is_rope


@triton.jit
def _compress_kv_kernel(
    kv_ptr, score_ptr, ape_ptr, norm_ptr, freq_ptr, out_ptr, out16_ptr, slot_ptr, eps,
    stride_kt, stride_st, stride_at, stride_o,
    M: tl.constexpr, C: tl.constexpr, D: tl.constexpr, NOPE: tl.constexpr, ROPE: tl.constexpr,
    SB: tl.constexpr, NS: tl.constexpr, RB: tl.constexpr, SLOT_BLOCK: tl.constexpr, FP8: tl.constexpr,
    SLOTS: tl.constexpr, PAGE_ROWS: tl.constexpr,
):
    """SLOTS: entry j goes to row slot[j] of the output (-1: not written); PAGE_ROWS > 1: the fp8 output is vLLM's
    pages of that many rows, a stride_o apart."""
    j = tl.program_id(0)
    dest = tl.load(slot_ptr + j).to(tl.int64) if SLOTS else j.to(tl.int64)
    if dest < 0:
        return
    ev, od, half, is_rope = pooled_entry(kv_ptr, score_ptr, ape_ptr, norm_ptr, freq_ptr, eps, j, stride_kt, stride_st,
                                         stride_at, M, C, D, NOPE, SLOT_BLOCK)
    if FP8:
        scale_w: tl.constexpr = RB - NOPE - 2 * ROPE  # a row's scale bytes and pad
        data, scales = fp8_row_addresses(dest, stride_o, PAGE_ROWS, NOPE + 2 * ROPE, scale_w)
        row = out_ptr + data
        blk = (2 * half) // SB  # scale block of each pair
        blocks = tl.arange(0, 16)
        in_blk = (blk[None, :] == blocks[:, None]) & (~is_rope)[None, :]
        amax = tl.max(tl.where(in_blk, tl.maximum(tl.abs(ev), tl.abs(od))[None, :], 0.0), axis=1)
        expo = e4m3_scale_exponent(amax, -127)  # ue8m0 bytes: exponent + 127
        pair_expo = tl.sum(tl.where(in_blk, expo[:, None], 0), axis=0)
        inv_scale = tl.exp2(-pair_expo.to(tl.float32))
        q_e = e4m3_bytes(ev * inv_scale)
        q_o = e4m3_bytes(od * inv_scale)
        nope = ~is_rope
        tl.store(row + 2 * half, q_e, mask=nope)
        tl.store(row + 2 * half + 1, q_o, mask=nope)
        row16 = out16_ptr + data // 2 + NOPE // 2 - NOPE
        tl.store(row16 + 2 * half, ev.to(tl.bfloat16), mask=is_rope)
        tl.store(row16 + 2 * half + 1, od.to(tl.bfloat16), mask=is_rope)
        tl.store(out_ptr + scales + blocks, tl.where(blocks < NS, expo + 127, 0).to(tl.uint8),
                 mask=blocks < scale_w)
    else:
        row = out_ptr + dest * stride_o
        tl.store(row + 2 * half, ev.to(out_ptr.dtype.element_ty))
        tl.store(row + 2 * half + 1, od.to(out_ptr.dtype.element_ty))


def compress_kv(
    kv: torch.Tensor, score: torch.Tensor, ape: torch.Tensor, norm_weight: torch.Tensor,
    inv_freq: torch.Tensor, cfg: AttentionConfig, *, fp8: bool = False, out: torch.Tensor | None = None,
    slot_mapping: torch.Tensor | None = None, page_rows: int = 1,
) -> torch.Tensor:
    """[T//m] entries from kv/score [T, c·D]: bf16 [N, D] rows, or fp8 cache rows [N, 584] uint8.
    slot_mapping [N] (int32/int64, -1 = skip): entry j goes to row slot_mapping[j] of `out`, a cache the caller
    keeps (bf16 [rows, D], fp8 rows [rows, 584], or with page_rows > 1 vLLM's fp8 pages [pages, page_bytes];
    row r of a page cache is slot r % page_rows of page r // page_rows); other rows are left as they are. Outside
    CUDA-graph capture the largest slot is read on the host to refuse a slot past the cache (one sync: 646 -> 750
    µs eager at T=128K; graph replays 642, the plain write's 646: round 9, call 6)."""
    m, c, d = cfg.ratio, cfg.overlap, cfg.head_dim
    n = check_compressor_inputs(kv, score, ape, norm_weight, inv_freq, cfg)
    if fp8 and cfg.n_scales > 16:
        raise UsageError(f"{cfg.n_scales} scale blocks per row; the fp8 writer handles at most 16")
    shape, dtype = ((n, cfg.fp8_row_bytes), torch.uint8) if fp8 else ((n, d), torch.bfloat16)
    if slot_mapping is not None:
        _check_slot_cache(out, slot_mapping, n, dtype, cfg, page_rows)
    elif page_rows != 1:
        raise UsageError("page_rows needs a slot_mapping: pages are a cache the caller owns")
    elif out is None:
        out = torch.empty(shape, device=kv.device, dtype=dtype)
    elif tuple(out.shape) != shape or out.dtype != dtype or not out.is_contiguous():
        raise UsageError(f"out must be a contiguous {dtype} tensor of shape {shape}")
    assert out is not None
    out16 = out.view(torch.bfloat16) if fp8 else out
    if n == 0:
        return out
    slot_block = min(c * m, 16)  # c128a: 8 chunks of 16 slots x 512 channels fp32 in flight
    _compress_kv_kernel[(n,)](
        kv, score, ape, norm_weight, inv_freq, out, out16, out if slot_mapping is None else slot_mapping, cfg.rms_eps,
        kv.stride(0), score.stride(0), ape.stride(0), out.stride(0),
        M=m, C=c, D=d, NOPE=cfg.nope_dim, ROPE=cfg.rope_dim, SB=cfg.scale_block, NS=cfg.n_scales,
        RB=cfg.fp8_row_bytes, SLOT_BLOCK=slot_block, FP8=fp8, SLOTS=slot_mapping is not None, PAGE_ROWS=page_rows,
        num_warps=4,
    )
    return out


def _check_slot_cache(out: torch.Tensor | None, slots: torch.Tensor, n: int, dtype: torch.dtype,
                      cfg: AttentionConfig, page_rows: int) -> None:
    """The cache a slot mapping writes into: the caller's, of the right kind, every slot inside it."""
    if out is None:
        raise UsageError("slot_mapping writes into a cache you pass as out=: allocate it first")
    check_slot_mapping(slots, n)
    check_power_of_two("page_rows", page_rows)
    if dtype == torch.bfloat16 or page_rows == 1:
        width = cfg.fp8_row_bytes if dtype == torch.uint8 else cfg.head_dim
        ok = out.dim() == 2 and out.shape[1] == width and out.dtype == dtype and out.stride(1) == 1
        rows = out.shape[0] if out.dim() == 2 else 0
    else:
        ok = (out.dim() == 2 and out.dtype == torch.uint8 and out.shape[1] >= page_rows * cfg.fp8_row_bytes
              and out.stride(1) == 1)
        rows = out.shape[0] * page_rows if out.dim() == 2 else 0
    if not ok:
        raise UsageError(f"out must be the cache the slots index: {dtype} rows, or fp8 pages of {page_rows} rows "
                         "(reference.page_kv_rows)")
    check_slots_inside(slots, rows)


def check_compressor_inputs(kv: torch.Tensor, score: torch.Tensor, ape: torch.Tensor, norm_weight: torch.Tensor,
                            inv_freq: torch.Tensor, cfg: AttentionConfig) -> int:
    """Shapes a compressor of `cfg` takes (kv/score [T, c·D], ape [m, c·D], norm [D], rope table); the entry count."""
    m, c, d = cfg.ratio, cfg.overlap, cfg.head_dim
    tokens = kv.shape[0]
    for name, t in (("kv", kv), ("score", score)):
        check_shape(name, t, (tokens, c * d))
        check_last_contiguous(name, t)
    check_shape("ape", ape, (m, c * d))
    check_shape("norm_weight", norm_weight, (d,))
    check_shape("inv_freq", inv_freq, (cfg.rope_dim // 2,))
    check_power_of_two("head_dim", d)
    return tokens // m


def check_slot_mapping(slots: torch.Tensor, n: int) -> None:
    if tuple(slots.shape) != (n,) or slots.dtype not in (torch.int32, torch.int64):
        raise UsageError(f"slot_mapping must be [{n}] int32/int64 (one cache row per entry, -1 to skip)")


def check_slots_inside(slots: torch.Tensor, rows: int) -> None:
    """Refuse a slot past the cache with one host read of the largest slot; skipped while a CUDA graph is captured
    (the insert runs in vLLM's graphs, where a host read is not allowed)."""
    capturing = slots.is_cuda and torch.cuda.is_current_stream_capturing()
    if slots.numel() and not capturing and int(slots.max()) >= rows:
        raise UsageError(f"slot_mapping names row {int(slots.max())} of a cache with {rows} rows")
