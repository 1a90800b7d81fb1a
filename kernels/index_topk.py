"""Lightning-indexer scores + exact top-k in Triton, for decode (one query per sequence) and prefill.

Scores: one program scores 1024 keys of one query: [HI, DI] x [DI, 64] tiles on the tensor cores, ReLU,
per-head weights; then it histograms the top 8 bits of the scores it wrote (digit 0 of the select).
Top-k: a 4-digit radix select (8 bits each) over the fp32 scores' order-preserving keys, every pass
spread over many programs (batch 1 at 1M has one row of 262,144 scores, too much for one SM), histograms
merged by atomics; each pass picks the previous digit from the merged histogram and leaves it in a small
state for the next, so there is no host round trip (the whole thing is CUDA-graph capturable).
Ties at the threshold are taken in any order.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from wholerepo.kernels._launch import check_dtype, check_last_contiguous, check_power_of_two, interpreted

N_DIGITS, N_BINS = 4, 256  # 4 digits of 8 bits: tl.histogram's warp-ballot cost grows with its bin count
N_STATE = N_DIGITS * N_BINS  # then (prefix, k left) per level, then 2 output counters
HIST_WORDS = N_STATE + 2 * (N_DIGITS + 1) + 2
DIGIT_BITS = tl.constexpr(8)
BINS = tl.constexpr(N_BINS)
DIGITS = tl.constexpr(N_DIGITS)
STATE = tl.constexpr(N_STATE)
COUNTS = tl.constexpr(N_STATE + 2 * (N_DIGITS + 1))
SCORE_TILE = 64  # keys per tensor-core tile; 64 x 16 tiles, 4 warps, 4 stages was the fastest of 7 variants
SCORE_TILES = 16  # on the H200 (21.8 µs at batch 1, 1M; 655 µs at batch 32), see kernels/README.md
FUSED_DIGIT0 = True  # digit 0's histogram inside the scores kernel (saves one pass over the scores)
PASS_BLOCK = 2048  # scores per program in the select passes
PREFILL_SCORE_BYTES = 1 << 30  # cap the [rows, N] fp32 score buffer of one prefill sub-chunk at 1 GiB


@triton.jit
def _order_key(s):
    """fp32 -> uint32 whose unsigned order is the float order (-inf lowest)."""
    u = s.to(tl.uint32, bitcast=True)
    flip = tl.where((u >> 31) == 1, 0xFFFFFFFF, 0x80000000).to(tl.uint32)
    return u ^ flip


@triton.jit
def _pick_digit(hist_ptr, k_rem, NB: tl.constexpr):
    """Largest digit d with count(digit >= d) >= k_rem; returns (d, k_rem - count(digit > d))."""
    offs = tl.arange(0, NB)
    h = tl.load(hist_ptr + offs)
    total = tl.sum(h, axis=0)
    greater = total - tl.cumsum(h, axis=0)  # count with digit > d
    d = tl.max(tl.where(greater + h >= k_rem, offs, -1), axis=0)
    above = tl.sum(tl.where(offs > d, h, 0), axis=0)
    return d, k_rem - above


@triton.jit
def _index_scores_kernel(
    q_ptr, w_ptr, k_ptr, pos_ptr, scores_ptr, hist_ptr,
    N, stride_qb, stride_qh, stride_wb, stride_kb, stride_kn, stride_sb, stride_hb,
    RATIO: tl.constexpr, HI: tl.constexpr, DI: tl.constexpr, BLOCK_N: tl.constexpr, TILES: tl.constexpr,
    WITH_HIST: tl.constexpr, DOT_F32: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    start = tl.program_id(1) * TILES * BLOCK_N
    pos = tl.load(pos_ptr + b)
    n_vis = tl.minimum((pos + 1) // RATIO, N)
    offs_h = tl.arange(0, HI)
    offs_d = tl.arange(0, DI)
    q = tl.load(q_ptr + b * stride_qb + offs_h[:, None] * stride_qh + offs_d[None, :])
    w = tl.load(w_ptr + b * stride_wb + offs_h).to(tl.float32)
    if DOT_F32:
        q = q.to(tl.float32)
    n_tiles = tl.minimum(TILES, tl.cdiv(tl.maximum(n_vis - start, 0), BLOCK_N))
    for t in range(0, n_tiles):
        offs_n = start + t * BLOCK_N + tl.arange(0, BLOCK_N)
        valid = offs_n < n_vis
        k = tl.load(k_ptr + b * stride_kb + offs_n[:, None] * stride_kn + offs_d[None, :],
                    mask=valid[:, None], other=0.0)
        if DOT_F32:
            k = k.to(tl.float32)
        logits = tl.dot(q, tl.trans(k))  # [HI, BLOCK_N] fp32
        s = tl.sum(tl.maximum(logits, 0.0) * w[:, None], axis=0)
        tl.store(scores_ptr + b * stride_sb + offs_n, tl.where(valid, s, float("-inf")), mask=offs_n < N)
    if WITH_HIST:
        # Digit 0's histogram from the scores just written, re-read as one plain 1-D block: on `s` itself
        # (the dot's reduced layout, replicated across threads) tl.histogram cost 62 µs at batch 1, 1M.
        tl.debug_barrier()
        offs = start + tl.arange(0, TILES * BLOCK_N)
        live = offs < n_vis
        key = _order_key(tl.load(scores_ptr + b * stride_sb + offs, mask=live, other=0.0))
        h = tl.histogram((key >> 24).to(tl.int32), BINS, mask=live)
        tl.atomic_add(hist_ptr + b * stride_hb + tl.arange(0, BINS), h, mask=h > 0)


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
    d, k_rem = _pick_digit(row + (LEVEL - 1) * BINS, prev_k, BINS)
    prefix = (prev_prefix << DIGIT_BITS) | d.to(tl.uint32)
    first = tl.program_id(1) == 0
    tl.store(row + STATE + 2 * LEVEL, prefix.to(tl.int32, bitcast=True), mask=first)
    tl.store(row + STATE + 2 * LEVEL + 1, k_rem, mask=first)
    return prefix, k_rem, k_eff, n_vis


@triton.jit
def _radix_pass_kernel(
    scores_ptr, pos_ptr, hist_ptr, topk, N, stride_sb, stride_hb,
    LEVEL: tl.constexpr, RATIO: tl.constexpr, BLOCK: tl.constexpr,
):
    """Histogram digit LEVEL (bits 31-8·LEVEL .. 24-8·LEVEL) of the keys whose higher digits match.

    Kept out of the scores kernel: there the scores sit in the dot's reduced layout, replicated across
    threads, and tl.histogram took 62 of its 89 µs at batch 1, 1M (H200 probe); a pass here takes ~4 µs.
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
        for o in range(0, tl.cdiv(topk, OUT_BLOCK)):
            offs_o = o * OUT_BLOCK + tl.arange(0, OUT_BLOCK)
            tl.store(out_row + offs_o, tl.full([OUT_BLOCK], -1, tl.int32), mask=(offs_o >= k_eff) & (offs_o < topk))


