"""Sparse MQA attention for Hopper in Gluon: gathered entry tiles stream into a shared-memory ring by cp.async.

Why a second kernel: the Triton one (sparse_attention.py) moves every gathered tile global -> registers ->
shared and never overlaps that with its dots (ncu, round 5: one program per SM, IPC 0.93, 77% of cycles with
no eligible warp), and Triton's pipeliner, when it did use cp.async, issued the next tile's copy only after
this tile's QK and softmax. Gluon lets the schedule be written down: the copy of tile t+NUM_BUF-1 is issued
before tile t's dots, so NUM_BUF-1 tiles are in flight while the tensor cores work.

Two kernels: `_sparse_attn_async_kernel`, where the math warps also issue the copies, and
`_sparse_attn_ws_kernel` (the default for busy bf16 launches, round 7), where a copier warpgroup of its own
(`gl.warp_specialize`) feeds the ring through mbarriers. Same inputs and the same fp32 split partials as
`_sparse_attn_kernel`, so the same combine launch (split_combine.py) finishes the job (sink, split merge,
inverse RoPE). Scope: bf16 cache rows, 64 heads per program (wgmma's M), D = 512, 8 math warps: S = Q·Kᵀ is
split by entry columns and the [64, 512] fp32 accumulator by output columns across the two warpgroups (128
registers each), Q stays in shared memory for the whole program.
Tried in round 7 and reverted (bench/results/kernels-h200-2026-11-29-round7.md): merging the splits inside
the launch (slower than the combine launch), the partials stored through shared memory, FlashMLA's seesaw
schedule (commit 4736bca; spills, hand-offs).
"""

from __future__ import annotations

import torch
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    warpgroup_mma,
    warpgroup_mma_wait,
)

# Triton 3.6 (the H200 image) and 3.9 (pinned here) name two builtins differently
_async_load = getattr(async_copy, "async_load", None) or async_copy.async_copy_global_to_shared
_cta_barrier = getattr(gl, "thread_barrier", None) or gl.barrier  # likewise thread_barrier -> barrier

BLOCK_H = 64  # wgmma's M: one warpgroup row block of heads
# Stages a timing probe leaves out (bench/attention_sweep.py --probe-stages; the output is then wrong): bits
# SKIP_COPY (loop refills), SKIP_QK, SKIP_SOFTMAX (P = S, no rescale), SKIP_PV. 0 in every real launch.
SKIP_COPY, SKIP_QK, SKIP_SOFTMAX, SKIP_PV = gl.constexpr(1), gl.constexpr(2), gl.constexpr(4), gl.constexpr(8)
PROBE_SKIP = 0
NUM_WARPS = 8  # two warpgroups, each owning half of S's entry columns and half of the output dims
PRODUCER_WARPS = gl.constexpr(4)  # the warp-specialized kernel's copier: one warpgroup (registers move by warpgroup)
PRODUCER_REGS = gl.constexpr(40)
FP8_PRODUCER_REGS = gl.constexpr(64)  # the fp8 copier also dequantizes (3.6 spills it at 56; the math warps fit 216)
WS_MAXNREG = 168  # 65,536 registers over 12 warps at launch; the math warpgroups then take what the copier frees
# fp8 rows (vLLM's 584-byte layout): the copier stages raw rows FP8_STAGE_ROWS at a time in FP8_STAGES buffers
# (a power of two that fits beside Q, the two 64 KB slots and P in 227 KB) and dequantizes them into the bf16 slot
FP8_STAGE_ROWS = 8
FP8_STAGES = 4


@gluon.jit
def _entry_live(e0, hi, pos, ind_b, WIN: gl.constexpr, BLOCK_E: gl.constexpr, layout: gl.constexpr):
    """(is_window, index, live) of entries e0..e0+BLOCK_E-1: the first WIN are the window by position,
    the rest the selected compressed entries (index -1 = none)."""
    offs_e = e0 + gl.arange(0, BLOCK_E, layout=layout)
    is_win = offs_e < WIN
    idx = gl.load(ind_b + (offs_e - WIN), mask=(offs_e < hi) & (offs_e >= WIN), other=-1)
    live = gl.where(is_win, (pos - WIN + 1 + offs_e >= 0) & (offs_e < hi), idx >= 0)
    return is_win, idx, live


@gluon.jit
def _entry_rows(e0, hi, pos, ind_b, WIN: gl.constexpr, WRAP: gl.constexpr, BLOCK_E: gl.constexpr,
                layout: gl.constexpr):
    """(is_window, cache row, live) of the entries; window rows are slot p % WIN of a ring (WRAP: decode,
    WIN a power of two, so no 64-bit division) or position p of the sequence's kv (prefill)."""
    is_win, idx, live = _entry_live(e0, hi, pos, ind_b, WIN, BLOCK_E, layout)
    p = gl.maximum(pos - WIN + 1 + e0 + gl.arange(0, BLOCK_E, layout=layout), 0)
    if WRAP:
        p = p % WIN
    row = gl.where(live, gl.where(is_win, p, idx.to(gl.int64)), 0)
    return is_win, row, live


