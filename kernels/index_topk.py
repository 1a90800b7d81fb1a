"""Lightning-indexer scores + exact top-k in Triton, for decode (one query per sequence) and prefill.

Scores: one program scores 1024 keys of one query: [HI, DI] x [DI, 64] tiles on the tensor cores, ReLU,
per-head weights; then it histograms the top 8 bits of the scores it wrote (digit 0 of the select).
Top-k: kernels/radix_select.py finishes the radix select over the fp32 scores' order-preserving keys
(digit 1 in one pass, then one compact-and-finish launch), spread over many programs (batch 1 at 1M has
one row of 262,144 scores, too much for one SM), with no host round trip (CUDA-graph capturable).
Ties at the threshold are taken in any order.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from wholerepo.kernels._launch import check_dtype, check_last_contiguous, check_power_of_two, interpreted
from wholerepo.kernels.radix_select import BINS, HIST_WORDS, _order_key, select_topk

SCORE_TILE = 64  # keys per tensor-core tile; 64 x 16 tiles, 4 warps, 4 stages was the fastest of 7 variants
SCORE_TILES = 16  # on the H200 (21.8 µs at batch 1, 1M; 655 µs at batch 32), see kernels/README.md
PREFILL_SCORE_BYTES = 1 << 30  # cap the [rows, N] fp32 score buffer of one prefill sub-chunk at 1 GiB


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


def _check(q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor) -> None:
    check_dtype("q", q, (torch.bfloat16, torch.float16, torch.float32))
    check_dtype("keys", keys, (q.dtype,))
    check_dtype("positions", positions, (torch.int32, torch.int64))
    for name, t in (("q", q), ("weights", weights), ("keys", keys)):
        check_last_contiguous(name, t)
    check_power_of_two("index_heads", q.shape[1])
    check_power_of_two("index_dim", q.shape[2])


def _scores_and_topk(q, weights, keys, key_stride_b, positions, topk, ratio, out, want_topk=True, **select):
    """`select` passes radix_select.select_topk's path options (compact, cap, rank, programs) through."""
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
        WITH_HIST=want_topk, DOT_F32=interpreted(q), num_warps=4, num_stages=4,
    )
    if not want_topk:
        return scores
    return select_topk(scores, positions, hist, out, topk, ratio, **select)


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