def _check(q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor) -> None:
    check_dtype("q", q, (torch.bfloat16, torch.float16, torch.float32))
    check_dtype("keys", keys, (q.dtype,))
    check_dtype("positions", positions, (torch.int32, torch.int64))
    for name, t in (("q", q), ("weights", weights), ("keys", keys)):
        check_last_contiguous(name, t)
    check_power_of_two("index_heads", q.shape[1])
    check_power_of_two("index_dim", q.shape[2])


def _scores_and_topk(q, weights, keys, key_stride_b, positions, topk, ratio, out, want_topk=True):
    rows, n = q.shape[0], keys.shape[-2]
    # the kernel skips tiles past each query's visible count; only the plain-scores call needs them as -inf
    alloc = torch.empty if want_topk else torch.full
    fill = () if want_topk else (float("-inf"),)
    scores = alloc((rows, max(n, 1)), *fill, device=q.device, dtype=torch.float32)
    hist = torch.zeros(rows, HIST_WORDS, device=q.device, dtype=torch.int32) if want_topk else scores
    grid = (rows, max(triton.cdiv(n, SCORE_TILE * SCORE_TILES), 1))
    _index_scores_kernel[grid](
        q, weights, keys, positions, scores, hist,
        n, q.stride(0), q.stride(1), weights.stride(0), key_stride_b, keys.stride(-2), scores.stride(0),
        hist.stride(0), RATIO=ratio, HI=q.shape[1], DI=q.shape[2], BLOCK_N=SCORE_TILE, TILES=SCORE_TILES,
        WITH_HIST=want_topk and FUSED_DIGIT0, DOT_F32=interpreted(q), num_warps=4, num_stages=4,
    )
    if not want_topk:
        return scores
    pgrid = (rows, max(triton.cdiv(n, PASS_BLOCK), 1))
    for level in range(1 if FUSED_DIGIT0 else 0, N_DIGITS):
        _radix_pass_kernel[pgrid](scores, positions, hist, topk, n, scores.stride(0), hist.stride(0),
                                  LEVEL=level, RATIO=ratio, BLOCK=PASS_BLOCK, num_warps=8)
    _radix_select_kernel[pgrid](scores, positions, hist, out, topk, n, scores.stride(0), hist.stride(0),
                                out.stride(0), RATIO=ratio, BLOCK=PASS_BLOCK, OUT_BLOCK=256, num_warps=8)
    return out


def index_scores(
    q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor, ratio: int
) -> torch.Tensor:
    """[B, N] fp32 scores (-inf where not visible); q [B,HI,DI], weights [B,HI], keys [B,N,DI]."""
    _check(q, weights, keys, positions)
    scores = _scores_and_topk(q, weights, keys, keys.stride(0), positions, 0, ratio, None, want_topk=False)
    return scores[:, : keys.shape[1]]


def index_topk(
    q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor, topk: int, ratio: int
) -> torch.Tensor:
    """Decode: [B, topk] int32 indices of each sequence's highest-scoring visible entries, -1 padded."""
    _check(q, weights, keys, positions)
    out = torch.empty(q.shape[0], topk, device=q.device, dtype=torch.int32)
    return _scores_and_topk(q, weights, keys, keys.stride(0), positions, topk, ratio, out)


def index_topk_prefill(
    q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor, topk: int, ratio: int
) -> torch.Tensor:
    """Prefill of one sequence: keys [N, DI] shared by all T queries; [T, topk] int32.

    Queries go in sub-chunks so the [rows, N] fp32 score buffer stays under 1 GiB (vLLM caps the same
    buffer, VLLM_SPARSE_INDEXER_MAX_LOGITS_MB, research §5).
    """
    _check(q, weights, keys[None], positions)
    out = torch.empty(q.shape[0], topk, device=q.device, dtype=torch.int32)
    step = max(PREFILL_SCORE_BYTES // (4 * max(keys.shape[0], 1)), 1)
    for lo in range(0, q.shape[0], step):
        hi = min(lo + step, q.shape[0])
        _scores_and_topk(q[lo:hi], weights[lo:hi], keys, 0, positions[lo:hi], topk, ratio, out[lo:hi])
    return out