@gluon.jit
def _issue_tile(ring, slot, win_b, comp_b, is_win, row, valid, stride_wr, stride_cr, D: gl.constexpr,
                layout: gl.constexpr):
    """Start the copy of one tile's rows (from `_entry_rows`) into ring slot `slot`; masked entries are
    zero-filled (cp.async with src-size 0), so the PV product never meets stale or uninitialised bits."""
    base = gl.where(is_win, win_b + row * stride_wr, comp_b + row * stride_cr)
    offs_d = gl.arange(0, D, layout=gl.SliceLayout(0, layout))
    ptrs = base[:, None] + offs_d[None, :]
    ptrs = gl.max_contiguous(gl.multiple_of(ptrs, [1, 16]), [1, 8])  # rows 16 B aligned (`supported` checks)
    _async_load(ring.index(slot), ptrs, mask=valid[:, None])


@gluon.jit
def _refill(ring, slot, win_b, comp_b, nxt_win, nxt_row, nxt_valid, e_next, hi, pos, ind_b, stride_wr, stride_cr,
            WIN: gl.constexpr, WRAP: gl.constexpr, D: gl.constexpr, BLOCK_E: gl.constexpr,
            copy_layout: gl.constexpr, SKIP: gl.constexpr):
    """Copy the prepared tile into `slot` once every warp is done with it, then load the rows of the tile
    after it (one iteration ahead: that index load is an L2/HBM round trip)."""
    _cta_barrier()
    if not SKIP & SKIP_COPY:
        _issue_tile(ring, slot, win_b, comp_b, nxt_win, nxt_row, nxt_valid, stride_wr, stride_cr, D, copy_layout)
    async_copy.commit_group()
    return _entry_rows(e_next, hi, pos, ind_b, WIN, WRAP, BLOCK_E, gl.SliceLayout(1, copy_layout))


@gluon.jit
def _wait_tile(pending: gl.constexpr):
    """Wait until at most `pending` copy groups are in flight, then make every thread's copies visible to
    wgmma (async proxy) and to every warp."""
    async_copy.wait_group(pending)
    fence_async_shared()
    _cta_barrier()


@gluon.jit
def _online_softmax(s, live, m_i, l_rows, scale_log2, o_layout: gl.constexpr):
    """Base-2 online softmax of one tile: P, the running max, the denominator's per-element partial sums
    (summed over the entries once, after the loop: a row sum here crosses the two warpgroups through shared
    memory and a barrier every tile), and the factor that rescales the accumulator to the new max (applied
    by the caller: ptxas serializes every wgmma if the accumulator is written while any wgmma is in flight)."""
    s = gl.where(live[None, :], s * scale_log2, float("-inf"))
    m_new = gl.maximum(m_i, gl.max(s, axis=1))
    m_safe = gl.where(m_new == float("-inf"), 0.0, m_new)  # all masked so far: keep exp2 finite
    alpha = gl.exp2(m_i - m_safe)
    p = gl.exp2(s - m_safe[:, None])
    l_rows = l_rows * alpha[:, None] + p
    return p, m_new, l_rows, gl.convert_layout(alpha, gl.SliceLayout(1, o_layout))[:, None]


