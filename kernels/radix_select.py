"""Exact top-k of fp32 score rows by radix select, in Triton: the select half of kernels/index_topk.py.

Keys are the scores' order-preserving uint32 bits, taken in 4 digits of 8 bits. Digit 0 is histogrammed
by the scores kernel, digit 1 by `_radix_pass_kernel` (all keys whose digit 0 matches). Then, by default,
one `_radix_compact_kernel` launch finishes the row: every key above the 16-bit prefix goes straight to
its output slot, the keys equal to it (1-29 of 262,144 per row on random scores at 1M) are appended to a
small candidate list, and the last program of the row to finish (atomic counter) selects the rest among
them: by all-pairs rank up to RANK_MAX candidates, else by digits 2 and 3. If more than `cap` keys share
the prefix (ties, adversarial rows) it runs digits 2 and 3 over the whole row instead: slower, still exact.
The older path (`compact=False`: one full pass per digit, then a select pass) is kept for the bench.
No host round trip anywhere: the whole select is CUDA-graph capturable. Ties are taken in any order.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

N_DIGITS, N_BINS = 4, 256  # 4 digits of 8 bits: tl.histogram's warp-ballot cost grows with its bin count
N_STATE = N_DIGITS * N_BINS  # then (prefix, k left) per level, then the counters below
HIST_WORDS = N_STATE + 2 * (N_DIGITS + 1) + 3
DIGIT_BITS = tl.constexpr(8)
BINS = tl.constexpr(N_BINS)
DIGITS = tl.constexpr(N_DIGITS)
STATE = tl.constexpr(N_STATE)
COUNTS = tl.constexpr(N_STATE + 2 * (N_DIGITS + 1))  # [gt slots taken, eq slots/candidates taken, done]
PASS_BLOCK = 2048  # scores per program in the select passes
CAND_CAP = 4096  # candidate list per row; past it the finishing program scans the whole row
RANK_MAX = 128  # up to this many candidates (~40 at 1M on random scores) are ranked by comparison
COMPACT_PROGRAMS = 264  # compact-kernel programs in all (2 per SM); each loops over its share of blocks
SCATTER_MAX = 256  # digit-1 pass: blocks with ≤ this many matching keys skip tl.histogram (0: always use it)


@triton.jit
def _order_key(s):
    """fp32 -> uint32 whose unsigned order is the float order (-inf lowest)."""
    u = s.to(tl.uint32, bitcast=True)
    flip = tl.where((u >> 31) == 1, 0xFFFFFFFF, 0x80000000).to(tl.uint32)
    return u ^ flip


@triton.jit
def _pick(h, k_rem, NB: tl.constexpr):
    """Largest digit d with count(digit >= d) >= k_rem; returns (d, k_rem - count(digit > d))."""
    offs = tl.arange(0, NB)
    total = tl.sum(h, axis=0)
    greater = total - tl.cumsum(h, axis=0)  # count with digit > d
    d = tl.max(tl.where(greater + h >= k_rem, offs, -1), axis=0)
    above = tl.sum(tl.where(offs > d, h, 0), axis=0)
    return d, k_rem - above


@triton.jit
def _next_prefix(row, pos, topk, N, LEVEL: tl.constexpr, RATIO: tl.constexpr):
    """Digits 0..LEVEL-1 of the k-th largest key, and how many keys equal to that prefix remain to take.

    Digit LEVEL-1 comes from histogram LEVEL-1 (complete: the previous launch wrote it); the digits before
    it from the state the previous launch stored, so each launch picks one digit, not LEVEL of them.
    """
    n_vis = tl.minimum((pos + 1) // RATIO, N)
    k_eff = tl.minimum(topk, n_vis)
    if LEVEL == 1:
        prev_prefix = tl.zeros([], tl.uint32)
        prev_k = k_eff
    else:
        prev_prefix = tl.load(row + STATE + 2 * (LEVEL - 1)).to(tl.uint32, bitcast=True)
        prev_k = tl.load(row + STATE + 2 * (LEVEL - 1) + 1)
    d, k_rem = _pick(tl.load(row + (LEVEL - 1) * BINS + tl.arange(0, BINS)), prev_k, BINS)
    prefix = (prev_prefix << DIGIT_BITS) | d.to(tl.uint32)
    first = tl.program_id(1) == 0
    tl.store(row + STATE + 2 * LEVEL, prefix.to(tl.int32, bitcast=True), mask=first)
    tl.store(row + STATE + 2 * LEVEL + 1, k_rem, mask=first)
    return prefix, k_rem, k_eff, n_vis


@triton.jit
def _radix_pass_kernel(
    scores_ptr, pos_ptr, hist_ptr, topk, N, stride_sb, stride_hb,
    LEVEL: tl.constexpr, RATIO: tl.constexpr, BLOCK: tl.constexpr, SCATTER_MAX: tl.constexpr = 0,
):
    """Histogram digit LEVEL (bits 31-8·LEVEL .. 24-8·LEVEL) of the keys whose higher digits match.

    Kept out of the scores kernel: there the scores sit in the dot's reduced layout, replicated across
    threads, and tl.histogram took 62 of its 89 µs at batch 1, 1M (H200 probe); a pass here takes ~4 µs.
    SCATTER_MAX > 0 (levels ≥ 1): a block with at most that many matching keys adds them one relaxed
    atomic each (REDG, no return) instead of tl.histogram, whose warp ballots over all 256 bins made the
    pass ALU-bound at batch 32 (H200, 1M: 52.8 -> 38.5 µs); a block with more matches (ties, adversarial
    rows) keeps the histogram, so neither way can blow up.
    """
    b = tl.program_id(0).to(tl.int64)
    pos = tl.load(pos_ptr + b)
    row = hist_ptr + b * stride_hb
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    if LEVEL == 0:
        n_vis = tl.minimum((pos + 1) // RATIO, N)
        valid = offs < n_vis
        key = _order_key(tl.load(scores_ptr + b * stride_sb + offs, mask=valid, other=0.0))
        match = valid
    else:
        prefix, k_rem, k_eff, n_vis = _next_prefix(row, pos, topk, N, LEVEL, RATIO)
        valid = offs < n_vis
        key = _order_key(tl.load(scores_ptr + b * stride_sb + offs, mask=valid, other=0.0))
        match = valid & ((key >> (32 - DIGIT_BITS * LEVEL)) == prefix)
    digit = (key >> (24 - DIGIT_BITS * LEVEL)) & (BINS - 1)
    if SCATTER_MAX > 0 and LEVEL > 0:
        if tl.sum(match.to(tl.int32), axis=0) <= SCATTER_MAX:
            tl.atomic_add(row + LEVEL * BINS + digit, tl.full([BLOCK], 1, tl.int32), mask=match, sem="relaxed")
        else:
            h = tl.histogram(digit.to(tl.int32), BINS, mask=match)
            tl.atomic_add(row + LEVEL * BINS + tl.arange(0, BINS), h, mask=h > 0)
    else:
        h = tl.histogram(digit.to(tl.int32), BINS, mask=match)
        tl.atomic_add(row + LEVEL * BINS + tl.arange(0, BINS), h, mask=h > 0)


@triton.jit
def _radix_select_kernel(
    scores_ptr, pos_ptr, hist_ptr, out_ptr, topk, N, stride_sb, stride_hb, stride_ob,
    RATIO: tl.constexpr, BLOCK: tl.constexpr, OUT_BLOCK: tl.constexpr,
):
    """Write every index with key > threshold, then the first `need_eq` ties; slots past k_eff get -1."""
    b = tl.program_id(0).to(tl.int64)
    pos = tl.load(pos_ptr + b)
    row = hist_ptr + b * stride_hb
    threshold, need_eq, k_eff, n_vis = _next_prefix(row, pos, topk, N, DIGITS, RATIO)
    n_gt = k_eff - need_eq
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    valid = offs < n_vis
    key = _order_key(tl.load(scores_ptr + b * stride_sb + offs, mask=valid, other=0.0))
    gt = valid & (key > threshold)
    eq = valid & (key == threshold)
    both = gt.to(tl.int32) + (eq.to(tl.int32) << 16)  # one scan for both counts (BLOCK < 2^16)
    run = tl.cumsum(both, axis=0)
    total = tl.sum(both, axis=0)
    base_gt = tl.atomic_add(row + COUNTS, total & 0xFFFF)
    base_eq = tl.atomic_add(row + COUNTS + 1, total >> 16)
    slot_gt = base_gt + (run & 0xFFFF) - 1
    slot_eq = base_eq + (run >> 16) - 1
    out_row = out_ptr + b * stride_ob
    tl.store(out_row + slot_gt, offs, mask=gt & (slot_gt < n_gt))
    tl.store(out_row + n_gt + slot_eq, offs, mask=eq & (slot_eq < need_eq))
    if tl.program_id(1) == 0:
        _pad(out_row, k_eff, topk, OUT_BLOCK)


@triton.jit
def _pad(out_row, k_eff, topk, OUT_BLOCK: tl.constexpr):
    for o in range(0, tl.cdiv(topk, OUT_BLOCK)):
        offs_o = o * OUT_BLOCK + tl.arange(0, OUT_BLOCK)
        tl.store(out_row + offs_o, tl.full([OUT_BLOCK], -1, tl.int32), mask=(offs_o >= k_eff) & (offs_o < topk))


@triton.jit
def _tail_chunk(c, use_cand, n_cand, n_vis, prefix, srow, crow_i, crow_k, CAP: tl.constexpr):
    """Chunk c of the keys that share the 16-bit prefix: from the candidate list, or from the whole row."""
    offs = c + tl.arange(0, CAP)
    if use_cand:
        live = offs < n_cand
        key = tl.load(crow_k + offs, mask=live, other=0, cache_modifier=".cg").to(tl.uint32, bitcast=True)
        idx = tl.load(crow_i + offs, mask=live, other=0, cache_modifier=".cg")
    else:
        valid = offs < n_vis
        key = _order_key(tl.load(srow + offs, mask=valid, other=0.0, cache_modifier=".cg"))
        live = valid & ((key >> 16) == prefix)
        idx = offs.to(tl.int32)
    return key, idx, live


@triton.jit
def _emit(key, offs, valid, prefix, n_gt, row, out_row, crow_i, crow_k, CAP: tl.constexpr, BLOCK: tl.constexpr):
    """Keys above the 16-bit prefix to their output slots, keys equal to it to the candidate list."""
    gt = valid & ((key >> 16) > prefix)
    eq = valid & ((key >> 16) == prefix)
    # one atomic per selected key (~550 per row) instead of a block scan (the scan cost ~45 µs at batch 32);
    # relaxed: acq_rel put a MEMBAR.GPU before each one (SASS), the `done` atomic orders them all
    zero = tl.zeros([BLOCK], tl.int32)
    slot = tl.atomic_add(row + COUNTS + zero, 1, mask=gt, sem="relaxed")
    tl.store(out_row + slot, offs, mask=gt & (slot < n_gt))
    cs = tl.atomic_add(row + COUNTS + 1 + zero, 1, mask=eq, sem="relaxed")
    tl.store(crow_i + cs, offs, mask=eq & (cs < CAP))
    tl.store(crow_k + cs, key.to(tl.int32, bitcast=True), mask=eq & (cs < CAP))


@triton.jit
def _finish_by_rank(n_cand, k_rem, n_gt, crow_i, crow_k, out_row, RANK: tl.constexpr):
    """≤ RANK candidates: rank each by comparison (ties broken by list position) and keep rank < k_rem."""
    offs = tl.arange(0, RANK)
    live = offs < n_cand
    key = tl.load(crow_k + offs, mask=live, other=0, cache_modifier=".cg").to(tl.uint32, bitcast=True)
    idx = tl.load(crow_i + offs, mask=live, other=0, cache_modifier=".cg")
    beats = (key[None, :] > key[:, None]) | ((key[None, :] == key[:, None]) & (offs[None, :] < offs[:, None]))
    rank = tl.sum((beats & live[None, :]).to(tl.int32), axis=1)
    tl.store(out_row + n_gt + rank, idx, mask=live & (rank < k_rem))


@triton.jit
def _radix_compact_kernel(
    scores_ptr, pos_ptr, hist_ptr, out_ptr, cidx_ptr, ckey_ptr, topk, N, iters,
    stride_sb, stride_hb, stride_ob, stride_cb,
    RATIO: tl.constexpr, BLOCK: tl.constexpr, CAP: tl.constexpr, RANK: tl.constexpr, CB: tl.constexpr,
    OUT_BLOCK: tl.constexpr,
):
    """Emit keys above the 16-bit prefix, collect the keys equal to it; the row's last program selects
    the remaining k_rem among those and pads with -1. Each program takes `iters` consecutive blocks,
    loading the next block before the current one's atomics (one wave of programs at batch 32: the
    per-program chain load -> atomics -> release, not bandwidth, set the time of a 1-block-per-program grid)."""
    b = tl.program_id(0).to(tl.int64)
    pos = tl.load(pos_ptr + b)
    row = hist_ptr + b * stride_hb
    prefix, k_rem, k_eff, n_vis = _next_prefix(row, pos, topk, N, 2, RATIO)
    n_gt = k_eff - k_rem  # exactly the keys whose top 16 bits exceed the prefix
    srow = scores_ptr + b * stride_sb
    out_row = out_ptr + b * stride_ob
    crow_i, crow_k = cidx_ptr + b * stride_cb, ckey_ptr + b * stride_cb
    first = tl.program_id(1) * iters * BLOCK
    offs = first + tl.arange(0, BLOCK)
    valid = offs < n_vis
    key = _order_key(tl.load(srow + offs, mask=valid, other=0.0))
    for _ in range(1, iters):
        offs_next = offs + BLOCK
        valid_next = offs_next < n_vis
        key_next = _order_key(tl.load(srow + offs_next, mask=valid_next, other=0.0))
        _emit(key, offs, valid, prefix, n_gt, row, out_row, crow_i, crow_k, CAP, BLOCK)
        offs, valid, key = offs_next, valid_next, key_next
    _emit(key, offs, valid, prefix, n_gt, row, out_row, crow_i, crow_k, CAP, BLOCK)
    tl.debug_barrier()  # every thread's stores precede this program's release below
    done = tl.atomic_add(row + COUNTS + 2, 1, sem="acq_rel")
    if done == tl.num_programs(1) - 1:
        n_cand = tl.atomic_add(row + COUNTS + 1, 0, sem="acq_rel")
        if n_cand <= RANK:
            _finish_by_rank(n_cand, k_rem, n_gt, crow_i, crow_k, out_row, RANK)
        else:
            _finish_by_radix(n_cand, k_rem, k_eff, n_gt, n_vis, prefix, srow, crow_i, crow_k, out_row, CAP, CB)
        _pad(out_row, k_eff, topk, OUT_BLOCK)


@triton.jit
def _finish_by_radix(n_cand, k_rem, k_eff, n_gt, n_vis, prefix, srow, crow_i, crow_k, out_row,
                     CAP: tl.constexpr, CB: tl.constexpr):
    """Digits 2 and 3 over the candidates (or, past CAP of them, over the whole row), then the select."""
    use_cand = n_cand <= CAP
    n_items = tl.where(use_cand, n_cand, n_vis)
    h = tl.zeros([BINS], tl.int32)
    for c in range(0, n_items, CB):
        tk, ti, tv = _tail_chunk(c, use_cand, n_cand, n_vis, prefix, srow, crow_i, crow_k, CB)
        h += tl.histogram(((tk >> 8) & 255).to(tl.int32), BINS, mask=tv)
    d2, k2 = _pick(h, k_rem, BINS)
    h = tl.zeros([BINS], tl.int32)
    for c in range(0, n_items, CB):
        tk, ti, tv = _tail_chunk(c, use_cand, n_cand, n_vis, prefix, srow, crow_i, crow_k, CB)
        h += tl.histogram((tk & 255).to(tl.int32), BINS, mask=tv & (((tk >> 8) & 255) == d2))
    d3, need_eq = _pick(h, k2, BINS)
    threshold = (prefix << 16) | (d2.to(tl.uint32) << 8) | d3.to(tl.uint32)
    base_gt = n_gt
    base_eq = k_eff - need_eq
    for c in range(0, n_items, CB):
        tk, ti, tv = _tail_chunk(c, use_cand, n_cand, n_vis, prefix, srow, crow_i, crow_k, CB)
        g = tv & (tk > threshold)
        e = tv & (tk == threshold)
        both = g.to(tl.int32) + (e.to(tl.int32) << 16)  # CB < 2^16
        run = tl.cumsum(both, axis=0)
        tl.store(out_row + base_gt + (run & 0xFFFF) - 1, ti, mask=g)
        s_eq = base_eq + (run >> 16) - 1
        tl.store(out_row + s_eq, ti, mask=e & (s_eq < k_eff))
        total = tl.sum(both, axis=0)
        base_gt += total & 0xFFFF
        base_eq += total >> 16


def select_topk(scores: torch.Tensor, positions: torch.Tensor, hist: torch.Tensor, out: torch.Tensor, topk: int,
                ratio: int, *, compact: bool = True, cap: int = CAND_CAP, rank: int = RANK_MAX,
                programs: int = COMPACT_PROGRAMS, scatter_max: int = SCATTER_MAX) -> torch.Tensor:
    """Finish the select after the scores kernel filled `scores` and digit 0 of `hist` (zeroed before)."""
    rows, n = scores.shape
    blocks = max(triton.cdiv(n, PASS_BLOCK), 1)
    pgrid = (rows, blocks)
    levels = 2 if compact else N_DIGITS
    for level in range(1, levels):
        _radix_pass_kernel[pgrid](scores, positions, hist, topk, n, scores.stride(0), hist.stride(0),
                                  LEVEL=level, RATIO=ratio, BLOCK=PASS_BLOCK, SCATTER_MAX=scatter_max, num_warps=8)
    if not compact:
        _radix_select_kernel[pgrid](scores, positions, hist, out, topk, n, scores.stride(0), hist.stride(0),
                                    out.stride(0), RATIO=ratio, BLOCK=PASS_BLOCK, OUT_BLOCK=256, num_warps=8)
        return out
    return compact_and_finish(scores, positions, hist, out, topk, ratio, cap=cap, rank=rank, programs=programs)


def compact_and_finish(scores: torch.Tensor, positions: torch.Tensor, hist: torch.Tensor, out: torch.Tensor,
                       topk: int, ratio: int, *, cap: int = CAND_CAP, rank: int = RANK_MAX,
                       programs: int = COMPACT_PROGRAMS) -> torch.Tensor:
    """The last launch of the compact path (after digit 1's pass); the bench times it alone."""
    rows, n = scores.shape
    blocks = max(triton.cdiv(n, PASS_BLOCK), 1)
    cap = min(cap, max(16, triton.next_power_of_2(n)))
    iters = triton.cdiv(blocks, max(1, min(blocks, triton.cdiv(programs, rows))))
    cidx = torch.empty(rows, cap, device=scores.device, dtype=torch.int32)
    ckey = torch.empty_like(cidx)
    _radix_compact_kernel[(rows, triton.cdiv(blocks, iters))](
        scores, positions, hist, out, cidx, ckey, topk, n, iters, scores.stride(0), hist.stride(0), out.stride(0),
        cidx.stride(0), RATIO=ratio, BLOCK=PASS_BLOCK, CAP=cap, RANK=min(rank, cap), CB=min(1024, cap),
        OUT_BLOCK=256, num_warps=8)
    return out
