"""Sparse MQA attention with sink over window ∪ selected compressed entries, in Triton (decode and prefill).

One program takes BLOCK_H heads of one query and a split of its entries: every 512-d entry tile is read
once for all BLOCK_H heads (MQA: K = V = the entry), QK and PV on the tensor cores, online softmax in
base 2. The combine launch (split_combine.py) merges the splits, adds exp(sink) to the denominator only
(once, after all splits: research §2.5) and applies the inverse RoPE at the query position.
Caches are bf16 rows [.., D], fp8 rows [.., 584] uint8 (448 e4m3 + 64 bf16 + 7 ue8m0 scales, §4.1), or vLLM's
pages of fp8 rows (`page_rows`: data parts, then scale parts, per page; §4.4), dequantized to bf16 in registers;
per sequence, or pools the batch shares (a 2-D compressed cache; the window through `window_indices`). Prefill is the same kernel: every query is a row whose window reads the
sequence's kv by position, and the compressed cache is shared (batch stride 0). On Hopper, tunings with
ring > 0 run sparse_attention_hopper.py's Gluon kernel instead (bf16 rows; fp8 rows in its warp-specialized
form), and those with seesaw sparse_attention_seesaw.py's for bf16 rows, with the same partials and the same combine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from wholerepo.errors import UsageError
from wholerepo.kernels import sparse_attention_hopper as hopper
from wholerepo.kernels import sparse_attention_seesaw as seesaw
from wholerepo.kernels._launch import (
    check_dtype,
    check_last_contiguous,
    check_power_of_two,
    interpreted,
    pdl_launch,
    use_pdl,
)
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.fp8_layout import fp8_row_addresses
from wholerepo.kernels.split_combine import combine_splits

LOG2E = 1.4426950408889634
NO_WRAP = 1 << 62  # prefill windows index kv by position, no ring


@dataclass(frozen=True, slots=True)
class AttnTuning:
    """Block shapes; bench/kernels.py sweeps these on the H200 (README records what won)."""

    block_h: int = 32
    block_e: int = 32
    num_warps: int = 8
    num_stages: int = 2
    target_programs: int = 264  # 2 per SM on 132 SMs before splitting a query's entries further
    min_tiles: int = 4  # per split: each split writes a [block_h, D] fp32 partial, so keep splits long
    dv_split: int = 1  # programs per (head block, split), each accumulating D/dv_split output dims
    ring: int = 0  # > 0: on Hopper, the Gluon kernel with this many cp.async ring slots (bf16 rows; fp8 with ws)
    ws: bool = False  # with ring > 0: its warp-specialized form (a copier warpgroup feeds the two math ones; it
    # also takes vLLM's fp8 rows, dequantizing them into the same bf16 slots)
    seesaw: bool = False  # with ws and 2 slots of 64 entries or 4 of 32: bf16 rows take sparse_attention_seesaw.py's
    # (the math warpgroups on alternate tiles); fp8 rows stay with the warp-specialized one


# Block shapes the H200 sweep (bench/kernels.py --sweep) picks among; the GPU tests check every one.
# Only BLOCK_H=64 gets wgmma; at D=512 its [64, 512] fp32 accumulator spills 216 B/thread (bf16, ptxas),
# dv_split=2 halves the accumulator (4 B spilled) at the cost of doing QK twice. ring > 0 runs the Gluon kernel
# (sparse_attention_hopper.py) where it can (Hopper, bf16 rows; fp8 rows with ws), else this file's kernel with the
# same split.
GPU_CANDIDATES = (
    AttnTuning(64, 32, 8, 2, min_tiles=1),
    AttnTuning(64, 32, 8, 2, min_tiles=8),
    AttnTuning(64, 16, 8, 2, min_tiles=1),
    AttnTuning(64, 32, 8, 2, min_tiles=1, dv_split=2),
    AttnTuning(64, 16, 8, 2, min_tiles=1, dv_split=2),
    AttnTuning(64, 32, 8, 2, min_tiles=4, dv_split=2),
    AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=4),
    AttnTuning(64, 32, 8, 2, target_programs=132, min_tiles=4),
    AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=2, ring=2),
    AttnTuning(64, 32, 8, 2, target_programs=132, min_tiles=4, ring=3),
    AttnTuning(64, 32, 8, 2, min_tiles=2, ring=2),
    AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=2, ring=2, ws=True),
    AttnTuning(64, 32, 8, 2, min_tiles=2, ring=2, ws=True),
    AttnTuning(64, 64, 8, 2, min_tiles=1, ring=2, ws=True),
    AttnTuning(64, 32, 8, 2, min_tiles=1, ring=2, ws=True),
    AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=2, ring=2, ws=True, seesaw=True),
    AttnTuning(64, 32, 8, 2, target_programs=132, min_tiles=4, ring=4, ws=True, seesaw=True),
)
BUSY_HEAD_ROWS = 32 * 64  # query-heads in a launch from which long splits pay (batch 32 x 64 heads)


def default_tuning(fp8: bool, rows: int, heads: int) -> AttnTuning:
    """Per regime, from the H200 sweeps of 2026-11-29 (kernels/README.md, rounds 4-11), 1M c4a:
    busy (>= BUSY_HEAD_ROWS): 64-entry tiles, splits filling one wave; bf16 rows take the seesaw kernel (round 11:
    Pro B=32 30.6 µs, Flash B=32 16.6, against 32.8 and 17.3 for the warp-specialized one in the same run), vLLM's
    fp8 rows the warp-specialized kernel (dequantized in the slot by the copier: Pro B=32 50.8, Flash B=32 24.4,
    against 155.5 and 51.5 for this file's kernel; round 8);
    one head block in all (Flash B=1): the warp-specialized kernel, one tile a split (bf16 32-entry tiles 10.6
    against 11.3 for dv_split; fp8 64-entry tiles 12.3 against 14.1; round 8);
    otherwise (Pro B=1) the warp-specialized kernel: bf16 two 32-entry tiles a split (12.6-12.8; round 7), fp8
    one 64-entry tile a split (13.2 against 21.0; round 8)."""
    if rows * heads >= BUSY_HEAD_ROWS:
        return GPU_CANDIDATES[15]  # (GPU_CANDIDATES[11] with seesaw: the same launch for fp8 rows)
    if rows * heads <= GPU_CANDIDATES[0].block_h:
        return GPU_CANDIDATES[13] if fp8 else GPU_CANDIDATES[14]
    return GPU_CANDIDATES[13] if fp8 else GPU_CANDIDATES[12]


ACC_BYTES = 1 << 30  # prefill: launch rows in chunks so the fp32 split partials stay under 1 GiB


@triton.jit
def _load_tile(ptr, ptr16, rows, stride_r, valid, d0, FP8: tl.constexpr, NOPE: tl.constexpr,
               ROPE: tl.constexpr, SB: tl.constexpr, D: tl.constexpr, BLOCK_E: tl.constexpr,
               PAGE_ROWS: tl.constexpr, SCALE_W: tl.constexpr):
    """[BLOCK_E, D] bf16 tile of cache rows, dims d0..d0+D-1 (d0 a multiple of ROPE); fp8 rows are
    dequantized (scale = 2^(byte-127) per SB dims), read one row a stride apart or from vLLM pages."""
    if FP8:
        base, sbase = fp8_row_addresses(rows, stride_r, PAGE_ROWS, NOPE + 2 * ROPE, SCALE_W)
        # [BLOCK_E, D/ROPE, ROPE] view: chunk c holds dims c·ROPE..; one scale per (row, chunk), so the
        # scale tile is [BLOCK_E, D/ROPE] instead of a per-element gather (which spilled registers)
        nc: tl.constexpr = D // ROPE
        offs_c = d0 // ROPE + tl.arange(0, nc)
        offs_w = tl.arange(0, ROPE)
        is_nope = offs_c * ROPE < NOPE
        row3 = base[:, None, None]
        m8 = valid[:, None, None] & is_nope[None, :, None]
        x8 = tl.load(ptr + row3 + (offs_c[:, None] * ROPE + offs_w[None, :])[None], mask=m8, other=0)
        sc = tl.load(ptr + sbase[:, None] + (offs_c * ROPE // SB)[None, :],
                     mask=valid[:, None] & is_nope[None, :], other=0)
        scale = tl.exp2(sc.to(tl.float32) - 127.0)
        xn = x8.to(tl.float8e4nv, bitcast=True).to(tl.float32) * scale[:, :, None]
        mr = valid[:, None, None] & (~is_nope)[None, :, None]
        rope_off = (offs_c[:, None] * ROPE + offs_w[None, :] - NOPE)[None]
        xr = tl.load(ptr16 + (base // 2)[:, None, None] + (NOPE // 2) + rope_off, mask=mr, other=0.0)
        x = tl.reshape((xn + xr.to(tl.float32)).to(tl.bfloat16), [BLOCK_E, D])  # masks disjoint: one term is 0
    else:
        x = tl.load(ptr + rows[:, None] * stride_r + d0 + tl.arange(0, D)[None, :], mask=valid[:, None], other=0.0)
    return x


@triton.jit
def _sparse_attn_kernel(
    q_ptr, win_ptr, win16_ptr, comp_ptr, comp16_ptr, ind_ptr, pos_ptr, acc_ptr, ml_ptr,
    H, K, split_len, win_mod, scale_log2,
    stride_qb, stride_qh, stride_wb, stride_wr, stride_cb, stride_cr, stride_ib,
    stride_ab, stride_ah, stride_as, stride_mb, stride_mh, stride_ms,
    WIN: tl.constexpr, D: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_E: tl.constexpr,
    FP8: tl.constexpr, NOPE: tl.constexpr, ROPE: tl.constexpr, SB: tl.constexpr, DOT_F32: tl.constexpr,
    DV: tl.constexpr, PDL: tl.constexpr, PAGE_ROWS: tl.constexpr = 1, SCALE_W: tl.constexpr = 8,
    WIN_IDX: tl.constexpr = False,
):
    """DV < D: this program accumulates only output dims part·DV.. (QK still over all D, computed by every
    part alike), so its fp32 accumulator is [BLOCK_H, DV]: 64 instead of 128 registers/thread at DV = D/2.
    PDL: launched while the top-k launch still runs; q and the window tiles (inputs from before it) are read
    at once, the indices only after griddepcontrol.wait. WIN_IDX: the window's rows are pool rows named by the
    index list's first WIN entries (the compressed entries' indices follow them), not positions."""
    if PDL:
        gdc_launch_dependents()
    n_parts: tl.constexpr = D // DV
    n_hb = H // BLOCK_H
    pid = tl.program_id(0)
    part = pid % n_parts
    b = (pid // (n_parts * n_hb)).to(tl.int64)  # b·stride passes 2^31 at batch 32 x 262,144 entries
    h0 = ((pid // n_parts) % n_hb) * BLOCK_H
    split = tl.program_id(1)
    pos = tl.load(pos_ptr + b)
    offs_h = h0 + tl.arange(0, BLOCK_H)
    offs_d = tl.arange(0, D)
    q = tl.load(q_ptr + b * stride_qb + offs_h[:, None] * stride_qh + offs_d[None, :])
    if DOT_F32:
        q = q.to(tl.float32)
    win_b, win16_b = win_ptr + b * stride_wb, win16_ptr + b * (stride_wb // 2)
    comp_b, comp16_b = comp_ptr + b * stride_cb, comp16_ptr + b * (stride_cb // 2)
    m_i = tl.full([BLOCK_H], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_H], tl.float32)
    acc = tl.zeros([BLOCK_H, DV], tl.float32)
    lo = split * split_len
    hi = tl.minimum(lo + split_len, WIN + K)
    if PDL:  # noqa: SIM102 - PDL is a constexpr, hi a runtime value: Triton needs two ifs
        if hi > WIN or WIN_IDX:  # this split reads indices the previous launch writes
            gdc_wait()
    for e0 in range(lo, hi, BLOCK_E):
        offs_e = e0 + tl.arange(0, BLOCK_E)
        in_range = offs_e < hi
        if e0 < WIN:
            if WIN_IDX:
                idx = tl.load(ind_ptr + b * stride_ib + offs_e, mask=in_range, other=-1)
                valid = idx >= 0
                rows = tl.where(valid, idx, 0).to(tl.int64)
            else:
                p = pos - WIN + 1 + offs_e
                valid = in_range & (p >= 0)
                rows = tl.where(valid, p % win_mod, 0).to(tl.int64)  # both branches must yield one type
            kv = _load_tile(win_b, win16_b, rows, stride_wr, valid, 0, FP8, NOPE, ROPE, SB, D, BLOCK_E, PAGE_ROWS,
                            SCALE_W)
            if DV < D:
                kv_v = _load_tile(win_b, win16_b, rows, stride_wr, valid, part * DV, FP8, NOPE, ROPE, SB, DV,
                                  BLOCK_E, PAGE_ROWS, SCALE_W)
            else:
                kv_v = kv
        else:
            idx = tl.load(ind_ptr + b * stride_ib + offs_e - (0 if WIN_IDX else WIN), mask=in_range, other=-1)
            valid = idx >= 0
            rows = tl.where(valid, idx, 0).to(tl.int64)
            kv = _load_tile(comp_b, comp16_b, rows, stride_cr, valid, 0, FP8, NOPE, ROPE, SB, D, BLOCK_E, PAGE_ROWS,
                            SCALE_W)
            if DV < D:
                kv_v = _load_tile(comp_b, comp16_b, rows, stride_cr, valid, part * DV, FP8, NOPE, ROPE, SB, DV,
                                  BLOCK_E, PAGE_ROWS, SCALE_W)
            else:
                kv_v = kv
        if DOT_F32:
            kv = kv.to(tl.float32)
            kv_v = kv_v.to(tl.float32)
        s = tl.dot(q, tl.trans(kv)) * scale_log2
        s = tl.where(valid[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # all masked so far: keep exp2 finite
        alpha = tl.exp2(m_i - m_safe)
        p_ = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p_, axis=1)
        acc = acc * alpha[:, None] + tl.dot(p_.to(kv_v.dtype), kv_v)
        m_i = m_new
    offs_v = part * DV + tl.arange(0, DV)
    tl.store(acc_ptr + b * stride_ab + offs_h[:, None] * stride_ah + split * stride_as + offs_v[None, :], acc)
    ml = ml_ptr + b * stride_mb + offs_h * stride_mh + split * stride_ms
    first = (tl.zeros([BLOCK_H], tl.int32) + part) == 0  # every part computed the same m and l
    tl.store(ml, m_i, mask=first)
    tl.store(ml + 1, l_i, mask=first)


def _cache_args(cache: torch.Tensor, cfg: AttentionConfig, shared: bool, page_rows: int) -> tuple:
    """(ptr, bf16 view, batch stride, row or page stride, is_fp8) of a bf16 [.., D] cache, fp8 rows [.., row_bytes],
    or vLLM pages of fp8 rows [.., pages, page_bytes] (page_rows > 1)."""
    check_last_contiguous("cache", cache)
    fp8 = cache.dtype == torch.uint8
    if page_rows > 1:
        need = page_rows * cfg.fp8_row_bytes
        if not fp8 or cache.shape[-1] < need or cache.stride(-2) % 8:
            raise UsageError(f"page_rows={page_rows} needs fp8 pages of at least {need} uint8 bytes a multiple of 8 "
                             f"apart (got {cache.shape[-1]} {cache.dtype}): build them with reference.page_kv_rows")
    else:
        width = cfg.fp8_row_bytes if fp8 else cfg.head_dim
        if cache.shape[-1] != width:
            raise UsageError(f"cache rows have {cache.shape[-1]} elements, expected {width}: check the cache layout")
    view16 = cache.view(torch.bfloat16) if fp8 else cache
    return cache, view16, 0 if shared else cache.stride(0), cache.stride(-2), fp8


def _window_then_compressed(window_indices: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """The one list the kernels read: window rows then compressed rows. pool_indices writes them side by side in
    one buffer, taken as is; other lists are concatenated (one more launch)."""
    width, stride = window_indices.shape[1], indices.stride(0)
    adjacent = (window_indices.stride() == (stride, 1) and indices.stride(1) == 1
                and indices.data_ptr() == window_indices.data_ptr() + 4 * width)
    if adjacent:
        return window_indices.as_strided((indices.shape[0], width + indices.shape[1]), (stride, 1))
    return torch.cat([window_indices, indices], dim=1)


def split_plan(programs_per_split: int, entries: int, t: AttnTuning) -> tuple[int, int]:
    """(splits, entries per split) of a launch: as many splits as fill `target_programs` in whole waves
    (a partial wave costs a full program time at one program per SM: Pro B=32 with 3 splits = 1.45 waves took
    111-116 µs, 2 splits = 1 wave 87.8 µs, round 5), none shorter than `min_tiles` tiles."""
    tiles = triton.cdiv(entries, t.block_e)
    splits = max(1, min(triton.cdiv(tiles, t.min_tiles), t.target_programs // programs_per_split))
    split_len = triton.cdiv(tiles, splits) * t.block_e
    return triton.cdiv(entries, split_len), split_len


def _launch(q, win, comp, indices, positions, sink, inv_freq, cfg, *, window, win_mod, shared_win, shared_comp,
            page_rows, tuning, out, window_indices=None):
    rows, heads, dim = q.shape
    check_dtype("q", q, (torch.bfloat16, torch.float32))
    check_dtype("indices", indices, (torch.int32,))
    check_last_contiguous("q", q)
    check_power_of_two("head_dim", dim)
    check_power_of_two("page_rows", page_rows)
    wargs, cargs = _cache_args(win, cfg, shared_win, page_rows), _cache_args(comp, cfg, shared_comp, page_rows)
    n_comp = indices.shape[1]
    if page_rows > 1 and win_mod == window != cfg.window:  # a ring padded to whole pages would shift positions
        raise UsageError(f"a paged window ring must hold the window's {cfg.window} rows in whole pages, got "
                         f"{window // page_rows} pages of {page_rows}: use page_rows dividing {cfg.window}, or "
                         "window_indices for a window kept by position")
    if window_indices is not None:  # one list: the window's pool rows, then the compressed entries'
        check_dtype("window_indices", window_indices, (torch.int32,))
        if window_indices.shape != (rows, window):
            raise UsageError(f"window_indices must be [{rows}, {window}] (one row per query), got "
                             f"{list(window_indices.shape)}")
        indices = _window_then_compressed(window_indices, indices)
    if wargs[4] != cargs[4]:
        raise UsageError("window and compressed caches must share one layout (both bf16 or both fp8 rows)")
    t = tuning or default_tuning(wargs[4], rows, heads)
    block_h = min(t.block_h, heads)
    dv = dim // t.dv_split
    if heads % block_h or window % t.block_e or dim % t.dv_split or dv % cfg.rope_dim:
        raise UsageError(f"heads {heads} / window {window} / head_dim {dim} must be multiples of block_h "
                         f"{block_h} / block_e {t.block_e} / dv_split {t.dv_split} x rope_dim {cfg.rope_dim}")
    per_row = (heads // block_h) * t.dv_split
    splits, split_len = split_plan(rows * per_row, window + n_comp, t)
    if out is None:
        out = torch.empty_like(q)
    elif out.shape != q.shape or out.dtype != q.dtype or not out.is_contiguous():
        raise UsageError("out must be a contiguous tensor shaped and typed like q")
    window_mode = (hopper.WINDOW_INDEXED if window_indices is not None else
                   hopper.WINDOW_RING if win_mod != NO_WRAP else hopper.WINDOW_BY_POSITION)
    ring = t.ring if t.ring and t.dv_split == 1 and hopper.supported(
        q, (win, comp), heads, block_h, dim, window, win_mod, NO_WRAP, t.block_e, ws=t.ws, nope=cfg.nope_dim,
        scale_block=cfg.scale_block, page_rows=page_rows) else 0
    pdl = use_pdl(q) and not ring
    # the warp-specialized kernel writes bf16 partials through its ring, which must hold block_h rows
    bf16 = hopper.BF16_PARTIALS and ring and t.ws and block_h <= ring * t.block_e
    seesaw_kernel = bool(bf16 and t.seesaw and not wargs[4] and (t.block_e, ring) in seesaw.SLOT_SHAPES)
    step = max(1, ACC_BYTES // (heads * splits * dim * 4))
    for lo in range(0, rows, step):
        hi = min(lo + step, rows)
        n = hi - lo
        acc = torch.empty(n, heads, splits, dim, device=q.device, dtype=torch.bfloat16 if bf16 else torch.float32)
        ml = torch.empty(n, heads, splits, 2, device=q.device, dtype=torch.float32)
        wbase = wargs if shared_win else (win[lo:hi], *_cache_args(win[lo:hi], cfg, False, page_rows)[1:])
        cbase = cargs if shared_comp else (comp[lo:hi], *_cache_args(comp[lo:hi], cfg, False, page_rows)[1:])
        strides = (q.stride(0), q.stride(1), wargs[2], wargs[3], cargs[2], cargs[3], indices.stride(0),
                   acc.stride(0), acc.stride(1), acc.stride(2), ml.stride(0), ml.stride(1), ml.stride(2))
        gluon_args = (q[lo:hi], wbase[0], cbase[0], indices[lo:hi], positions[lo:hi], acc, ml, heads, n_comp,
                      split_len, win_mod, cfg.softmax_scale * LOG2E, *strides)
        if seesaw_kernel:
            seesaw.launch((n * per_row, splits), gluon_args, window=window, window_mode=window_mode, dim=dim,
                          block_e=t.block_e, ring=ring)
        elif ring:
            hopper.launch((n * per_row, splits), gluon_args, window=window, window_mode=window_mode, dim=dim,
                          block_e=t.block_e, num_buf=ring, ws=t.ws, fp8=wargs[4], nope=cfg.nope_dim,
                          page_rows=page_rows, align16=all(
                              c.stride(-2) % 16 == 0 and c.data_ptr() % 16 == 0 for c in (win, comp))
                          and (page_rows == 1 or cfg.fp8_data_bytes % 16 == 0))
        else:
            _sparse_attn_kernel[(n * per_row, splits)](
                q[lo:hi], wbase[0], wbase[1], cbase[0], cbase[1], indices[lo:hi], positions[lo:hi], acc, ml,
                heads, n_comp, split_len, win_mod, cfg.softmax_scale * LOG2E, *strides,
                WIN=window, WIN_IDX=window_mode == hopper.WINDOW_INDEXED, D=dim, BLOCK_H=block_h, BLOCK_E=t.block_e,
                FP8=wargs[4], NOPE=cfg.nope_dim, ROPE=cfg.rope_dim, SB=cfg.scale_block, DOT_F32=interpreted(q), DV=dv,
                PDL=pdl, PAGE_ROWS=page_rows, SCALE_W=cfg.fp8_scale_bytes, num_warps=t.num_warps,
                num_stages=t.num_stages, **pdl_launch(pdl),
            )
        combine_splits(acc, ml, sink, positions[lo:hi], inv_freq, out[lo:hi], nope=cfg.nope_dim, pdl=pdl)
    return out


def sparse_attention(
    q: torch.Tensor, window_kv: torch.Tensor, comp_kv: torch.Tensor, indices: torch.Tensor,
    positions: torch.Tensor, sink: torch.Tensor, inv_freq: torch.Tensor, cfg: AttentionConfig,
    *, tuning: AttnTuning | None = None, out: torch.Tensor | None = None, page_rows: int = 1,
    window_indices: torch.Tensor | None = None,
) -> torch.Tensor:
    """Decode: q [B,H,D]; window_kv [B,W,·] ring (slot p % W); comp_kv [B,N,·], or [N,·] one pool of rows the batch
    shares (indices then name pool rows: reference.kvcache_indices); indices [B,K]; -> [B,H,D].
    page_rows > 1: fp8 caches as vLLM pages [.., pages, page_bytes] of page_rows rows each (reference.page_kv_rows);
    a row index r is row r % page_rows of page r // page_rows, and the ring holds pages·page_rows rows.
    window_indices [B,W] int32: the window is instead a pool shared by the batch (window_kv [rows or pages, ·]) and
    these name the pool rows of positions p-W+1..p (W = cfg.window), -1 for none (vLLM's paged window:
    pool_indices.pool_indices maps both lists through their block tables in one launch)."""
    pooled = window_indices is not None
    width = cfg.window if pooled else window_kv.shape[1] * page_rows
    return _launch(q, window_kv, comp_kv, indices, positions, sink, inv_freq, cfg, window=width,
                   win_mod=NO_WRAP if pooled else width, shared_win=pooled, shared_comp=comp_kv.dim() == 2,
                   page_rows=page_rows, tuning=tuning, out=out, window_indices=window_indices)


def sparse_attention_prefill(
    q: torch.Tensor, kv: torch.Tensor, comp_kv: torch.Tensor, indices: torch.Tensor,
    positions: torch.Tensor, sink: torch.Tensor, inv_freq: torch.Tensor, cfg: AttentionConfig,
    *, tuning: AttnTuning | None = None, out: torch.Tensor | None = None, page_rows: int = 1,
    window_indices: torch.Tensor | None = None,
) -> torch.Tensor:
    """Prefill of one sequence: q [T,H,D] at `positions`; kv [L,·] by position; comp_kv [N,·]; -> [T,H,D].
    page_rows > 1: both as vLLM pages of fp8 rows, as in `sparse_attention`. window_indices [T, W]: kv is a pool
    (vLLM's window cache, by position in blocks under the sequence's block table) and these name the pool rows of
    each query's window (pool_indices with the table expanded over the T queries)."""
    return _launch(q, kv, comp_kv, indices, positions, sink, inv_freq, cfg, window=cfg.window, win_mod=NO_WRAP,
                   shared_win=True, shared_comp=True, page_rows=page_rows, tuning=tuning, out=out,
                   window_indices=window_indices)


def attention_flops(heads: int, dim: int, entries: int) -> float:
    """QK (2HD) + PV (2HD) per attended entry, V = K over all dims (research §5)."""
    return 4.0 * heads * dim * entries