@gluon.jit
def _program_work(H, K, split_len, pos_ptr, WIN: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr):
    """What a program of grid (query x head block, split) works on: (query b as int64, first head, split,
    query position, entries lo..hi of window + selected, tile count)."""
    n_hb = H // BLOCK_H
    pid = gl.program_id(0)
    b = (pid // n_hb).to(gl.int64)  # b·stride passes 2^31 at batch 32 x 262,144 entries
    split = gl.program_id(1)
    lo = split * split_len
    hi = gl.minimum(lo + split_len, WIN + K)
    return b, (pid % n_hb) * BLOCK_H, split, gl.load(pos_ptr + b), lo, hi, gl.cdiv(hi - lo, BLOCK_E)


@gluon.jit
def _tile_dots(q_smem, kv, p_smem, s_init, live, m_i, l_rows, acc, scale_log2, t, o_layout: gl.constexpr,
               SKIP: gl.constexpr):
    """One landed tile: S = Q·Kᵀ, the online softmax, P through shared memory (each warpgroup writes its
    columns, one barrier: inside a warp-specialized partition it syncs that partition only), acc += P·V.
    The SKIP bits leave stages out for timing probes."""
    if SKIP & SKIP_QK:
        s = s_init + t
    else:
        s = warpgroup_mma(q_smem, kv.permute((1, 0)), s_init, use_acc=False, is_async=True)
        s = warpgroup_mma_wait(num_outstanding=0, deps=(s,))
    if SKIP & SKIP_SOFTMAX:
        p = s
    else:
        p, m_i, l_rows, alpha = _online_softmax(s, live, m_i, l_rows, scale_log2, o_layout)
        acc = acc * alpha
    p_smem.store(p.to(gl.bfloat16))
    fence_async_shared()
    _cta_barrier()
    if not SKIP & SKIP_PV:
        acc = warpgroup_mma(p_smem, kv, acc, is_async=True)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
    return m_i, l_rows, acc


@gluon.jit
def _sparse_attn_async_kernel(
    q_ptr, win_ptr, comp_ptr, ind_ptr, pos_ptr, acc_ptr, ml_ptr,
    H, K, split_len, win_mod, scale_log2,
    stride_qb, stride_qh, stride_wb, stride_wr, stride_cb, stride_cr, stride_ib,
    stride_ab, stride_ah, stride_as, stride_mb, stride_mh, stride_ms,
    WIN: gl.constexpr, WRAP: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
    NUM_BUF: gl.constexpr, SKIP: gl.constexpr,
):
    """One program: BLOCK_H heads of one query over one split of its entries; writes the split's unnormalised
    [BLOCK_H, D] accumulator and (running max, denominator) in base 2, like `_sparse_attn_kernel`.
    Each tile's QK, softmax and PV run in turn while the next NUM_BUF-1 tiles copy. (Issuing tile t+1's QK
    before tile t's softmax, FA3's intra-warpgroup overlap, needs a third 64 KB slot that does not fit beside
    Q; at 32-entry tiles it measured no faster: round 6, call 4.)
    `win_mod` is unused (kept so both kernels take one argument list): WRAP says whether it equals WIN."""
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                       instr_shape=[16, BLOCK_E // 2, 16])
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                       instr_shape=[16, D // 2, 16])
    # 16 B per thread, a warp covers 4 rows x 64 dims: each thread's copies come from few rows, so few
    # row addresses to compute (8 rows per thread with whole-row warps cost ~200 instructions a tile)
    copy_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [8, 1], [1, 0])
    tile_layout: gl.constexpr = gl.NVMMASharedLayout(swizzle_byte_width=128, element_bitwidth=16, rank=2)
    live_layout: gl.constexpr = gl.SliceLayout(0, s_layout)

    b, h0, split, pos, lo, hi, n_tiles = _program_work(H, K, split_len, pos_ptr, WIN, BLOCK_H, BLOCK_E)
    win_b = win_ptr + b * stride_wb
    comp_b = comp_ptr + b * stride_cb
    ind_b = ind_ptr + b * stride_ib

    ring = gl.allocate_shared_memory(gl.bfloat16, [NUM_BUF, BLOCK_E, D], tile_layout)
    rows_layout: gl.constexpr = gl.SliceLayout(1, copy_layout)
    for i in gl.static_range(NUM_BUF - 1):
        is_win, row, valid = _entry_rows(lo + i * BLOCK_E, hi, pos, ind_b, WIN, WRAP, BLOCK_E, rows_layout)
        _issue_tile(ring, i, win_b, comp_b, is_win, row, valid, stride_wr, stride_cr, D, copy_layout)
        async_copy.commit_group()
    nxt_win, nxt_row, nxt_valid = _entry_rows(lo + (NUM_BUF - 1) * BLOCK_E, hi, pos, ind_b, WIN, WRAP, BLOCK_E,
                                              rows_layout)

    offs_qh = h0 + gl.arange(0, BLOCK_H, layout=gl.SliceLayout(1, copy_layout))
    offs_qd = gl.arange(0, D, layout=gl.SliceLayout(0, copy_layout))
    q = gl.load(q_ptr + b * stride_qb + offs_qh[:, None] * stride_qh + offs_qd[None, :])
    q_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_H, D], tile_layout, q)

    m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=gl.SliceLayout(1, s_layout))
    l_rows = gl.zeros([BLOCK_H, BLOCK_E], gl.float32, layout=s_layout)
    # P goes to the PV product through shared memory, written in place by each warpgroup (one barrier); as a
    # register operand each warpgroup needs the other's half, a layout change with three barriers a tile
    p_layout: gl.constexpr = gl.NVMMASharedLayout(swizzle_byte_width=min(128, 2 * BLOCK_E), element_bitwidth=16,
                                                  rank=2)
    p_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_H, BLOCK_E], p_layout)
    acc = gl.zeros([BLOCK_H, D], gl.float32, layout=o_layout)
    s_init = gl.zeros([BLOCK_H, BLOCK_E], gl.float32, layout=s_layout)
    for t in range(n_tiles):
        _, _, live = _entry_live(lo + t * BLOCK_E, hi, pos, ind_b, WIN, BLOCK_E, live_layout)  # ahead of its use
        nxt_win, nxt_row, nxt_valid = _refill(
            ring, (t + NUM_BUF - 1) % NUM_BUF, win_b, comp_b, nxt_win, nxt_row, nxt_valid,
            lo + (t + NUM_BUF) * BLOCK_E, hi, pos, ind_b, stride_wr, stride_cr, WIN, WRAP, D, BLOCK_E, copy_layout,
            SKIP)
        _wait_tile(NUM_BUF - 1)  # tile t
        m_i, l_rows, acc = _tile_dots(q_smem, ring.index(t % NUM_BUF), p_smem, s_init, live, m_i, l_rows, acc,
                                      scale_log2, t, o_layout, SKIP)
    async_copy.wait_group(0)  # the zero-filled copies issued past the last tile
    _store_partials(acc, m_i, l_rows, acc_ptr + b * stride_ab + split * stride_as, ml_ptr + b * stride_mb + split * stride_ms,
                    h0, stride_ah, stride_mh, BLOCK_H, D)


