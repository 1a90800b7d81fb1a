"""Sparse MQA attention for Hopper in Gluon: gathered entry tiles stream into a shared-memory ring by cp.async.

Why a second kernel: the Triton one (sparse_attention.py) moves every gathered tile global -> registers ->
shared and never overlaps that with its dots (ncu, round 5: one program per SM, IPC 0.93, 77% of cycles with
no eligible warp), and Triton's pipeliner, when it did use cp.async, issued the next tile's copy only after
this tile's QK and softmax. Gluon lets the schedule be written down: the copy of tile t+NUM_BUF-1 is issued
before tile t's dots, so NUM_BUF-1 tiles are in flight while the tensor cores work.

Two kernels: `_sparse_attn_async_kernel`, where the math warps also issue the copies, and
`_sparse_attn_ws_kernel` (the default on Hopper, rounds 7-8), where a copier warpgroup of its own
(`gl.warp_specialize`) feeds the ring through mbarriers. Same inputs and the same split partials as
`_sparse_attn_kernel` (fp32; the warp-specialized kernel's in bf16 since round 10, half the bytes to write and
combine), so the same combine launch (split_combine.py) finishes the job (sink, split merge, inverse RoPE). Scope: bf16 cache rows, and vLLM's fp8 rows (584 bytes apart, or in vLLM's pages: round 9) in the
warp-specialized form (its copier dequantizes them into the same bf16 slots; round 8), 64 heads per program (wgmma's M), D = 512, 8 math warps:
S = Q·Kᵀ is split by entry columns and the [64, 512] fp32 accumulator by output columns across the two
warpgroups (128 registers each), Q stays in shared memory for the whole program.
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
# Where the window's rows are (the WINDOW constexpr): the sequence's kv by position (prefill), a ring with position p
# in slot p % WIN (decode), or pool rows named by the index list's first WIN entries (vLLM's paged window cache)
WINDOW_BY_POSITION, WINDOW_RING, WINDOW_INDEXED = gl.constexpr(0), gl.constexpr(1), gl.constexpr(2)
# Stages a timing probe leaves out (bench/attention_sweep.py --probe-stages; the output is then wrong): bits
# SKIP_COPY (loop refills), SKIP_QK, SKIP_SOFTMAX (P = S, no rescale), SKIP_PV, SKIP_DEQUANT. 0 in every real launch.
SKIP_COPY, SKIP_QK, SKIP_SOFTMAX, SKIP_PV = gl.constexpr(1), gl.constexpr(2), gl.constexpr(4), gl.constexpr(8)
SKIP_DEQUANT = gl.constexpr(16)  # fp8 rows: convert the raw bytes as integers instead (wrong values, same stores)
SKIP_Q, SKIP_STORE = gl.constexpr(32), gl.constexpr(64)  # bf16 warp-specialized kernel: no Q copy; no partial stores
PROBE_SKIP = 0
NUM_WARPS = 8  # two warpgroups, each owning half of S's entry columns and half of the output dims
PRODUCER_WARPS = gl.constexpr(4)  # the warp-specialized kernel's copier: one warpgroup (registers move by warpgroup)
PRODUCER_REGS = gl.constexpr(40)
FP8_PRODUCER_REGS = gl.constexpr(72)  # the fp8 copier also dequantizes (no spills at 72 in 3.6 or 3.9; the math warps fit 208)
BF16_PARTIALS = True  # the warp-specialized kernel's split partials in bf16 (round 10); bench knob
WS_MAXNREG = 168  # 65,536 registers over 12 warps at launch; the math warpgroups then take what the copier frees


@gluon.jit
def _entry_live(e0, hi, pos, ind_b, WIN: gl.constexpr, WINDOW: gl.constexpr, BLOCK_E: gl.constexpr,
                layout: gl.constexpr):
    """(is_window, index, live) of entries e0..e0+BLOCK_E-1: the first WIN are the window, by position or (WINDOW ==
    WINDOW_INDEXED) by the first WIN indices of the list, the rest the selected compressed entries (-1 = none)."""
    offs_e = e0 + gl.arange(0, BLOCK_E, layout=layout)
    is_win = offs_e < WIN
    if WINDOW == WINDOW_INDEXED:
        idx = gl.load(ind_b + offs_e, mask=offs_e < hi, other=-1)
        live = idx >= 0
    else:
        idx = gl.load(ind_b + (offs_e - WIN), mask=(offs_e < hi) & (offs_e >= WIN), other=-1)
        live = gl.where(is_win, (pos - WIN + 1 + offs_e >= 0) & (offs_e < hi), idx >= 0)
    return is_win, idx, live


@gluon.jit
def _entry_rows(e0, hi, pos, ind_b, WIN: gl.constexpr, WINDOW: gl.constexpr, BLOCK_E: gl.constexpr,
                layout: gl.constexpr):
    """(is_window, cache row, live) of the entries; window rows are slot p % WIN of a ring (WINDOW_RING: decode,
    WIN a power of two, so no 64-bit division), position p of the sequence's kv (WINDOW_BY_POSITION: prefill), or
    rows of a pool the index list names (WINDOW_INDEXED: vLLM's paged window)."""
    is_win, idx, live = _entry_live(e0, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, layout)
    if WINDOW == WINDOW_INDEXED:
        return is_win, gl.where(live, idx.to(gl.int64), 0), live
    p = gl.maximum(pos - WIN + 1 + e0 + gl.arange(0, BLOCK_E, layout=layout), 0)
    if WINDOW == WINDOW_RING:
        p = p % WIN
    row = gl.where(live, gl.where(is_win, p, idx.to(gl.int64)), 0)
    return is_win, row, live


@gluon.jit
def _issue_rows(dst, win_b, comp_b, is_win, row, valid, stride_wr, stride_cr, d0, W: gl.constexpr,
                layout: gl.constexpr):
    """Start the copy of dims d0..d0+W-1 of one tile's rows (from `_entry_rows`) into `dst` (a ring slot or a
    slice of one); masked entries are zero-filled (cp.async with src-size 0), so the PV product never meets stale
    or uninitialised bits."""
    base = gl.where(is_win, win_b + row * stride_wr, comp_b + row * stride_cr) + d0
    offs_d = gl.arange(0, W, layout=gl.SliceLayout(0, layout))
    ptrs = base[:, None] + offs_d[None, :]
    ptrs = gl.max_contiguous(gl.multiple_of(ptrs, [1, 16]), [1, 8])  # rows 16 B aligned (`supported` checks)
    _async_load(dst, ptrs, mask=valid[:, None])


@gluon.jit
def _refill(ring, slot, win_b, comp_b, nxt_win, nxt_row, nxt_valid, e_next, hi, pos, ind_b, stride_wr, stride_cr,
            WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr, BLOCK_E: gl.constexpr,
            copy_layout: gl.constexpr, SKIP: gl.constexpr):
    """Copy the prepared tile into `slot` once every warp is done with it, then load the rows of the tile
    after it (one iteration ahead: that index load is an L2/HBM round trip)."""
    _cta_barrier()
    if not SKIP & SKIP_COPY:
        _issue_rows(ring.index(slot), win_b, comp_b, nxt_win, nxt_row, nxt_valid, stride_wr, stride_cr, 0, D,
                    copy_layout)
    async_copy.commit_group()
    return _entry_rows(e_next, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, gl.SliceLayout(1, copy_layout))


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
    WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
    NUM_BUF: gl.constexpr, SKIP: gl.constexpr,
):
    """One program: BLOCK_H heads of one query over one split of its entries; writes the split's unnormalised
    [BLOCK_H, D] accumulator and (running max, denominator) in base 2, like `_sparse_attn_kernel`.
    Each tile's QK, softmax and PV run in turn while the next NUM_BUF-1 tiles copy. (Issuing tile t+1's QK
    before tile t's softmax, FA3's intra-warpgroup overlap, needs a third 64 KB slot that does not fit beside
    Q; at 32-entry tiles it measured no faster: round 6, call 4.)
    `win_mod` is unused (kept so both kernels take one argument list): WINDOW says whether the window is a ring."""
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
        is_win, row, valid = _entry_rows(lo + i * BLOCK_E, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, rows_layout)
        _issue_rows(ring.index(i), win_b, comp_b, is_win, row, valid, stride_wr, stride_cr, 0, D, copy_layout)
        async_copy.commit_group()
    nxt_win, nxt_row, nxt_valid = _entry_rows(lo + (NUM_BUF - 1) * BLOCK_E, hi, pos, ind_b, WIN, WINDOW, BLOCK_E,
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
        # ahead of its use
        _, _, live = _entry_live(lo + t * BLOCK_E, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, live_layout)
        nxt_win, nxt_row, nxt_valid = _refill(
            ring, (t + NUM_BUF - 1) % NUM_BUF, win_b, comp_b, nxt_win, nxt_row, nxt_valid,
            lo + (t + NUM_BUF) * BLOCK_E, hi, pos, ind_b, stride_wr, stride_cr, WIN, WINDOW, D, BLOCK_E, copy_layout,
            SKIP)
        _wait_tile(NUM_BUF - 1)  # tile t
        m_i, l_rows, acc = _tile_dots(q_smem, ring.index(t % NUM_BUF), p_smem, s_init, live, m_i, l_rows, acc,
                                      scale_log2, t, o_layout, SKIP)
    async_copy.wait_group(0)  # the zero-filled copies issued past the last tile
    _store_partials(acc, m_i, l_rows, acc_ptr + b * stride_ab + split * stride_as, ml_ptr + b * stride_mb + split * stride_ms,
                    h0, stride_ah, stride_mh, BLOCK_H, D)


@gluon.jit
def _store_partials(acc, m_i, l_rows, acc_b, ml_b, h0, stride_ah, stride_mh, BLOCK_H: gl.constexpr, D: gl.constexpr,
                    WITH_ACC: gl.constexpr = True):
    """This split's unnormalised accumulator (unless WITH_ACC is off: `_store_bf16_rows` wrote it) and (running
    max, denominator), as the combine reads them."""
    if WITH_ACC:
        offs_h = h0 + gl.arange(0, BLOCK_H, layout=gl.SliceLayout(1, acc.type.layout))
        offs_v = gl.arange(0, D, layout=gl.SliceLayout(0, acc.type.layout))
        gl.store(acc_b + offs_h[:, None] * stride_ah + offs_v[None, :], acc)
    ml = ml_b + (h0 + gl.arange(0, BLOCK_H, layout=gl.SliceLayout(1, l_rows.type.layout))) * stride_mh
    gl.store(ml, m_i)
    gl.store(ml + 1, gl.sum(l_rows, axis=1))


@gluon.jit
def _store_bf16_rows(acc, stage, acc_b, h0, d0, stride_ah, BLOCK_H: gl.constexpr, W: gl.constexpr):
    """An accumulator [BLOCK_H, W] (output dims d0..d0+W-1) as bf16 through idle shared memory `stage`: stored there
    from the wgmma fragment, then read back 16 bytes a thread, so each warp writes 512 contiguous bytes of a row
    (whole 32-byte sectors; a bf16 store straight from the fragment writes 16 bytes of a row per instruction). Half
    the fp32 partial's bytes to write here and to read in the combine (round 10: the fp32 partials cost ~5.8 µs to
    write at Pro B=32). The warp-specialized kernel stages in the ring, the seesaw kernel in Q."""
    RB: gl.constexpr = 16  # rows a chunk: 16 registers a thread (the whole tile at once spilled in the fp8 form)
    io: gl.constexpr = gl.BlockedLayout([1, 8], [1, 32], [gl.num_warps(), 1], [1, 0])
    stage.store(acc.to(gl.bfloat16))
    _cta_barrier()
    rows = gl.arange(0, RB, layout=gl.SliceLayout(1, io))
    cols = d0 + gl.arange(0, W, layout=gl.SliceLayout(0, io))
    for c in gl.static_range(BLOCK_H // RB):
        chunk = stage.slice(c * RB, RB, dim=0).load(io)
        gl.store(acc_b + (h0 + c * RB + rows)[:, None] * stride_ah + cols[None, :], chunk)


@gluon.jit
def _copy_q(q_smem, q_ready, q_b, stride_qh, BLOCK_H: gl.constexpr, D: gl.constexpr, layout: gl.constexpr,
            SKIP: gl.constexpr = 0):
    """A copier partition's first copy: this program's Q [BLOCK_H, D] into shared memory; each thread arrives on
    `q_ready` when its copies land (cp.async's noinc arrive: the barrier counts the partition's threads)."""
    offs_h = gl.arange(0, BLOCK_H, layout=gl.SliceLayout(1, layout))
    offs_d = gl.arange(0, D, layout=gl.SliceLayout(0, layout))
    if not SKIP & SKIP_Q:
        _async_load(q_smem, q_b + offs_h[:, None] * stride_qh + offs_d[None, :])
    async_copy.mbarrier_arrive(q_ready, increment_count=False)


@gluon.jit
def _ws_copier(ring, q_smem, ready, free, q_ready, q_b, win_b, comp_b, ind_b, pos, lo, hi, n_tiles, stride_qh,
               stride_wr, stride_cr, WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr,
               BLOCK_E: gl.constexpr, NUM_BUF: gl.constexpr, SKIP: gl.constexpr):
    """Copy partition (one warpgroup): Q, then each tile of the split into the ring as soon as the math warps
    free its slot. Every thread's copies arrive on the slot's `ready` barrier when they land (cp.async's
    noinc arrive: the barrier counts the partition's threads), so no copy waits on another."""
    copy_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [gl.num_warps(), 1], [1, 0])
    rows_layout: gl.constexpr = gl.SliceLayout(1, copy_layout)
    _copy_q(q_smem, q_ready, q_b, stride_qh, BLOCK_H, D, copy_layout, SKIP)
    for t in range(n_tiles):
        slot = t % NUM_BUF
        is_win, row, valid = _entry_rows(lo + t * BLOCK_E, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, rows_layout)
        mbarrier.wait(free.index(slot), ((t // NUM_BUF) & 1) ^ 1)  # a fresh barrier passes phase 1 at once
        if not SKIP & SKIP_COPY:
            _issue_rows(ring.index(slot), win_b, comp_b, is_win, row, valid, stride_wr, stride_cr, 0, D,
                        copy_layout)
        async_copy.mbarrier_arrive(ready.index(slot), increment_count=False)


# fp8 rows: most of a tile's raw bytes are copied before its slot is free, into buffers of their own (what fits
# beside Q, the two 64 KB slots and P in 227 KB: e4m3 blocks 0-5, 24 KB, and the scale bytes), so only e4m3 block
# 6 and the rope dims are copied once the slot frees, while blocks 0-5 are dequantized. The slot's NVMMA layout is
# column-block-major (dims 64k..64k+63 of all 64 rows at bytes 8192k..: Triton's to_linear_layout of the 128-byte
# swizzle), so the rope dims land straight in their bf16 block 7 (bytes 57344..) and raw block 6 waits in the
# slot's 4 KB block 13, which only block 6's own output covers (its loads come before its stores).
FP8_EARLY_BLOCKS = gl.constexpr(6)
FP8_LATE_SLOT_BLOCK = gl.constexpr(13)
FP8_NOPE_LAYOUT = gl.constexpr(gl.BlockedLayout([1, 8], [4, 8], [PRODUCER_WARPS, 1], [1, 0]))  # [rows, 64 B]
# rows 16-byte aligned (a row stride that is a multiple of 16, as vLLM's 584 is not): 16-byte copies, bypassing L1
FP8_NOPE_LAYOUT16 = gl.constexpr(gl.BlockedLayout([1, 16], [8, 4], [PRODUCER_WARPS, 1], [1, 0]))
FP8_DEQUANT_LAYOUT = gl.constexpr(gl.BlockedLayout([1, 16], [8, 4], [PRODUCER_WARPS, 1], [1, 0]))  # [rows, 64]
FP8_SCALE_LAYOUT = gl.constexpr(gl.BlockedLayout([1, 8], [32, 1], [PRODUCER_WARPS, 1], [1, 0]))  # [rows, 8 B]


_STAGE_LAYOUT = gl.constexpr(gl.NVMMASharedLayout(swizzle_byte_width=128, element_bitwidth=16, rank=2))
if hasattr(gl.shared_memory_descriptor, "reinterpret"):  # Triton 3.9; 3.6 names it _reinterpret
    @gluon.jit
    def _slot_bytes(slot, BLOCK_E: gl.constexpr):
        """The slot's 64 KB as 16 blocks of BLOCK_E rows x 64 bytes (row-major within a block)."""
        return slot.reinterpret(gl.uint8, [16, BLOCK_E, 64], gl.SwizzledSharedLayout(1, 1, 1, [1, 0]))

    @gluon.jit
    def _ring_as(ring, ROWS: gl.constexpr, D: gl.constexpr):
        """The ring's first ROWS x D bf16 as one swizzled [ROWS, D] tile (the partial's staging area)."""
        return ring.reinterpret(gl.bfloat16, [ROWS, D], _STAGE_LAYOUT)
else:
    @gluon.jit
    def _slot_bytes(slot, BLOCK_E: gl.constexpr):
        """The slot's 64 KB as 16 blocks of BLOCK_E rows x 64 bytes (row-major within a block)."""
        return slot._reinterpret(gl.uint8, [16, BLOCK_E, 64], gl.SwizzledSharedLayout(1, 1, 1, [1, 0]))

    @gluon.jit
    def _ring_as(ring, ROWS: gl.constexpr, D: gl.constexpr):
        """The ring's first ROWS x D bf16 as one swizzled [ROWS, D] tile (the partial's staging area)."""
        return ring._reinterpret(gl.bfloat16, [ROWS, D], _STAGE_LAYOUT)


@gluon.jit
def _fp8_tile_rows(e0, hi, pos, ind_b, stride_wr, stride_cr, win_b, comp_b, WIN: gl.constexpr,
                   WINDOW: gl.constexpr, BLOCK_E: gl.constexpr, layout: gl.constexpr, PAGE_ROWS: gl.constexpr,
                   DATA: gl.constexpr, SCALES: gl.constexpr):
    """(address, live) of one tile's rows in the layout a copy uses: each row's data part, or (SCALES) its 8 scale
    bytes; loaded once per copy layout (the second load hits L1) instead of converted between layouts through
    shared memory (two barriers each). Rows are a stride apart, scales after the data (PAGE_ROWS = 1), or in vLLM
    pages a stride apart: PAGE_ROWS data parts of DATA bytes, then PAGE_ROWS 8-byte scale parts."""
    is_win, row, live = _entry_rows(e0, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, gl.SliceLayout(1, layout))
    if PAGE_ROWS == 1:  # (the select of two row addresses, as before pages: one stride select spilled 4 bytes)
        return gl.where(is_win, win_b + row * stride_wr, comp_b + row * stride_cr) + (DATA if SCALES else 0), live
    page = row // PAGE_ROWS
    slot = row % PAGE_ROWS
    offset = PAGE_ROWS * DATA + slot * 8 if SCALES else slot * DATA
    return gl.where(is_win, win_b + page * stride_wr, comp_b + page * stride_cr) + offset, live


@gluon.jit
def _copy_fp8_block(dst, bn, vn, k: gl.constexpr, NL: gl.constexpr, VEC: gl.constexpr):
    """e4m3 block k (dims 64k..64k+63, 64 bytes) of every row into dst [rows, 64] in VEC-byte copies (layout NL);
    masked rows zero-filled."""
    dims = gl.arange(0, 64, layout=gl.SliceLayout(0, NL))
    ptrs = gl.max_contiguous(gl.multiple_of(bn[:, None] + k * 64 + dims[None, :], [1, VEC]), [1, VEC])
    _async_load(dst, ptrs, mask=vn[:, None])


@gluon.jit
def _issue_fp8_early(early_a, early_b, scales, bn, vn, bs, vs, NL: gl.constexpr, VEC: gl.constexpr):
    """Copies that need no free slot: e4m3 blocks 0-3 and 4-5 of every row (data addresses bn), and its 8 scale
    bytes (addresses bs). VEC = 8-byte copies for 584-byte rows, 16 for rows or pages 16-byte aligned (vLLM's pages:
    576-byte data parts); row addresses reused for every block. One copy group."""
    cols = gl.arange(0, 8, layout=gl.SliceLayout(0, FP8_SCALE_LAYOUT))
    ptrs = gl.max_contiguous(gl.multiple_of(bs[:, None] + cols[None, :], [1, 8]), [1, 8])
    _async_load(scales, ptrs, mask=vs[:, None])
    for k in gl.static_range(4):
        _copy_fp8_block(early_a.index(k), bn, vn, k, NL, VEC)
    for k in gl.static_range(2):
        _copy_fp8_block(early_b.index(k), bn, vn, 4 + k, NL, VEC)
    async_copy.commit_group()


@gluon.jit
def _issue_fp8_late(slot, bn, vn, NOPE: gl.constexpr, ROPE: gl.constexpr, BLOCK_E: gl.constexpr, NL: gl.constexpr,
                    VEC: gl.constexpr):
    """Copies into the freed slot: e4m3 block 6 to the slot's 4 KB block FP8_LATE_SLOT_BLOCK, the bf16 rope dims
    to their final place (dims NOPE..). One copy group."""
    _copy_fp8_block(_slot_bytes(slot, BLOCK_E).index(FP8_LATE_SLOT_BLOCK), bn, vn, NOPE // 64 - 1, NL, VEC)
    cols = gl.arange(0, ROPE, layout=gl.SliceLayout(0, NL))  # the same row addresses
    rope_p = (bn + NOPE).to(gl.pointer_type(gl.bfloat16), bitcast=True)
    ptrs = gl.max_contiguous(gl.multiple_of(rope_p[:, None] + cols[None, :], [1, VEC]), [1, VEC // 2])
    _async_load(slot.slice(NOPE, ROPE, dim=1), ptrs, mask=vn[:, None])
    async_copy.commit_group()


@gluon.jit
def _fp8_to_bf16(x, e, SKIP: gl.constexpr):
    """e4m3 bytes x [rows, 64] times 2^(e - 127) per row (ue8m0 scale bytes e [rows, 1]), built from the exponent
    bits: exact in bf16 (3 mantissa bits fit in 7). SKIP_DEQUANT converts the bytes as integers (probes only)."""
    if SKIP & SKIP_DEQUANT:
        return x.to(gl.bfloat16)
    return (x.to(gl.float8e4nv, bitcast=True).to(gl.float32) * (e.to(gl.int32) << 23).to(gl.float32, bitcast=True)
            ).to(gl.bfloat16)


@gluon.jit
def _dequant_fp8_block(dst, src, scales, k: gl.constexpr, SKIP: gl.constexpr):
    """64-dim block k from an early buffer src [rows, 64] into the slot dst, with column k of the scale bytes."""
    e = scales.slice(k, 1, dim=1).load(FP8_DEQUANT_LAYOUT)
    dst.slice(k * 64, 64, dim=1).store(_fp8_to_bf16(src.load(FP8_DEQUANT_LAYOUT), e, SKIP))


@gluon.jit
def _ws_copier_fp8(ring, q_smem, early_a, early_b, scales, ready, free, q_ready, q_b, win_b, comp_b, ind_b, pos, lo,
                   hi, n_tiles, stride_qh, stride_wr, stride_cr, WIN: gl.constexpr, WINDOW: gl.constexpr,
                   D: gl.constexpr, NOPE: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
                   NUM_BUF: gl.constexpr, ALIGN16: gl.constexpr, PAGE_ROWS: gl.constexpr, SKIP: gl.constexpr):
    """Copy partition for fp8 rows. Per tile: once its slot is free, copy the late bytes into it (block 6, rope),
    dequantize blocks 0-5 from the early buffers (copied while the slot was busy), start the next tile's early
    copies, dequantize block 6, hand the slot over (one arrive after a partition barrier)."""
    gl.static_assert(BLOCK_E == 64, "the byte plan is for 64-row slots")
    gl.static_assert(NOPE == 64 * (FP8_EARLY_BLOCKS + 1), "six early e4m3 blocks and one late one")
    ROPE: gl.constexpr = D - NOPE
    NL: gl.constexpr = FP8_NOPE_LAYOUT16 if ALIGN16 else FP8_NOPE_LAYOUT
    VEC: gl.constexpr = 16 if ALIGN16 else 8
    _copy_q(q_smem, q_ready, q_b, stride_qh, BLOCK_H, D,
            gl.BlockedLayout([1, 8], [4, 8], [gl.num_warps(), 1], [1, 0]))
    async_copy.commit_group()
    DATA: gl.constexpr = NOPE + 2 * ROPE
    bn, vn = _fp8_tile_rows(lo, hi, pos, ind_b, stride_wr, stride_cr, win_b, comp_b, WIN, WINDOW, BLOCK_E,
                            NL, PAGE_ROWS, DATA, False)
    bs, vs = _fp8_tile_rows(lo, hi, pos, ind_b, stride_wr, stride_cr, win_b, comp_b, WIN, WINDOW, BLOCK_E,
                            FP8_SCALE_LAYOUT, PAGE_ROWS, DATA, True)
    if not SKIP & SKIP_COPY:
        _issue_fp8_early(early_a, early_b, scales, bn, vn, bs, vs, NL, VEC)
    for t in range(n_tiles):
        slot_i = t % NUM_BUF
        slot = ring.index(slot_i)
        e_next = lo + (t + 1) * BLOCK_E
        nn, nv = _fp8_tile_rows(e_next, hi, pos, ind_b, stride_wr, stride_cr, win_b, comp_b, WIN, WINDOW, BLOCK_E,
                                NL, PAGE_ROWS, DATA, False)
        ns, nsv = _fp8_tile_rows(e_next, hi, pos, ind_b, stride_wr, stride_cr, win_b, comp_b, WIN, WINDOW, BLOCK_E,
                                 FP8_SCALE_LAYOUT, PAGE_ROWS, DATA, True)
        mbarrier.wait(free.index(slot_i), ((t // NUM_BUF) & 1) ^ 1)  # a fresh barrier passes phase 1 at once
        if not SKIP & SKIP_COPY:
            _issue_fp8_late(slot, bn, vn, NOPE, ROPE, BLOCK_E, NL, VEC)
        async_copy.wait_group(1)  # this tile's early group (the late one may still fly)
        _cta_barrier()
        for k in gl.static_range(FP8_EARLY_BLOCKS):
            if k < 4:
                _dequant_fp8_block(slot, early_a.index(k), scales, k, SKIP)
            else:
                _dequant_fp8_block(slot, early_b.index(k - 4), scales, k, SKIP)
        e6 = scales.slice(FP8_EARLY_BLOCKS, 1, dim=1).load(FP8_DEQUANT_LAYOUT)  # the scales' last use this tile
        _cta_barrier()  # the early buffers are read: the next tile's early copies may start
        if not SKIP & SKIP_COPY:
            _issue_fp8_early(early_a, early_b, scales, nn, nv, ns, nsv, NL, VEC)
        bn, vn, bs, vs = nn, nv, ns, nsv
        async_copy.wait_group(1)  # this tile's late group
        _cta_barrier()
        _dequant_late_block(slot, e6, SKIP, BLOCK_E)
        fence_async_shared()  # the dequantized blocks were written through the generic proxy
        _cta_barrier()
        mbarrier.arrive(ready.index(slot_i))  # one arrive for the partition (its first thread)
    async_copy.wait_group(0)  # the zero-filled early copies past the last tile


@gluon.jit
def _dequant_late_block(slot, e, SKIP: gl.constexpr, BLOCK_E: gl.constexpr):
    """e4m3 block 6, waiting in the slot's 4 KB block FP8_LATE_SLOT_BLOCK under its own output, into bf16 (scale
    bytes e [rows, 1] read before the next tile's copies reuse their buffer): all loads, a barrier, the stores."""
    y = _fp8_to_bf16(_slot_bytes(slot, BLOCK_E).index(FP8_LATE_SLOT_BLOCK).load(FP8_DEQUANT_LAYOUT), e, SKIP)
    _cta_barrier()
    slot.slice(FP8_EARLY_BLOCKS * 64, 64, dim=1).store(y)


@gluon.jit
def _ws_math(ring, q_smem, p_smem, ready, free, q_ready, ind_b, pos, lo, hi, n_tiles, scale_log2,
             WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
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
        _, _, live = _entry_live(lo + t * BLOCK_E, hi, pos, ind_b, WIN, WINDOW, BLOCK_E,
                                 gl.SliceLayout(0, s_layout))
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
    WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
    NUM_BUF: gl.constexpr, SKIP: gl.constexpr, FP8: gl.constexpr = False, NOPE: gl.constexpr = 448,
    ALIGN16: gl.constexpr = False, PAGE_ROWS: gl.constexpr = 1, BF16_PARTIAL: gl.constexpr = False,
):
    """`_sparse_attn_async_kernel`'s work with the copies in their own warpgroup (warp specialization): the
    math warps never issue a copy or wait on a copy group, the copier runs NUM_BUF tiles ahead of them, and
    slots pass between the two through mbarriers (ready: copies landed; free: both math warpgroups done).
    FP8: the caches hold vLLM's fp8 rows (NOPE e4m3 dims, bf16 rope dims, ue8m0 scales), which the copier
    dequantizes into the same bf16 slots (the byte plan: FP8_EARLY_BLOCKS), so the math warps are the same."""
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
        plain: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, [1, 0])
        early_a = gl.allocate_shared_memory(gl.uint8, [4, BLOCK_E, 64], plain)  # e4m3 blocks 0-3 of the next tile
        early_b = gl.allocate_shared_memory(gl.uint8, [2, BLOCK_E, 64], plain)  # blocks 4-5
        scales = gl.allocate_shared_memory(gl.uint8, [BLOCK_E, 8], plain)
        acc, m_i, l_rows = gl.warp_specialize([(_ws_math, (
            ring, q_smem, p_smem, ready, free, q_ready, ind_b, pos, lo, hi, n_tiles, scale_log2, WIN, WINDOW, D, BLOCK_H,
            BLOCK_E, NUM_BUF, SKIP)), (_ws_copier_fp8, (
            ring, q_smem, early_a, early_b, scales, ready, free, q_ready, q_b, win_ptr + b * stride_wb,
            comp_ptr + b * stride_cb, ind_b, pos, lo, hi, n_tiles, stride_qh, stride_wr, stride_cr, WIN, WINDOW, D,
            NOPE, BLOCK_H, BLOCK_E, NUM_BUF, ALIGN16, PAGE_ROWS, SKIP))], [PRODUCER_WARPS], [FP8_PRODUCER_REGS])
    else:
        acc, m_i, l_rows = gl.warp_specialize([(_ws_math, (
            ring, q_smem, p_smem, ready, free, q_ready, ind_b, pos, lo, hi, n_tiles, scale_log2, WIN, WINDOW, D, BLOCK_H,
            BLOCK_E, NUM_BUF, SKIP)), (_ws_copier, (
            ring, q_smem, ready, free, q_ready, q_b, win_ptr + b * stride_wb, comp_ptr + b * stride_cb, ind_b, pos,
            lo, hi, n_tiles, stride_qh, stride_wr, stride_cr, WIN, WINDOW, D, BLOCK_H, BLOCK_E, NUM_BUF, SKIP))],
            [PRODUCER_WARPS], [PRODUCER_REGS])
    # fp32 partials go straight from the fragment (staged through shared memory they were 0.7-0.8 µs slower: round 7,
    # call 5); bf16 ones are staged, since straight from the fragment they write half sectors (round 10)
    if not SKIP & SKIP_STORE:
        acc_b = acc_ptr + b * stride_ab + split * stride_as
        _store_partials(acc, m_i, l_rows, acc_b, ml_ptr + b * stride_mb + split * stride_ms, h0, stride_ah, stride_mh,
                        BLOCK_H, D, not BF16_PARTIAL)
        if BF16_PARTIAL:  # after (m, l), whose registers are then free
            _store_bf16_rows(acc, _ring_as(ring, BLOCK_H, D), acc_b, h0, 0, stride_ah, BLOCK_H, D)


def supported(q: torch.Tensor, caches: tuple[torch.Tensor, ...], heads: int, block_h: int, dim: int, window: int,
              win_mod: int, no_wrap: int, block_e: int, *, ws: bool = False, nope: int = 448,
              scale_block: int = 64, page_rows: int = 1) -> bool:
    """Whether these kernels can run the launch: a Hopper GPU, 64-head blocks, D = 512, whole window tiles, a
    power-of-two window ring or none, and rows either bf16 (16-byte aligned, as the copies assume) or, for the
    warp-specialized kernel only, vLLM's fp8 rows (448 e4m3 + 64 bf16 + 8 scale bytes, 8-byte aligned), one a
    stride apart or in vLLM's pages of page_rows rows."""
    fp8 = caches[0].dtype == torch.uint8
    if fp8:
        row_bytes = nope + 2 * (dim - nope) + 8
        width_ok = (lambda c: c.shape[-1] == row_bytes) if page_rows == 1 else (
            lambda c: c.shape[-1] >= page_rows * row_bytes)
        rows_ok = ws and nope == 448 and scale_block == 64 and block_e == 64 and all(
            c.dtype == torch.uint8 and width_ok(c) and c.stride(-2) % 8 == 0 and c.data_ptr() % 8 == 0 for c in caches)
    else:
        rows_ok = page_rows == 1 and all(
            c.dtype == torch.bfloat16 and c.stride(-2) % 8 == 0 and c.data_ptr() % 16 == 0 for c in caches)
    ring_ok = win_mod == no_wrap or (win_mod == window and window & (window - 1) == 0)
    return (q.is_cuda and q.dtype == torch.bfloat16 and rows_ok and ring_ok and block_h == BLOCK_H
            and heads % BLOCK_H == 0 and dim == 512 and window % block_e == 0
            and torch.cuda.get_device_capability(q.device)[0] == 9)


def launch(grid: tuple[int, int], args: tuple, *, window: int, window_mode: int, dim: int, block_e: int,
           num_buf: int, ws: bool = False, fp8: bool = False, nope: int = 448, align16: bool = False,
           page_rows: int = 1) -> None:
    """Launch over `grid` with `_sparse_attn_kernel`'s runtime arguments less its bf16 views; ws: the
    warp-specialized kernel; fp8: the caches are vLLM's fp8 rows (warp-specialized kernel only), one a row stride
    apart or (page_rows > 1) in vLLM's pages a page stride apart; align16: the data parts are 16-byte aligned (a
    row stride padded to a multiple of 16, or vLLM's pages), so their copies are 16 bytes."""
    consts = dict(WIN=window, WINDOW=window_mode, D=dim, BLOCK_H=BLOCK_H, BLOCK_E=block_e, NUM_BUF=num_buf, SKIP=PROBE_SKIP,
                  num_warps=NUM_WARPS)
    if ws:
        fp8_consts = dict(FP8=True, NOPE=nope, ALIGN16=align16, PAGE_ROWS=page_rows) if fp8 else {}
        bf16_partial = args[5].dtype == torch.bfloat16  # the partial buffer's type says how to write it
        _sparse_attn_ws_kernel[grid](*args, **consts, **fp8_consts, BF16_PARTIAL=bf16_partial, maxnreg=WS_MAXNREG)
    else:
        _sparse_attn_async_kernel[grid](*args, **consts)
