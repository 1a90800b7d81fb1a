"""Sparse MQA decode attention for Hopper with a "seesaw" schedule (round 11), in Gluon: the warp-specialized
kernel's work (sparse_attention_hopper.py), with the two math warpgroups taking alternate tiles.

Why: in the warp-specialized kernel both math warpgroups work on every tile (S split by entry columns, the
accumulator by output dims), so each tile's row max and P cross the two warpgroups through shared memory and two
barriers, the tensor cores idle during every softmax (ncu, round 7: 34% of stalls at CTA barriers), and both
warpgroups read all of Q for their halves of S (192 KB of shared-memory reads a tile for QK). Here, as in
FlashMLA's dense decode kernel (one [64, 512] accumulator per SM, split into halves O_L and O_R by output dims):

- the lead warpgroup (O_L) computes the whole S of the even tile a of each pair, the follow warpgroup (O_R) that of
  the odd tile b, so a row max never crosses warpgroups and Q is read once a tile;
- the lead publishes P_a and its running max m_a; the follow's softmax of b runs against m_b = max(m_a, its row
  max) while the lead's P_a·V_a[:, L] occupies the tensor cores; the follow publishes P_b and m_b;
- each warpgroup adds both tiles to its half: its own P from registers (wgmma with A in registers), the other's
  from shared memory, rescaling its half between the two products.

The ring has two 64-entry slots (Q and two slots fill the 227 KB), or four 32-entry slots (round 12: the next
pair's copies in flight beside the pair in use); pair j takes slot pair j % (RING / 2), tile a the even slot.
Each slot is handed over in two halves of 256 dims (ready and free barriers per half), so the copy of a later
pair's tile a starts as soon as its first half is free, not when the whole pair is done:
tile a's lower half is read by the lead only (QK, P_a·V_a[:, L]); its upper half by the lead's QK and the
follow's P_a·V_a[:, R]; tile b's lower half by the follow's QK and the lead's P_b·V_b[:, L]; its upper half by
the follow only.

A split's partial is written as the warp-specialized kernel's (bf16 [64, 512] plus (max, denominator) in base 2),
so split_combine.py finishes the job. bf16 rows only (fp8 rows take the warp-specialized kernel).
An odd tile count pairs its last tile with a masked tile b that is neither copied nor multiplied.

Tried in round 12 and reverted (bench/results/kernels-h200-2026-11-29-round12.md, calls 5-7): merging the two
splits of Pro B=32 inside this launch (a ticket counter, the second split waiting for the first's bf16 partial):
43.4 µs against 30.8 with the combine launch, the protocol alone +7.7 µs (and launches that did not repeat bit for
bit: its two products were contracted into an fma in role order, not split order).

Measured (bench/results/kernels-h200-2026-11-29-round11*.md): Pro B=32 at 1M 30.4-30.8 µs against 32.8-33.1 for
the warp-specialized kernel in the same runs, Flash B=32 16.0-16.2 against 16.9-17.4. Without copies it would take
~25 (call 2): its loop now waits on the ring's refills, which two slots beside Q cannot hide.
"""

from __future__ import annotations

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy
from triton.experimental.gluon.language.nvidia.hopper import (
    fence_async_shared,
    mbarrier,
    warpgroup_mma,
    warpgroup_mma_wait,
)

from wholerepo.kernels import sparse_attention_hopper as hopper
from wholerepo.kernels.sparse_attention_hopper import (
    PRODUCER_REGS,
    PRODUCER_WARPS,
    SKIP_COPY,
    SKIP_PV,
    SKIP_QK,
    SKIP_STORE,
    _copy_q,
    _cta_barrier,
    _entry_live,
    _entry_rows,
    _issue_rows,
    _program_work,
    _store_bf16_rows,
)

MATH_WARPS = gl.constexpr(4)  # each math warpgroup: the launch's num_warps is the lead's (the default partition)
FOLLOW_REGS = gl.constexpr(232)  # the lead gets what is left: (MAXNREG * 12 warps - 4 * (232 + 40)) / 4 = 232
MAXNREG = 168  # 65,536 registers over 12 warps at launch
SLOT_SHAPES = ((64, 2), (32, 4))  # (entries a slot, slots) the ring comes in: Q and either fill the 227 KB


