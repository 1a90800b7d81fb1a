"""Exact top-k by filter and verify: the default select after the indexer's scores kernel.

The scores kernel (kernels/index_topk.py) ends each 1024-key block with a local top-T of its own keys
(tl.topk over packed key·index words) and stores those T as the block's candidates, best first. The
finishing launch here, one program per row, selects the k-th largest key τ among the row's candidates
(radix select over them: ~4096 words at 1M instead of 262,144 scores). That is the row's answer unless some
block had more than T keys worth keeping: every key a block did not send is ≤ its T-th candidate θ, so the
pool's top k is exact when θ ≤ τ for every block. A block with θ > τ is re-read in full from the scores and
τ is selected again over the enlarged set (τ only rises, so the blocks that passed stay safe). On random
scores T is 4-8x the expected count per block and no block is re-read; clustered rows cost one 1024-key
re-read per block that overflowed, all-tied rows a full re-read: slower, still exact.

Against the radix path (radix_select.py: digit-0 histogram atomics in the scores kernel, a digit-1 pass and
a compact launch over the whole row) this removes two launches that read every score of the row, the
histogram zeroing, and all global atomics. No host round trip: CUDA-graph capturable.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from wholerepo.kernels._launch import pdl_launch
from wholerepo.kernels.radix_select import BINS, _order_key, _pad, _pick

BLOCK_KEYS = 1024  # keys per scores program (kernels/index_topk.py SCORE_TILE x SCORE_TILES)
MIN_CAND, MAX_CAND = 16, BLOCK_KEYS
CAND_HEADROOM = 4  # T ≥ 4x the expected share of the top k per block (random scores)
POOL_CHUNK = 4096  # candidate words per step of the finishing program: the whole pool at every default shape
FINISH_WARPS = 8  # the finishing program's warps (4 issue ~15% fewer instructions on its fast path, sm_90
# SASS, but leave one warp per scheduler to hide each dependent step; 4 vs 8 not yet timed on the H200)
POOL_CHUNK_FUSED = 2048  # the same inside the scores kernel (4 warps, registers shared with the scoring)
NO_BOUND = tl.constexpr(0xFFFFFFFF)  # first select: no block is re-read
RANK_MAX = 128  # candidates sharing τ's 16-bit prefix ranked by comparison (random scores at 1M: ~15-45)
MAX_ROWS = 1024  # rows per launch the filter takes (its histograms: 257 KB per row); more use the radix select


def candidates_per_block(n: int, topk: int) -> int:
    """T: a power of two (tl.topk's rule), 16 at 1M (expected 2 of Flash's 512 per block), whole blocks at 8K."""
    expected = topk * BLOCK_KEYS / max(n, 1)
    want = triton.next_power_of_2(max(1, int(CAND_HEADROOM * expected + 0.999)))
    return min(MAX_CAND, max(MIN_CAND, want))


@triton.jit
def _block_candidates(scores_row, start, n_vis, cand_row, h8_row, h16_row, CAND: tl.constexpr, BLOCK: tl.constexpr):
    """Called by the scores kernel after its stores and a barrier: the block's top CAND keys, best first, as
    (key << 32 | row index) words at cand_row[block·CAND ..], each counted in the row's histograms of the
    keys' top 8 and top 16 bits (relaxed atomics). Selected on 32-bit words (the key's low log2(BLOCK) bits
    replaced by the index: half the work of 64-bit words in tl.topk's network), so a key the block did not
    send is only known to be ≤ its last word's key with those bits set: `_theta`. Keys past n_vis are 0,
    below every visible key, and not counted."""
    offs = start + tl.arange(0, BLOCK)
    live = offs < n_vis
    key = tl.where(live, _order_key(tl.load(scores_row + offs, mask=live, other=0.0)), 0)
    top = tl.topk((key - (key & (BLOCK - 1))) | tl.arange(0, BLOCK).to(tl.uint32), CAND)
    local = (top & (BLOCK - 1)).to(tl.int32)
    sent_live = start + local < n_vis
    top_key = tl.where(sent_live, _order_key(tl.load(scores_row + start + local, mask=sent_live, other=0.0)), 0)
    word = (top_key.to(tl.uint64) << 32) | (start + local).to(tl.uint64)  # the row index: no rebuild later
    tl.store(cand_row + (start // BLOCK) * CAND + tl.arange(0, CAND), word.to(tl.int64, bitcast=True))
    sent = top_key > 0
    tl.atomic_add(h8_row + (top_key >> 24), 1, mask=sent, sem="relaxed")
    tl.atomic_add(h16_row + (top_key >> 16), 1, mask=sent, sem="relaxed")


@triton.jit
def _word_key(w):
    return (w.to(tl.uint64, bitcast=True) >> 32).to(tl.uint32)


@triton.jit
def _word_index(w):
    return (w & 0xFFFFFFFF).to(tl.int32)


@triton.jit
def _theta(last_word, BLOCK: tl.constexpr):
    """θ, the bound on every key a block did not send, from its last (smallest) candidate word."""
    return _word_key(last_word) | (BLOCK - 1)


@triton.jit
def _pool_chunk(cand_row, c, n_pool, bound, CAND: tl.constexpr, FB: tl.constexpr, BLOCK: tl.constexpr):
    """Candidates c..c+FB: (key, row index, in the set) — a block whose θ exceeds `bound` is re-read whole
    instead, so its candidates leave the set."""
    offs = c + tl.arange(0, FB)
    inside = offs < n_pool
    word = tl.load(cand_row + offs, mask=inside, other=0, cache_modifier=".cg")
    blk = offs // CAND
    theta = _theta(tl.load(cand_row + blk * CAND + CAND - 1, mask=inside, other=0, cache_modifier=".cg"), BLOCK)
    return _word_key(word), _word_index(word), inside & (theta <= bound)


@triton.jit
def _block_chunk(scores_row, p, n_vis, BLOCK: tl.constexpr):
    offs = p * BLOCK + tl.arange(0, BLOCK)
    live = offs < n_vis
    key = _order_key(tl.load(scores_row + offs, mask=live, other=0.0, cache_modifier=".cg"))
    return tl.where(live, key, 0), offs, live


@triton.jit
def _digit_hist(key, live, prefix, LEVEL: tl.constexpr):
    if LEVEL > 0:
        live = live & ((key >> (32 - 8 * LEVEL)) == prefix)
    return tl.histogram(((key >> (24 - 8 * LEVEL)) & 255).to(tl.int32), BINS, mask=live)


@triton.jit
def _select_in_set(cand_row, scores_row, n_pool, n_blocks, n_vis, k_eff, bound,
                   CAND: tl.constexpr, FB: tl.constexpr, BLOCK: tl.constexpr):
    """(τ, how many keys equal to τ to take) for the k_eff largest keys of the set: the candidates of blocks
    with θ ≤ bound, and every key of the others. Four 8-bit digits, each one pass over the set."""
    prefix = tl.zeros([], tl.uint32)
    k_rem = k_eff
    for level in tl.static_range(4):
        h = tl.zeros([BINS], tl.int32)
        for c in range(0, n_pool, FB):
            key, _, inside = _pool_chunk(cand_row, c, n_pool, bound, CAND, FB, BLOCK)
            h += _digit_hist(key, inside, prefix, level)
        if bound != NO_BOUND:
            for p in range(0, n_blocks):
                if _theta(tl.load(cand_row + p * CAND + CAND - 1, cache_modifier=".cg"), BLOCK) > bound:
                    key, _, live = _block_chunk(scores_row, p, n_vis, BLOCK)
                    h += _digit_hist(key, live, prefix, level)
        d, k_rem = _pick(h, k_rem, BINS)
        prefix = (prefix << 8) | d.to(tl.uint32)
    return prefix, k_rem


@triton.jit
def _emit_chunk(key, idx, live, tau, n_gt, need_eq, base_gt, base_eq, out_row):
    """Keys above τ to slots base_gt.., the first need_eq keys equal to τ to n_gt + base_eq..; new bases."""
    g = live & (key > tau)
    e = live & (key == tau)
    both = g.to(tl.int32) + (e.to(tl.int32) << 16)  # one scan for both counts (chunks < 2^16)
    run = tl.cumsum(both, axis=0)
    tl.store(out_row + base_gt + (run & 0xFFFF) - 1, idx, mask=g)
    slot_eq = base_eq + (run >> 16) - 1
    tl.store(out_row + n_gt + slot_eq, idx, mask=e & (slot_eq < need_eq))
    total = tl.sum(both, axis=0)
    return base_gt + (total & 0xFFFF), base_eq + (total >> 16)


@triton.jit
def _pick_bin(h, k_rem, NB: tl.constexpr):
    """radix_select._pick plus the chosen bin's count, (d, k_rem - count(digit > d), count(digit == d)), in
    one scan and one reduction instead of four dependent CTA-wide steps: count(digit ≥ d) falls with d, so
    the digits that meet k_rem are 0..d. The three answers travel packed in one int64 sum (10 bits for d+1,
    26 each for the counts: rows below 2^26 keys)."""
    ge = tl.cumsum(h, axis=0, reverse=True)
    take = ge >= k_rem
    last = take & (ge - h < k_rem)
    wide = h.to(tl.int64)
    packed = tl.sum(tl.where(take, 1, wide << 36) + tl.where(last, wide << 10, 0), axis=0)
    d = (packed & 1023).to(tl.int32) - 1
    return d, k_rem - (packed >> 36).to(tl.int32), ((packed >> 10) & ((1 << 26) - 1)).to(tl.int32)


@triton.jit
def _chunk_offs(c, FB: tl.constexpr, COLS: tl.constexpr):
    """Pool words c..c+FB as [FB/COLS, COLS], COLS = 2 words (one 16-byte load) per thread: each thread's
    words of one column lie along axis 0, so the slot scan is an in-thread sum, one COLS-wide scan and an
    in-thread scan (a 1-D FB-wide tl.cumsum over 2-word vectors compiled to ~80 shuffles and a carry chain
    across its repeats, sm_90 SASS). Slots come out column-major: the output order is free."""
    return c + tl.arange(0, FB // COLS)[:, None] * COLS + tl.arange(0, COLS)[None, :]


@triton.jit
def _chunk_prep(word, offs, n_pool, d0, h16_row, CAND: tl.constexpr, BLOCK: tl.constexpr):
    """The part of a chunk that needs no prefix, run while the 16-bit slice is in flight: zero the
    histogram bins of its keys (but the slice's own, which the finish zeroes after reading it), and return
    the largest θ among the blocks whose last word it holds."""
    inside = offs < n_pool
    key = _word_key(word)
    tl.store(h16_row + (key >> 16), tl.zeros(offs.shape, tl.int32), mask=inside & (key > 0) & ((key >> 24) != d0))
    last = inside & (offs % CAND == CAND - 1)
    return tl.max(tl.max(tl.where(last, _theta(word, BLOCK), 0), axis=0), axis=0)


@triton.jit
def _chunk_emit(word, offs, n_pool, ok, prefix, base_gt, n_bin, n_gt, out_row, scratch, RANK: tl.constexpr):
    """Keys above the prefix to their slots, keys sharing it to the scratch list. Returns the per-column
    counts (gt + eq << 16) for the caller to reduce: the last chunk's reduction then overlaps the reload."""
    key = _word_key(word)
    sent = (offs < n_pool) & (key > 0)
    gt = tl.where(ok, sent & ((key >> 16) > prefix), False)  # (scalar & tensor breaks the interpreter)
    eq = tl.where(ok, sent & ((key >> 16) == prefix), False)
    both = gt.to(tl.int32) + (eq.to(tl.int32) << 16)  # chunks < 2^16
    col = tl.sum(both, axis=0)
    run = (tl.cumsum(col, axis=0) - col)[None, :] + tl.cumsum(both, axis=0)
    slot_gt = base_gt + (run & 0xFFFF) - 1
    tl.store(out_row + slot_gt, _word_index(word), mask=gt & (slot_gt < n_gt))  # bounded even if histograms lie
    slot = n_bin + (run >> 16) - 1
    tl.store(scratch + slot, word, mask=eq & (slot < RANK))
    return col


@triton.jit
def _rank_bin(scratch, out_row, col, base_gt, n_bin, theta_max, ok, n_gt, k2, nb, prefix, R: tl.constexpr):
    """After the pass's barrier: the nb keys of τ's 16-bit bin (scratch, R ≥ nb slots, R ≤ 128) ranked by
    comparison, the k2 best written after the n_gt above the bin. The scratch reload is issued before the
    last chunk's counts are reduced, so its L2 round trip overlaps that reduction. Returns redo: the
    histograms disagreed with the pool, or a block's θ exceeds τ (τ is only computed when θ reaches τ's
    bin: on random scores max θ sits far below it)."""
    slots = tl.arange(0, R)
    live = slots < nb
    word = tl.load(scratch + slots, mask=live, other=0)  # written by this CTA before the barrier
    total = tl.sum(col, axis=0)
    ok = ok & (base_gt + (total & 0xFFFF) == n_gt) & (n_bin + (total >> 16) == nb)
    key = _word_key(word)
    # one compare per pair: the bin's keys differ in their low 16 bits; the slot breaks ties (R ≤ 128)
    u = tl.where(live, ((key & 0xFFFF).to(tl.int32) << 7 | (127 - slots)) + 1, 0)
    rank = tl.sum((u[None, :] > u[:, None]).to(tl.int32), axis=1)
    tl.store(out_row + n_gt + rank, _word_index(word), mask=live & (rank < k2))
    redo = ok == 0
    if ok & (theta_max >= (prefix << 16)):
        tau = tl.max(tl.where(live & (rank == k2 - 1), key, 0), axis=0)
        redo = theta_max > tau
    return redo


@triton.jit
def _finish_row(cand_row, scores_row, out_row, h8_row, h16_row, n_vis, topk, n_blocks,
                CAND: tl.constexpr, FB: tl.constexpr, BLOCK: tl.constexpr, OUT_BLOCK: tl.constexpr,
                RANK: tl.constexpr, COLS: tl.constexpr):
    """Fast path: τ's 16-bit prefix from the two histograms (no pass), one pass over the pool writing keys
    above it, the few sharing it (≤ RANK) ranked by comparison; the histogram bins it used are zeroed
    whatever happens. Verified: every block's θ ≤ τ (θ read from the pool words the pass loads anyway),
    the histograms agree with the pool, the prefix bin is small; otherwise `_full_select` rewrites the row.

    At batch 1 this is one CTA's dependent chain, so the code keeps it short: three L2 round trips
    (histogram + first chunk; the 16-bit slice, in whose shadow the bins are zeroed and θ reduced; the
    scratch reload, in whose shadow the counts are checked), one scan + one reduction per digit, the slot
    scan mostly in-thread, and the bin ranked in the smallest tile that holds it."""
    k_eff = tl.minimum(topk, n_vis)
    n_pool = n_blocks * CAND
    offs = _chunk_offs(0, FB, COLS)
    h8 = tl.load(h8_row + tl.arange(0, BINS), cache_modifier=".cg")
    word = tl.load(cand_row + offs, mask=offs < n_pool, other=0, cache_modifier=".cg")
    tl.store(h8_row + tl.arange(0, BINS), tl.zeros([BINS], tl.int32))  # same thread, after its load
    d0, k1, _ = _pick_bin(h8, k_eff, BINS)
    ok = d0 >= 0  # (-1: fewer candidates than k)
    d0 = tl.maximum(d0, 0)
    h16_slice = h16_row + d0 * BINS + tl.arange(0, BINS)
    h16 = tl.load(h16_slice, cache_modifier=".cg")
    tl.store(h16_slice, tl.zeros([BINS], tl.int32))
    theta_max = _chunk_prep(word, offs, n_pool, d0, h16_row, CAND, BLOCK)
    d1, k2, nb = _pick_bin(h16, k1, BINS)
    ok = ok & (d1 >= 0) & (nb <= RANK)
    prefix = (d0 * BINS + tl.maximum(d1, 0)).to(tl.uint32)
    n_gt = k_eff - k2
    scratch = cand_row + n_pool
    base_gt = tl.zeros([], tl.int32)
    n_bin = tl.zeros([], tl.int32)
    c = tl.zeros([], tl.int32)
    for c_next in range(FB, n_pool, FB):  # every chunk but the last (none at the default shapes)
        total = tl.sum(_chunk_emit(word, c + offs, n_pool, ok, prefix, base_gt, n_bin, n_gt, out_row, scratch, RANK),
                       axis=0)
        base_gt, n_bin = base_gt + (total & 0xFFFF), n_bin + (total >> 16)
        word = tl.load(cand_row + c_next + offs, mask=c_next + offs < n_pool, other=0, cache_modifier=".cg")
        theta_max = tl.maximum(theta_max, _chunk_prep(word, c_next + offs, n_pool, d0, h16_row, CAND, BLOCK))
        c = c_next
    col = _chunk_emit(word, c + offs, n_pool, ok, prefix, base_gt, n_bin, n_gt, out_row, scratch, RANK)
    tl.debug_barrier()  # the bin's words, stored above by any thread, are read back next
    if nb <= 32:
        redo = _rank_bin(scratch, out_row, col, base_gt, n_bin, theta_max, ok, n_gt, k2, nb, prefix, 32)
    elif nb <= 64:
        redo = _rank_bin(scratch, out_row, col, base_gt, n_bin, theta_max, ok, n_gt, k2, nb, prefix, 64)
    else:
        redo = _rank_bin(scratch, out_row, col, base_gt, n_bin, theta_max, ok, n_gt, k2, nb, prefix, RANK)
    if redo:
        _full_select(cand_row, scores_row, out_row, n_vis, k_eff, n_blocks, CAND, FB, BLOCK)
    if k_eff < topk:
        _pad(out_row, k_eff, topk, OUT_BLOCK)


@triton.jit
def _theta_max(cand_row, n_blocks, CAND: tl.constexpr, FB: tl.constexpr, BLOCK: tl.constexpr):
    theta_max = tl.zeros([], tl.uint32)
    for c in range(0, n_blocks, FB):
        offs = c + tl.arange(0, FB)
        last = tl.load(cand_row + offs * CAND + CAND - 1, mask=offs < n_blocks, other=0, cache_modifier=".cg")
        theta_max = tl.maximum(theta_max, tl.max(tl.where(offs < n_blocks, _theta(last, BLOCK), 0), axis=0))
    return theta_max


@triton.jit
def _full_select(cand_row, scores_row, out_row, n_vis, k_eff, n_blocks,
                 CAND: tl.constexpr, FB: tl.constexpr, BLOCK: tl.constexpr):
    """Exact in every case: radix select over the pool; blocks holding more than their T re-read whole."""
    n_pool = n_blocks * CAND
    if k_eff > 0:
        theta_max = _theta_max(cand_row, n_blocks, CAND, FB, BLOCK)
        tau = tl.zeros([], tl.uint32)  # a pool smaller than k (T·blocks < k): every full block is re-read
        need_eq = k_eff
        if n_pool >= k_eff:
            tau, need_eq = _select_in_set(cand_row, scores_row, n_pool, n_blocks, n_vis, k_eff,
                                          tl.full([], NO_BOUND, tl.uint32), CAND, FB, BLOCK)
        bound = tl.full([], NO_BOUND, tl.uint32)
        if theta_max > tau:  # a block sent fewer keys than it holds above τ: re-read those blocks whole
            bound = tau
            tau, need_eq = _select_in_set(cand_row, scores_row, n_pool, n_blocks, n_vis, k_eff, bound,
                                          CAND, FB, BLOCK)
        n_gt = k_eff - need_eq
        base_gt = tl.zeros([], tl.int32)
        base_eq = tl.zeros([], tl.int32)
        for c in range(0, n_pool, FB):
            key, idx, inside = _pool_chunk(cand_row, c, n_pool, bound, CAND, FB, BLOCK)
            base_gt, base_eq = _emit_chunk(key, idx, inside, tau, n_gt, need_eq, base_gt, base_eq, out_row)
        if bound != NO_BOUND:
            for p in range(0, n_blocks):
                if _theta(tl.load(cand_row + p * CAND + CAND - 1, cache_modifier=".cg"), BLOCK) > bound:
                    key, offs, live = _block_chunk(scores_row, p, n_vis, BLOCK)
                    base_gt, base_eq = _emit_chunk(key, offs.to(tl.int32), live, tau, n_gt, need_eq, base_gt,
                                                   base_eq, out_row)


@triton.jit
def _filter_finish_kernel(
    cand_ptr, scores_ptr, pos_ptr, out_ptr, h8_ptr, h16_ptr, topk, N, n_blocks,
    stride_cb, stride_sb, stride_ob, stride_h8, stride_h16,
    RATIO: tl.constexpr, CAND: tl.constexpr, FB: tl.constexpr, BLOCK: tl.constexpr, OUT_BLOCK: tl.constexpr,
    RANK: tl.constexpr, COLS: tl.constexpr, PDL: tl.constexpr,
):
    if PDL:  # launched before the scores kernel ended: wait for its scores and candidates, then let the
        gdc_wait()  # attention launch behind us
        gdc_launch_dependents()
    b = tl.program_id(0).to(tl.int64)
    n_vis = tl.minimum((tl.load(pos_ptr + b) + 1) // RATIO, N).to(tl.int32)  # 32-bit slot arithmetic
    _finish_row(cand_ptr + b * stride_cb, scores_ptr + b * stride_sb, out_ptr + b * stride_ob, h8_ptr + b * stride_h8,
                h16_ptr + b * stride_h16, n_vis, topk, n_blocks, CAND, FB, BLOCK, OUT_BLOCK, RANK, COLS)


@triton.jit
def finish_if_last(count_ptr, cand_row, scores_row, out_row, h8_row, h16_row, n_vis, topk, n_blocks,
                   CAND: tl.constexpr, FB: tl.constexpr, BLOCK: tl.constexpr, OUT_BLOCK: tl.constexpr,
                   RANK: tl.constexpr):
    """Fused finish, called by every scores program after its candidates: the row's last program to get
    here selects (no second launch; at batch 32 rows finish while other rows are still scored) and resets
    the row's counter for the next call."""
    tl.debug_barrier()  # every thread's candidate stores and histogram atomics precede the release below
    done = tl.atomic_add(count_ptr, 1, sem="acq_rel")
    if done == tl.num_programs(1) - 1:
        _finish_row(cand_row, scores_row, out_row, h8_row, h16_row, n_vis, topk, n_blocks, CAND, FB, BLOCK,
                    OUT_BLOCK, RANK, min(FB, 256))  # the scores launch's 4 warps
        tl.atomic_xchg(count_ptr, 0, sem="relaxed")


class FilterState:
    """Per-device buffers that are zero between calls, so no launch pays a memset: per row an arrival
    counter (fused finish) and the candidates' 8- and 16-bit key-prefix histograms (256 + 65,536 counts).
    The finishing program puts back the zeros it used. One stream at a time per device."""

    _by_device: dict[torch.device, FilterState] = {}

    def __init__(self, device: torch.device, rows: int) -> None:
        self.counts = torch.zeros(rows, device=device, dtype=torch.int32)
        self.h8 = torch.zeros(rows, 1 << 8, device=device, dtype=torch.int32)
        self.h16 = torch.zeros(rows, 1 << 16, device=device, dtype=torch.int32)

    @classmethod
    def get(cls, device: torch.device, rows: int) -> FilterState:
        have = cls._by_device.get(device)
        if have is None or have.counts.numel() < rows:
            have = cls._by_device[device] = cls(device, max(rows, 64))
        return have


def filter_finish(scores: torch.Tensor, cand: torch.Tensor, positions: torch.Tensor, out: torch.Tensor, topk: int,
                  ratio: int, cand_per_block: int, state: FilterState, pdl: bool = False) -> torch.Tensor:
    """The finishing launch, after the scores kernel filled `scores`, `cand` ([rows, blocks·T + RANK_MAX]
    int64: the pool, then the scratch for the prefix bin) and the state's histograms."""
    rows, n = scores.shape
    n_blocks = (cand.shape[1] - RANK_MAX) // cand_per_block
    fb = pool_chunk(n_blocks * cand_per_block, POOL_CHUNK)
    _filter_finish_kernel[(rows,)](
        cand, scores, positions, out, state.h8, state.h16, topk, n, n_blocks, cand.stride(0), scores.stride(0),
        out.stride(0), state.h8.stride(0), state.h16.stride(0), RATIO=ratio, CAND=cand_per_block,
        FB=fb, BLOCK=BLOCK_KEYS, OUT_BLOCK=256, RANK=RANK_MAX, COLS=min(fb, 64 * FINISH_WARPS), PDL=pdl,
        num_warps=FINISH_WARPS, **pdl_launch(pdl))
    return out


def pool_chunk(pool: int, most: int) -> int:
    """Words per step: the pool rounded up to a power of two, at most `most`."""
    return min(most, triton.next_power_of_2(max(pool, 16)))