@gluon.jit
def _store_partials(acc, m_i, l_rows, acc_b, ml_b, h0, stride_ah, stride_mh, BLOCK_H: gl.constexpr, D: gl.constexpr):
    """This split's unnormalised accumulator and (running max, denominator), as the combine reads them."""
    offs_h = h0 + gl.arange(0, BLOCK_H, layout=gl.SliceLayout(1, acc.type.layout))
    offs_v = gl.arange(0, D, layout=gl.SliceLayout(0, acc.type.layout))
    gl.store(acc_b + offs_h[:, None] * stride_ah + offs_v[None, :], acc)
    ml = ml_b + (h0 + gl.arange(0, BLOCK_H, layout=gl.SliceLayout(1, l_rows.type.layout))) * stride_mh
    gl.store(ml, m_i)
    gl.store(ml + 1, gl.sum(l_rows, axis=1))


@gluon.jit
def _ws_copier(ring, q_smem, ready, free, q_ready, q_b, win_b, comp_b, ind_b, pos, lo, hi, n_tiles, stride_qh,
               stride_wr, stride_cr, WIN: gl.constexpr, WRAP: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr,
               BLOCK_E: gl.constexpr, NUM_BUF: gl.constexpr, SKIP: gl.constexpr):
    """Copy partition (one warpgroup): Q, then each tile of the split into the ring as soon as the math warps
    free its slot. Every thread's copies arrive on the slot's `ready` barrier when they land (cp.async's
    noinc arrive: the barrier counts the partition's threads), so no copy waits on another."""
    copy_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [gl.num_warps(), 1], [1, 0])
    rows_layout: gl.constexpr = gl.SliceLayout(1, copy_layout)
    offs_h = gl.arange(0, BLOCK_H, layout=rows_layout)
    offs_d = gl.arange(0, D, layout=gl.SliceLayout(0, copy_layout))
    _async_load(q_smem, q_b + offs_h[:, None] * stride_qh + offs_d[None, :])
    async_copy.mbarrier_arrive(q_ready, increment_count=False)
    for t in range(n_tiles):
        slot = t % NUM_BUF
        is_win, row, valid = _entry_rows(lo + t * BLOCK_E, hi, pos, ind_b, WIN, WRAP, BLOCK_E, rows_layout)
        mbarrier.wait(free.index(slot), ((t // NUM_BUF) & 1) ^ 1)  # a fresh barrier passes phase 1 at once
        if not SKIP & SKIP_COPY:
            _issue_tile(ring, slot, win_b, comp_b, is_win, row, valid, stride_wr, stride_cr, D, copy_layout)
        async_copy.mbarrier_arrive(ready.index(slot), increment_count=False)


@gluon.jit
def _tile_row_ids(e0, hi, pos, ind_b, WIN: gl.constexpr, WRAP: gl.constexpr, BLOCK_E: gl.constexpr,
                  layout: gl.constexpr):
    """Cache rows of one tile as int32, -1 where masked (a tile is all window or all selected entries:
    `supported` asks for WIN % BLOCK_E == 0 and splits start on tile boundaries)."""
    _, row, live = _entry_rows(e0, hi, pos, ind_b, WIN, WRAP, BLOCK_E, layout)
    return gl.where(live, row, -1).to(gl.int32)


@gluon.jit
def _issue_fp8_rows(nope_st, rope_st, scale_st, ids, e0, win_b, comp_b, stride_wr, stride_cr,
                    WIN: gl.constexpr, NOPE: gl.constexpr, ROPE: gl.constexpr, R: gl.constexpr):
    """Start the copies of R raw fp8 rows (row ids in shared memory `ids`, -1 = masked, zero-filled; read in
    each copy's layout, no layout conversion) into one stage: the e4m3
    nope bytes, the bf16 rope dims, the ue8m0 scale bytes. Rows are 584 bytes, so 8-byte copies."""
    nope_l: gl.constexpr = gl.BlockedLayout([1, 1, 8], [1, 4, 8], [gl.num_warps(), 1, 1], [2, 1, 0])
    rope_l: gl.constexpr = gl.BlockedLayout([1, 4], [2, 16], [gl.num_warps(), 1], [1, 0])
    scale_l: gl.constexpr = gl.BlockedLayout([1, 8], [32, 1], [gl.num_warps(), 1], [1, 0])
    base = gl.where(e0 < WIN, win_b, comp_b)
    stride = gl.where(e0 < WIN, stride_wr, stride_cr).to(gl.int64)

    r = ids.load(gl.SliceLayout(1, gl.SliceLayout(2, nope_l)))
    blk = gl.arange(0, 8, layout=gl.SliceLayout(0, gl.SliceLayout(2, nope_l)))
    dims = gl.arange(0, 64, layout=gl.SliceLayout(0, gl.SliceLayout(1, nope_l)))
    offs = (r.to(gl.int64) * stride)[:, None, None] + (blk * 64)[None, :, None] + dims[None, None, :]
    ptrs = gl.max_contiguous(gl.multiple_of(base + offs, [1, 1, 8]), [1, 1, 8])
    _async_load(nope_st, ptrs, mask=(r >= 0)[:, None, None] & (blk * 64 < NOPE)[None, :, None])  # block 7: rope's place

    r = ids.load(gl.SliceLayout(1, rope_l))
    cols = gl.arange(0, ROPE, layout=gl.SliceLayout(0, rope_l))
    rope_b = (base + NOPE).to(gl.pointer_type(gl.bfloat16), bitcast=True)
    ptrs = rope_b + (r.to(gl.int64) * (stride // 2))[:, None] + cols[None, :]
    ptrs = gl.max_contiguous(gl.multiple_of(ptrs, [1, 8]), [1, 4])  # 8-byte aligned (bytes), 4 contiguous dims
    _async_load(rope_st, ptrs, mask=(r >= 0)[:, None])

    r = ids.load(gl.SliceLayout(1, scale_l))
    cols = gl.arange(0, 8, layout=gl.SliceLayout(0, scale_l))
    ptrs = base + NOPE + 2 * ROPE + r.to(gl.int64)[:, None] * stride + cols[None, :]
    ptrs = gl.max_contiguous(gl.multiple_of(ptrs, [1, 8]), [1, 8])
    _async_load(scale_st, ptrs, mask=(r >= 0)[:, None])


@gluon.jit
def _dequant_fp8_rows(dst, nope_st, rope_st, scale_st, NOPE: gl.constexpr, R: gl.constexpr):
    """One landed stage into R rows of a bf16 slot, as [R, 8 blocks, 64 dims]: blocks 0-6 are e4m3 bytes times
    2^(scale - 127), built from the scale's exponent bits (exact in bf16: 3 mantissa bits fit in 7), block 7
    the bf16 rope dims. One store per stage: Triton 3.6 (the H200's) puts a partition barrier between any two
    stores into the slot, so seven 64-dim stores cost seven barriers."""
    layout: gl.constexpr = gl.BlockedLayout([1, 8, 4], [2, 1, 16], [gl.num_warps(), 1, 1], [2, 1, 0])
    x = nope_st.load(layout)
    e = gl.expand_dims(scale_st.load(gl.SliceLayout(2, layout)), 2).to(gl.int32)
    rope = gl.expand_dims(rope_st.load(gl.SliceLayout(1, layout)), 1).to(gl.float32)
    y = x.to(gl.float8e4nv, bitcast=True).to(gl.float32) * (e << 23).to(gl.float32, bitcast=True)
    blk = gl.arange(0, 8, layout=gl.SliceLayout(0, gl.SliceLayout(2, layout)))[None, :, None]
    y = gl.where(blk * 64 < NOPE, y, rope)
    dst.store(gl.reshape(y.to(gl.bfloat16), [R, 512]))


@gluon.jit
def _ws_copier_fp8(ring, q_smem, nope_st, rope_st, scale_st, rows_smem, ready, free, q_ready, q_b, win_b, comp_b,
                   ind_b, pos, lo, hi, n_tiles, stride_qh, stride_wr, stride_cr, WIN: gl.constexpr,
                   WRAP: gl.constexpr, D: gl.constexpr, NOPE: gl.constexpr, BLOCK_H: gl.constexpr,
                   BLOCK_E: gl.constexpr, NUM_BUF: gl.constexpr, R: gl.constexpr, NSTAGE: gl.constexpr,
                   SKIP: gl.constexpr):
    """Copy partition for fp8 rows: raw rows stream through NSTAGE stages of R rows, NSTAGE - 1 stages in
    flight, each dequantized into its slot as it lands; a slot is handed over (one arrive after a partition
    barrier) once all its rows are in. Each tile's row ids go to shared memory a few stages before they are
    needed, loaded a tile ahead, so no copy waits on an index load."""
    CPT: gl.constexpr = BLOCK_E // R  # stages per tile
    STORE_AT: gl.constexpr = CPT - NSTAGE  # the stage at which the next tile's row ids go to shared memory
    gl.static_assert(STORE_AT >= 0, "FP8_STAGES must not exceed BLOCK_E // FP8_STAGE_ROWS")
    ROPE: gl.constexpr = D - NOPE
    copy_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [gl.num_warps(), 1], [1, 0])
    ids_layout: gl.constexpr = gl.BlockedLayout([1], [32], [gl.num_warps()], [0])
    offs_h = gl.arange(0, BLOCK_H, layout=gl.SliceLayout(1, copy_layout))
    offs_d = gl.arange(0, D, layout=gl.SliceLayout(0, copy_layout))
    _async_load(q_smem, q_b + offs_h[:, None] * stride_qh + offs_d[None, :])
    async_copy.mbarrier_arrive(q_ready, increment_count=False)
    async_copy.commit_group()

    rows_smem.index(0).store(_tile_row_ids(lo, hi, pos, ind_b, WIN, WRAP, BLOCK_E, ids_layout))
    nxt = _tile_row_ids(lo + BLOCK_E, hi, pos, ind_b, WIN, WRAP, BLOCK_E, ids_layout)
    _cta_barrier()
    for i in gl.static_range(NSTAGE - 1):
        if not SKIP & SKIP_COPY:
            _issue_fp8_rows(nope_st.index(i), rope_st.index(i), scale_st.index(i),
                            rows_smem.index(0).slice(i * R, R), lo + i * R, win_b, comp_b,
                            stride_wr, stride_cr, WIN, NOPE, ROPE, R)
        async_copy.commit_group()
    for t in range(n_tiles):
        slot = t % NUM_BUF
        for c in gl.static_range(CPT):
            g = t * CPT + c
            async_copy.wait_group(NSTAGE - 2)  # this thread's copies of stage g have landed
            _cta_barrier()  # ... and everyone's; stage g - 1 is dequantized, so its buffer is free again
            # the stage issued now, g + NSTAGE - 1: tile t + (c + NSTAGE - 1) // CPT, rows (c + NSTAGE - 1) % CPT · R..
            h = (g + NSTAGE - 1) % NSTAGE
            if not SKIP & SKIP_COPY:
                _issue_fp8_rows(nope_st.index(h), rope_st.index(h), scale_st.index(h),
                                rows_smem.index((t + (c + NSTAGE - 1) // CPT) % 2).slice((c + NSTAGE - 1) % CPT * R, R),
                                lo + t * BLOCK_E + (c + NSTAGE - 1) * R, win_b, comp_b, stride_wr, stride_cr, WIN, NOPE,
                                ROPE, R)
            async_copy.commit_group()
            if c == STORE_AT:  # tile t + 1's ids, needed from stage (t + 1)·CPT, issued at c = STORE_AT + 1
                rows_smem.index((t + 1) % 2).store(nxt)
                nxt = _tile_row_ids(lo + (t + 2) * BLOCK_E, hi, pos, ind_b, WIN, WRAP, BLOCK_E, ids_layout)
            if c == 0:
                mbarrier.wait(free.index(slot), ((t // NUM_BUF) & 1) ^ 1)  # a fresh barrier passes phase 1 at once
            s = g % NSTAGE
            _dequant_fp8_rows(ring.index(slot).slice(c * R, R, dim=0), nope_st.index(s), rope_st.index(s),
                              scale_st.index(s), NOPE, R)
            if c == CPT - 1:
                fence_async_shared()  # the dequantized rows were written through the generic proxy
                _cta_barrier()
                mbarrier.arrive(ready.index(slot))  # one arrive for the partition (its first thread)
    async_copy.wait_group(0)  # the zero-filled copies issued past the last tile


@gluon.jit
def _ws_math(ring, q_smem, p_smem, ready, free, q_ready, ind_b, pos, lo, hi, n_tiles, scale_log2,
             WIN: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
             NUM_BUF: gl.constexpr, SKIP: gl.constexpr):
    """Math partition (two warpgroups, laid out as in `_sparse_attn_async_kernel`): per tile, wait for its
    copies, QK, softmax, PV, then hand the slot back to the copier. Returns (acc, m, l partials)."""
    s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                       instr_shape=[16, BLOCK_E // 2, 16])
    o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 2],
                                                       instr_shape=[16, D // 2, 16])
    m_i = gl.full([BLOCK_H], float("-inf"), gl.float32, layout=gl.SliceLayout(1, s_layout))
    l_rows = gl.zeros([BLOCK_H, BLOCK_E], gl.float32, layout=s_layout)
    acc = gl.zeros([BLOCK_H, D], gl.float32, layout=o_layout)
    s_init = gl.zeros([BLOCK_H, BLOCK_E], gl.float32, layout=s_layout)
    mbarrier.wait(q_ready, 0)
    for t in range(n_tiles):
        slot = t % NUM_BUF
        _, _, live = _entry_live(lo + t * BLOCK_E, hi, pos, ind_b, WIN, BLOCK_E, gl.SliceLayout(0, s_layout))
        mbarrier.wait(ready.index(slot), (t // NUM_BUF) & 1)
        fence_async_shared()  # the copies wrote through the generic proxy, the dots read through the async one
        m_i, l_rows, acc = _tile_dots(q_smem, ring.index(slot), p_smem, s_init, live, m_i, l_rows, acc, scale_log2,
                                      t, o_layout, SKIP)
        # every math thread arrives once its own dots are done (cp.async's noinc arrive: with no copy of its own
        # it arrives at once; `free` counts all of them): no partition barrier + one thread's arrive, -0.7 µs at
        # Pro B=32 (round 7, call 5). P is not stored again before both warpgroups are past this tile's PV: the
        # next tile's row max crosses the two warpgroups through shared memory and a barrier first.
        async_copy.mbarrier_arrive(free.index(slot), increment_count=False)
    return acc, m_i, l_rows


@gluon.jit
def _sparse_attn_ws_kernel(
    q_ptr, win_ptr, comp_ptr, ind_ptr, pos_ptr, acc_ptr, ml_ptr,
    H, K, split_len, win_mod, scale_log2,
    stride_qb, stride_qh, stride_wb, stride_wr, stride_cb, stride_cr, stride_ib,
    stride_ab, stride_ah, stride_as, stride_mb, stride_mh, stride_ms,
    WIN: gl.constexpr, WRAP: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
    NUM_BUF: gl.constexpr, SKIP: gl.constexpr, FP8: gl.constexpr = False, NOPE: gl.constexpr = 448,
    R: gl.constexpr = 8, NSTAGE: gl.constexpr = 4,
):
    """`_sparse_attn_async_kernel`'s work with the copies in their own warpgroup (warp specialization): the
    math warps never issue a copy or wait on a copy group, the copier runs NUM_BUF tiles ahead of them, and
    slots pass between the two through mbarriers (ready: copies landed; free: both math warpgroups done).
    FP8: the caches hold vLLM's fp8 rows (NOPE e4m3 dims, bf16 rope dims, ue8m0 scales), which the copier
    stages R rows at a time and dequantizes into the same bf16 slots, so the math warps are the same."""
    tile_layout: gl.constexpr = gl.NVMMASharedLayout(swizzle_byte_width=128, element_bitwidth=16, rank=2)
    p_layout: gl.constexpr = gl.NVMMASharedLayout(swizzle_byte_width=min(128, 2 * BLOCK_E), element_bitwidth=16,
                                                  rank=2)
    b, h0, split, pos, lo, hi, n_tiles = _program_work(H, K, split_len, pos_ptr, WIN, BLOCK_H, BLOCK_E)
    ind_b = ind_ptr + b * stride_ib

    ring = gl.allocate_shared_memory(gl.bfloat16, [NUM_BUF, BLOCK_E, D], tile_layout)
    q_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_H, D], tile_layout)
    p_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_H, BLOCK_E], p_layout)
    ready = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], mbarrier.MBarrierLayout())
    free = gl.allocate_shared_memory(gl.int64, [NUM_BUF, 1], mbarrier.MBarrierLayout())
    q_ready = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
    for i in gl.static_range(NUM_BUF):
        # bf16: each copier thread's cp.async arrives; fp8: the copier's one arrive after its dequantizing stores
        mbarrier.init(ready.index(i), count=1 if FP8 else PRODUCER_WARPS * 32)
        mbarrier.init(free.index(i), count=gl.num_warps() * 32)
    mbarrier.init(q_ready, count=PRODUCER_WARPS * 32)

    q_b = q_ptr + b * stride_qb + h0 * stride_qh
    if FP8:
        plain: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [1, 0])  # the layout of one stage
        nope_st = gl.allocate_shared_memory(gl.uint8, [NSTAGE, R, 8, 64], gl.SwizzledSharedLayout(1, 1, 1, [2, 1, 0]))
        rope_st = gl.allocate_shared_memory(gl.bfloat16, [NSTAGE, R, D - NOPE], plain)
        scale_st = gl.allocate_shared_memory(gl.uint8, [NSTAGE, R, 8], plain)
        rows_smem = gl.allocate_shared_memory(gl.int32, [2, BLOCK_E], gl.SwizzledSharedLayout(1, 1, 1, [0]))
        acc, m_i, l_rows = gl.warp_specialize([(_ws_math, (
            ring, q_smem, p_smem, ready, free, q_ready, ind_b, pos, lo, hi, n_tiles, scale_log2, WIN, D, BLOCK_H,
            BLOCK_E, NUM_BUF, SKIP)), (_ws_copier_fp8, (
            ring, q_smem, nope_st, rope_st, scale_st, rows_smem, ready, free, q_ready, q_b, win_ptr + b * stride_wb,
            comp_ptr + b * stride_cb, ind_b, pos, lo, hi, n_tiles, stride_qh, stride_wr, stride_cr, WIN, WRAP, D,
            NOPE, BLOCK_H, BLOCK_E, NUM_BUF, R, NSTAGE, SKIP))], [PRODUCER_WARPS], [FP8_PRODUCER_REGS])
    else:
        acc, m_i, l_rows = gl.warp_specialize([(_ws_math, (
            ring, q_smem, p_smem, ready, free, q_ready, ind_b, pos, lo, hi, n_tiles, scale_log2, WIN, D, BLOCK_H,
            BLOCK_E, NUM_BUF, SKIP)), (_ws_copier, (
            ring, q_smem, ready, free, q_ready, q_b, win_ptr + b * stride_wb, comp_ptr + b * stride_cb, ind_b, pos,
            lo, hi, n_tiles, stride_qh, stride_wr, stride_cr, WIN, WRAP, D, BLOCK_H, BLOCK_E, NUM_BUF, SKIP))],
            [PRODUCER_WARPS], [PRODUCER_REGS])
    # (storing the partial through shared memory in row-contiguous chunks measured 0.7-0.8 µs slower: call 5)
    _store_partials(acc, m_i, l_rows, acc_ptr + b * stride_ab + split * stride_as,
                    ml_ptr + b * stride_mb + split * stride_ms, h0, stride_ah, stride_mh, BLOCK_H, D)


def supported(q: torch.Tensor, caches: tuple[torch.Tensor, ...], heads: int, block_h: int, dim: int, window: int,
              win_mod: int, no_wrap: int, block_e: int, *, ws: bool = False, nope: int = 448,
              scale_block: int = 64) -> bool:
    """Whether these kernels can run the launch: a Hopper GPU, 64-head blocks, D = 512, whole window tiles, a
    power-of-two window ring or none, and rows either bf16 (16-byte aligned, as the copies assume) or, for the
    warp-specialized kernel only, vLLM's fp8 rows (448 e4m3 + 64 bf16 + 8 scale bytes, 8-byte aligned)."""
    fp8 = caches[0].dtype == torch.uint8
    if fp8:
        rows_ok = ws and nope == 448 and scale_block == 64 and block_e % (FP8_STAGE_ROWS * FP8_STAGES) == 0 and all(
            c.dtype == torch.uint8 and c.shape[-1] == nope + 2 * (dim - nope) + 8 and c.stride(-2) % 8 == 0
            and c.data_ptr() % 8 == 0 for c in caches)
    else:
        rows_ok = all(c.dtype == torch.bfloat16 and c.stride(-2) % 8 == 0 and c.data_ptr() % 16 == 0 for c in caches)
    ring_ok = win_mod == no_wrap or (win_mod == window and window & (window - 1) == 0)
    return (q.is_cuda and q.dtype == torch.bfloat16 and rows_ok and ring_ok and block_h == BLOCK_H
            and heads % BLOCK_H == 0 and dim == 512 and window % block_e == 0
            and torch.cuda.get_device_capability(q.device)[0] == 9)


def launch(grid: tuple[int, int], args: tuple, *, window: int, wrap: bool, dim: int, block_e: int,
           num_buf: int, ws: bool = False, fp8: bool = False, nope: int = 448) -> None:
    """Launch over `grid` with `_sparse_attn_kernel`'s runtime arguments less its bf16 views; ws: the
    warp-specialized kernel; fp8: the caches are vLLM's fp8 rows (warp-specialized kernel only)."""
    consts = dict(WIN=window, WRAP=wrap, D=dim, BLOCK_H=BLOCK_H, BLOCK_E=block_e, NUM_BUF=num_buf, SKIP=PROBE_SKIP,
                  num_warps=NUM_WARPS)
    if ws:
        fp8_consts = dict(FP8=True, NOPE=nope, R=FP8_STAGE_ROWS, NSTAGE=FP8_STAGES) if fp8 else {}
        _sparse_attn_ws_kernel[grid](*args, **consts, **fp8_consts, maxnreg=WS_MAXNREG)
    else:
        _sparse_attn_async_kernel[grid](*args, **consts)