@gluon.jit
def _copy_tile(ring, s, free, ready, phase, e0, hi, pos, ind_b, win_b, comp_b, stride_wr, stride_cr,
               WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr, BLOCK_E: gl.constexpr, layout: gl.constexpr,
               SKIP: gl.constexpr):
    """The tile at entry e0 into slot s (its halves' barriers are 2s and 2s + 1), each half once its `free`
    barrier passes the phase (every copier thread arrives on the half's `ready` when its copies land)."""
    is_win, row, valid = _entry_rows(e0, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, gl.SliceLayout(1, layout))
    for half in gl.static_range(2):
        mbarrier.wait(free.index(2 * s + half), phase)
        if not SKIP & SKIP_COPY:
            _issue_rows(ring.index(s).slice(half * (D // 2), D // 2, dim=1), win_b, comp_b, is_win, row, valid,
                        stride_wr, stride_cr, half * (D // 2), D // 2, layout)
        async_copy.mbarrier_arrive(ready.index(2 * s + half), increment_count=False)


@gluon.jit
def _seesaw_copier(ring, q_smem, ready, free, q_ready, q_b, win_b, comp_b, ind_b, pos, lo, hi, n_tiles, stride_qh,
                   stride_wr, stride_cr, WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr,
                   BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr, SKIP: gl.constexpr):
    """Copy partition: Q, then tile t into slot t % 2 (`_copy_tile`). Q comes in halves, each before the same half
    of tile 0, so the first QK starts on 32 + 32 KB instead of 64 + 32; tile 1 follows into its fresh slot.
    (An L2 prefetch of the rows 2-4 tiles ahead, `cp.async.bulk.prefetch.L2`, made Pro B=32 1.9-5.4 µs slower:
    round 11, calls 5-6.)"""
    copy_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [gl.num_warps(), 1], [1, 0])
    rows_layout: gl.constexpr = gl.SliceLayout(1, copy_layout)
    HD: gl.constexpr = D // 2
    RING: gl.constexpr = ring.shape[0]
    is_win, row, valid = _entry_rows(lo, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, rows_layout)
    for half in gl.static_range(2):  # tile 0 (its slot is fresh: no wait), each half after that half of Q
        _copy_q(q_smem.slice(half * HD, HD, dim=1), q_ready.index(half), q_b + half * HD, stride_qh, BLOCK_H, HD,
                copy_layout, SKIP)
        if not SKIP & SKIP_COPY:
            _issue_rows(ring.index(0).slice(half * HD, HD, dim=1), win_b, comp_b, is_win, row, valid, stride_wr,
                        stride_cr, half * HD, HD, copy_layout)
        async_copy.mbarrier_arrive(ready.index(half), increment_count=False)
    # tile 1 (fresh slot; past the split's end it is all masked and nobody waits for it)
    _copy_tile(ring, 1, free, ready, 1, lo + BLOCK_E, hi, pos, ind_b, win_b, comp_b, stride_wr, stride_cr, WIN,
               WINDOW, D, BLOCK_E, copy_layout, SKIP)
    for t in range(2, n_tiles):  # (tiles before RING land in fresh slots: waiting on phase 1 returns at once)
        _copy_tile(ring, t % RING, free, ready, ((t // RING) & 1) ^ 1, lo + t * BLOCK_E, hi, pos, ind_b, win_b,
                   comp_b, stride_wr, stride_cr, WIN, WINDOW, D, BLOCK_E, copy_layout, SKIP)
    async_copy.wait_group(0)  # (a masked tile 1 past the split's end is still being zero-filled)


@gluon.jit
def _qk(q_smem, q_ready, kv, ready, first, phase, s_init, D: gl.constexpr, SKIP: gl.constexpr):
    """S = Q·Kᵀ of the tile in `kv`, its lower 256 dims issued as soon as they (and Q's) land, the upper ones after
    (SKIP_QK, probes only: S = 0). Q's barriers complete once: waiting on them again returns at once."""
    HD: gl.constexpr = D // 2
    mbarrier.wait(q_ready.index(0), 0)
    mbarrier.wait(ready.index(first), phase)
    fence_async_shared()  # cp.async wrote through the generic proxy, wgmma reads through the async one
    if SKIP & SKIP_QK:
        mbarrier.wait(ready.index(first + 1), phase)
        return s_init
    s = warpgroup_mma(q_smem.slice(0, HD, dim=1), kv.slice(0, HD, dim=1).permute((1, 0)), s_init, use_acc=False,
                      is_async=True)
    mbarrier.wait(q_ready.index(1), 0)
    mbarrier.wait(ready.index(first + 1), phase)
    fence_async_shared()
    s = warpgroup_mma(q_smem.slice(HD, HD, dim=1), kv.slice(HD, HD, dim=1).permute((1, 0)), s, is_async=True)
    return warpgroup_mma_wait(num_outstanding=0, deps=(s,))


@gluon.jit
def _pv(p, v, acc, SKIP: gl.constexpr):
    """acc += P·V, waited (SKIP_PV, probes only: left out)."""
    if SKIP & SKIP_PV:
        return acc
    acc = warpgroup_mma(p, v, acc, is_async=True)
    return warpgroup_mma_wait(num_outstanding=0, deps=(acc,))


@gluon.jit
def _finite(m):
    """A running max with -inf (nothing live yet) as 0, so exp2 of differences stays finite."""
    return gl.where(m == float("-inf"), 0.0, m)


@gluon.jit
def _publish(p_buf, m_buf, p, m, bar):
    """P (bf16) and the running max into shared memory for the other warpgroup, then one arrive on `bar` once
    every thread of this warpgroup has written (and fenced P for the other's wgmma)."""
    p_buf.store(p)
    m_buf.store(m)
    fence_async_shared()
    _cta_barrier()  # inside a partition: this warpgroup's warps only
    mbarrier.arrive(bar, count=1)


@gluon.constexpr_function
def _s_layout(BLOCK_E):
    """One math warpgroup's S [64, BLOCK_E] as wgmma leaves it."""
    return gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_E, 16])


@gluon.constexpr_function
def _o_layout(D):
    """One math warpgroup's half accumulator [64, D/2] as wgmma leaves it."""
    return gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, D // 2, 16])


@gluon.jit
def _math_state(BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr, D: gl.constexpr):
    """A math warpgroup's start: (running max -inf, denominator 0, half accumulator 0, S's zero init)."""
    rows: gl.constexpr = gl.SliceLayout(1, _s_layout(BLOCK_E))
    return (gl.full([BLOCK_H], float("-inf"), gl.float32, layout=rows), gl.zeros([BLOCK_H], gl.float32, layout=rows),
            gl.zeros([BLOCK_H, D // 2], gl.float32, layout=_o_layout(D)),
            gl.zeros([BLOCK_H, BLOCK_E], gl.float32, layout=_s_layout(BLOCK_E)))


@gluon.jit
def _rows_of(f, acc):
    """Per-row factors f (S's row layout) as a column that scales the accumulator's rows."""
    return gl.convert_layout(f, gl.SliceLayout(1, acc.type.layout))[:, None]


@gluon.jit
def _operand_a(p, acc):
    """P in registers as the A operand of a wgmma into `acc` (no shared memory)."""
    return gl.convert_layout(p, gl.DotOperandLayout(operand_index=0, parent=acc.type.layout, k_width=2))


@gluon.jit
def _pair_views(ring, q_smem, j, zero):
    """(barrier phase, first half-slot barrier, tile a's slot, tile b's slot, Q) of pair j: pairs take the ring's
    slot pairs in turn (slots 2i and 2i + 1, half-slot barriers 4i..4i + 3). Indexed by a run-time zero: with
    loop-invariant slots the compiler hoisted all 32 QK steps' wgmma descriptors out of the loop and ptxas spilled
    them (round 7)."""
    PAIRS: gl.constexpr = ring.shape[0] // 2
    i = j % PAIRS + j * zero
    return (j // PAIRS) & 1, 4 * i, ring.index(2 * i), ring.index(2 * i + 1), q_smem.index(j * zero)


@gluon.jit
def _seesaw_lead(ring, q_smem, p_smem, m_smem, l_smem, ready, free, q_ready, a_ready, b_ready, done, ind_b, pos, lo,
                 hi, n_tiles, scale_log2, zero, acc_b, h0, stride_ah, WIN: gl.constexpr, WINDOW: gl.constexpr,
                 D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr, SKIP: gl.constexpr):
    """Lead warpgroup (output dims 0..D/2-1, the default partition): per pair, S of tile a, its softmax against the
    running max, P_a and m_a published; O_L·alpha + P_a·V_a[:, L] (P_a from registers) while the follow scores
    tile b; then, on P_b and m_b, O_L·beta + P_b·V_b[:, L]. Returns O_L, the final max and the whole denominator."""
    s_layout: gl.constexpr = _s_layout(BLOCK_E)
    HD: gl.constexpr = D // 2
    m, den, acc, s_init = _math_state(BLOCK_H, BLOCK_E, D)
    for j in range(gl.cdiv(n_tiles, 2)):
        phase, hb, kv_a, kv_b, q = _pair_views(ring, q_smem, j, zero)
        _, _, live = _entry_live(lo + 2 * j * BLOCK_E, hi, pos, ind_b, WIN, WINDOW, BLOCK_E, gl.SliceLayout(0, s_layout))
        s = _qk(q, q_ready, kv_a, ready, hb, phase, s_init, D, SKIP)
        async_copy.mbarrier_arrive(free.index(hb + 1), increment_count=False)  # a's upper half: the lead's QK is done
        s = gl.where(live[None, :], s * scale_log2, float("-inf"))
        m_a = gl.maximum(m, gl.max(s, axis=1))
        m_a_fin = _finite(m_a)
        p = gl.exp2(s - m_a_fin[:, None])
        alpha = gl.exp2(m - m_a_fin)
        den = den * alpha + gl.sum(p, axis=1)
        p16 = p.to(gl.bfloat16)
        _publish(p_smem.index(hb // 2), m_smem.index(0), p16, m_a, a_ready)
        acc = acc * _rows_of(alpha, acc)
        if not SKIP & SKIP_PV:
            acc = warpgroup_mma(_operand_a(p16, acc), kv_a.slice(0, HD, dim=1), acc, is_async=True)
        mbarrier.wait(b_ready, j & 1)
        m_b = m_smem.index(1).load(m.type.layout)
        if not SKIP & SKIP_PV:
            acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        async_copy.mbarrier_arrive(free.index(hb), increment_count=False)  # a's lower half: the lead is done
        beta = gl.exp2(m_a - _finite(m_b))  # (running maxima as they are, -inf included: exp2 gives 0)
        den = den * beta
        acc = acc * _rows_of(beta, acc)
        fence_async_shared()
        if 2 * j + 1 < n_tiles:  # (an odd count's last tile b is masked: nothing to add)
            acc = _pv(p_smem.index(hb // 2 + 1), kv_b.slice(0, HD, dim=1), acc, SKIP)
        async_copy.mbarrier_arrive(free.index(hb + 2), increment_count=False)  # b's lower half: P_b·V_b[:, L] done
        m = m_b
    # Q is idle once both warpgroups are past their last QK (the follow's was done before it published P_b): its
    # lower half stages O_L, written while the follow finishes its products
    if not SKIP & SKIP_STORE:
        _store_bf16_rows(acc, q_smem.index(0).slice(0, HD, dim=1), acc_b, h0, 0, stride_ah, BLOCK_H, HD)
    mbarrier.wait(done, 0)  # the follow's denominator
    return m, den + l_smem.load(m.type.layout)


@gluon.jit
def _seesaw_follow(ring, q_smem, p_smem, m_smem, l_smem, ready, free, q_ready, a_ready, b_ready, done, ind_b, pos,
                   lo, hi, n_tiles, scale_log2, zero, acc_b, h0, stride_ah, WIN: gl.constexpr, WINDOW: gl.constexpr,
                   D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr, SKIP: gl.constexpr):
    """Follow warpgroup (output dims D/2..D-1): per pair, S of tile b; on m_a, its softmax against
    m_b = max(m_a, its row max), P_b and m_b published; O_R·alpha + P_a·V_a[:, R] (P_a from shared memory), then
    O_R·beta + P_b·V_b[:, R] (P_b from registers). Writes its half of the partial (bf16) and hands its
    denominator to the lead."""
    s_layout: gl.constexpr = _s_layout(BLOCK_E)
    HD: gl.constexpr = D // 2
    m, den, acc, s_init = _math_state(BLOCK_H, BLOCK_E, D)
    for j in range(gl.cdiv(n_tiles, 2)):
        phase, hb, kv_a, kv_b, q = _pair_views(ring, q_smem, j, zero)
        _, _, live = _entry_live(lo + (2 * j + 1) * BLOCK_E, hi, pos, ind_b, WIN, WINDOW, BLOCK_E,
                                 gl.SliceLayout(0, s_layout))
        if 2 * j + 1 < n_tiles:  # noqa: SIM108 - Gluon takes a run-time if, not a conditional expression
            s = _qk(q, q_ready, kv_b, ready, hb + 2, phase, s_init, D, SKIP)
        else:  # an odd count's last tile b: not copied, all masked below
            s = s_init
        async_copy.mbarrier_arrive(free.index(hb + 2), increment_count=False)  # b's lower half: the follow's QK is done
        s = gl.where(live[None, :], s * scale_log2, float("-inf"))
        mbarrier.wait(a_ready, j & 1)
        m_a = m_smem.index(0).load(m.type.layout)
        alpha = gl.exp2(m - _finite(m_a))
        m_b = gl.maximum(m_a, gl.max(s, axis=1))
        m_b_fin = _finite(m_b)
        p = gl.exp2(s - m_b_fin[:, None])
        beta = gl.exp2(m_a - m_b_fin)
        p16 = p.to(gl.bfloat16)
        _publish(p_smem.index(hb // 2 + 1), m_smem.index(1), p16, m_b, b_ready)
        den = den * alpha * beta + gl.sum(p, axis=1)
        acc = acc * _rows_of(alpha, acc)
        fence_async_shared()
        acc = _pv(p_smem.index(hb // 2), kv_a.slice(HD, HD, dim=1), acc, SKIP)
        async_copy.mbarrier_arrive(free.index(hb + 1), increment_count=False)  # a's upper half: P_a·V_a[:, R] done
        acc = acc * _rows_of(beta, acc)
        if 2 * j + 1 < n_tiles:
            acc = _pv(_operand_a(p16, acc), kv_b.slice(HD, HD, dim=1), acc, SKIP)
        async_copy.mbarrier_arrive(free.index(hb + 3), increment_count=False)  # b's upper half: the follow is done
        m = m_b
    # Q is idle once both warpgroups are past their last QK (the follow's last products waited on the lead's P_a,
    # published after the lead's last QK): its upper half stages O_R
    if not SKIP & SKIP_STORE:
        _store_bf16_rows(acc, q_smem.index(0).slice(HD, HD, dim=1), acc_b, h0, HD, stride_ah, BLOCK_H, HD)
    l_smem.store(den)
    _cta_barrier()
    mbarrier.arrive(done, count=1)


@gluon.jit(do_not_specialize=["zero"])
def _sparse_attn_seesaw_kernel(
    q_ptr, win_ptr, comp_ptr, ind_ptr, pos_ptr, acc_ptr, ml_ptr,
    H, K, split_len, win_mod, scale_log2,
    stride_qb, stride_qh, stride_wb, stride_wr, stride_cb, stride_cr, stride_ib,
    stride_ab, stride_ah, stride_as, stride_mb, stride_mh, stride_ms, zero,
    WIN: gl.constexpr, WINDOW: gl.constexpr, D: gl.constexpr, BLOCK_H: gl.constexpr, BLOCK_E: gl.constexpr,
    RING: gl.constexpr, SKIP: gl.constexpr,
):
    """One program: BLOCK_H heads of one query over one split of its entries (as `_sparse_attn_ws_kernel`, with
    the seesaw schedule: module docstring) through a ring of RING slots (2 of 64 entries or 4 of 32: one pair in
    flight beside the pair in use); `zero` is 0, passed at run time (see `_pair_views`)."""
    tile_layout: gl.constexpr = gl.NVMMASharedLayout(swizzle_byte_width=128, element_bitwidth=16, rank=2)
    p_layout: gl.constexpr = gl.NVMMASharedLayout(swizzle_byte_width=min(128, 2 * BLOCK_E), element_bitwidth=16,
                                                  rank=2)
    vec: gl.constexpr = gl.SwizzledSharedLayout(1, 1, 1, order=[0])
    b, h0, split, pos, lo, hi, n_tiles = _program_work(H, K, split_len, pos_ptr, WIN, BLOCK_H, BLOCK_E)
    ind_b = ind_ptr + b * stride_ib
    acc_b = acc_ptr + b * stride_ab + split * stride_as

    ring = gl.allocate_shared_memory(gl.bfloat16, [RING, BLOCK_E, D], tile_layout)
    q_smem = gl.allocate_shared_memory(gl.bfloat16, [1, BLOCK_H, D], tile_layout)
    # P_a and P_b per slot pair: with two pairs in the ring, only the ring's free barriers of the same slots order
    # the lead's next P_a after the follow's last read of it
    p_smem = gl.allocate_shared_memory(gl.bfloat16, [RING, BLOCK_H, BLOCK_E], p_layout)
    m_smem = gl.allocate_shared_memory(gl.float32, [2, BLOCK_H], vec)
    l_smem = gl.allocate_shared_memory(gl.float32, [BLOCK_H], vec)
    ready = gl.allocate_shared_memory(gl.int64, [2 * RING, 1], mbarrier.MBarrierLayout())
    free = gl.allocate_shared_memory(gl.int64, [2 * RING, 1], mbarrier.MBarrierLayout())
    q_ready = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())  # Q's halves
    sync = gl.allocate_shared_memory(gl.int64, [3, 1], mbarrier.MBarrierLayout())
    a_ready, b_ready, done = sync.index(0), sync.index(1), sync.index(2)
    for i in gl.static_range(2 * RING):
        mbarrier.init(ready.index(i), count=PRODUCER_WARPS * 32)
    for i in gl.static_range(0, 2 * RING, 4):  # per slot pair: who reads each half (module docstring)
        mbarrier.init(free.index(i), count=MATH_WARPS * 32)
        mbarrier.init(free.index(i + 1), count=2 * MATH_WARPS * 32)
        mbarrier.init(free.index(i + 2), count=2 * MATH_WARPS * 32)
        mbarrier.init(free.index(i + 3), count=MATH_WARPS * 32)
    mbarrier.init(q_ready.index(0), count=PRODUCER_WARPS * 32)
    mbarrier.init(q_ready.index(1), count=PRODUCER_WARPS * 32)
    mbarrier.init(a_ready, count=1)
    mbarrier.init(b_ready, count=1)
    mbarrier.init(done, count=1)

    m_i, den = gl.warp_specialize([
        (_seesaw_lead, (ring, q_smem, p_smem, m_smem, l_smem, ready, free, q_ready, a_ready, b_ready, done, ind_b,
                        pos, lo, hi, n_tiles, scale_log2, zero, acc_b, h0, stride_ah, WIN, WINDOW, D, BLOCK_H,
                        BLOCK_E, SKIP)),
        (_seesaw_follow, (ring, q_smem, p_smem, m_smem, l_smem, ready, free, q_ready, a_ready, b_ready, done, ind_b,
                          pos, lo, hi, n_tiles, scale_log2, zero, acc_b, h0, stride_ah, WIN, WINDOW, D, BLOCK_H,
                          BLOCK_E, SKIP)),
        (_seesaw_copier, (ring, q_smem.index(0), ready, free, q_ready, q_ptr + b * stride_qb + h0 * stride_qh,
                          win_ptr + b * stride_wb, comp_ptr + b * stride_cb, ind_b, pos, lo, hi, n_tiles,
                          stride_qh, stride_wr, stride_cr, WIN, WINDOW, D, BLOCK_H, BLOCK_E, SKIP)),
    ], [MATH_WARPS, PRODUCER_WARPS], [FOLLOW_REGS, PRODUCER_REGS])
    ml = ml_ptr + b * stride_mb + split * stride_ms + (h0 + gl.arange(0, BLOCK_H, layout=m_i.type.layout)) * stride_mh
    gl.store(ml, m_i)
    gl.store(ml + 1, den)


def launch(grid: tuple[int, int], args: tuple, *, window: int, window_mode: int, dim: int, block_e: int,
           ring: int = 2) -> None:
    """Launch over `grid` with the warp-specialized kernel's runtime arguments (bf16 rows, bf16 partials)."""
    _sparse_attn_seesaw_kernel[grid](*args, 0, WIN=window, WINDOW=window_mode, D=dim, BLOCK_H=hopper.BLOCK_H,
                                     BLOCK_E=block_e, RING=ring, SKIP=hopper.PROBE_SKIP, num_warps=MATH_WARPS.value,
                                     maxnreg=MAXNREG)
