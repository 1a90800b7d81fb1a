"""Lightning-indexer scores + exact top-k in Triton, for decode (one query per sequence) and prefill.

Scores: one program scores 1024 keys of one query: [HI, DI] x [DI, 64] tiles on the tensor cores (bf16, or
fp8 keys and query as in vLLM's indexer cache), ReLU, per-head weights. Top-k, by default
(kernels/filter_select.py): the same program keeps its block's top T keys as candidates, and one finishing
launch per row selects among them and verifies that no block held more. The older radix path
(kernels/radix_select.py: digit-0 histogram here, then passes over the whole row) stays selectable for the
bench's side-by-side. Both are exact, need no host round trip (CUDA-graph capturable), and take ties at the
threshold in any order.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents
from triton.tools.tensor_descriptor import TensorDescriptor

from wholerepo.errors import UsageError
from wholerepo.kernels._launch import (
    check_dtype,
    check_last_contiguous,
    check_power_of_two,
    interpreted,
    use_pdl,
)
from wholerepo.kernels.filter_select import (
    MAX_ROWS,
    POOL_CHUNK_FUSED,
    RANK_MAX,
    FilterState,
    _block_candidates,
    candidates_per_block,
    filter_finish,
    finish_if_last,
    pool_chunk,
)
from wholerepo.kernels.radix_select import BINS, HIST_WORDS, _order_key, select_topk

SCORE_TILE = 64  # keys per tensor-core tile; 64 x 16 tiles, 4 warps, 4 stages was the fastest of 7 variants
SCORE_TILES = 16  # on the H200 (21.8 µs at batch 1, 1M; 655 µs at batch 32), see kernels/README.md
PREFILL_SCORE_BYTES = 1 << 30  # cap the [rows, N] fp32 score buffer of one prefill sub-chunk at 1 GiB
FUSED_FINISH = False  # finish inside the scores launch (its last program per row): measured slower on the
# H200 (batch 1: 37.8 vs 35.2 µs; batch 32: 639.8 vs 631.4 µs, round 4), so the finish is its own launch
TMA_KEYS = True  # read the keys through a TMA descriptor where possible (bench compares off)
SCORES_LAUNCH = {"num_warps": 4, "num_stages": 4}  # the bench's probe tries others


# what the scores kernel adds after the scores (its OUT): nothing, digit 0's histogram, the block's candidates
SCORES_ONLY, DIGIT0_HIST, CANDIDATES = (tl.constexpr(i) for i in range(3))


@triton.jit
def _index_scores_kernel(
    q_ptr, w_ptr, k_ptr, k_desc, ks_ptr, pos_ptr, scores_ptr, aux_ptr, out_ptr, count_ptr, h8_ptr, h16_ptr,
    N, topk, desc_rows_b, stride_qb, stride_qh, stride_wb, stride_kb, stride_kn, stride_ksb, stride_sb, stride_ab,
    stride_ob, stride_h8, stride_h16, table_ptr, stride_tb, page_bytes,
    RATIO: tl.constexpr, HI: tl.constexpr, DI: tl.constexpr, BLOCK_N: tl.constexpr, TILES: tl.constexpr,
    OUT: tl.constexpr, CAND: tl.constexpr, FUSED: tl.constexpr, FB: tl.constexpr, FP8: tl.constexpr,
    DOT_F32: tl.constexpr, PDL: tl.constexpr, TMA: tl.constexpr, RANK: tl.constexpr, PAGED: tl.constexpr,
):
    """FP8: q and keys are e4m3 bytes (vLLM's indexer cache: 128 fp8 + one fp32 scale per key, research
    §4.1), the dot runs in fp8 on the tensor cores, and the key's scale multiplies the head sum (ReLU
    commutes with a positive scale; q's per-head scale is folded into the weights by the caller).
    FUSED (with CANDIDATES): the row's last program also finishes the select (filter_select.finish_if_last).
    PDL: let the next launch (the finish, or the attention) start its prologue while this one runs.
    TMA: keys come through a tensor descriptor (bulk copies into shared memory, pipelined num_stages deep);
    the pointer loads are not pipelined by Triton here (no cp.async in the SASS: one tile in flight per CTA).
    PAGED (fp8): the keys are vLLM's indexer pages, one tile a page (BLOCK_N keys' e4m3 bytes, then their fp32
    scales, page_bytes apart in a pool the batch shares), tile j of row b in page table[b, j]."""
    if PDL:
        gdc_launch_dependents()
    b = tl.program_id(0).to(tl.int64)
    start = tl.program_id(1) * TILES * BLOCK_N
    pos = tl.load(pos_ptr + b)
    n_vis = tl.minimum((pos + 1) // RATIO, N)
    offs_h = tl.arange(0, HI)
    offs_d = tl.arange(0, DI)
    q = tl.load(q_ptr + b * stride_qb + offs_h[:, None] * stride_qh + offs_d[None, :])
    if FP8:
        q = q.to(tl.float8e4nv, bitcast=True)
    w = tl.load(w_ptr + b * stride_wb + offs_h).to(tl.float32)
    if DOT_F32:
        q = q.to(tl.float32)
    n_tiles = tl.minimum(TILES, tl.cdiv(tl.maximum(n_vis - start, 0), BLOCK_N))
    if PAGED:  # this program's page ids in one load, ahead of the loop: no table load between two tile copies
        tile_ids = tl.arange(0, TILES)
        pages = tl.load(table_ptr + b * stride_tb + start // BLOCK_N + tile_ids, mask=tile_ids < n_tiles, other=0)
    for t in range(0, n_tiles):
        offs_n = start + t * BLOCK_N + tl.arange(0, BLOCK_N)
        valid = offs_n < n_vis
        if PAGED:
            page = tl.sum(tl.where(tile_ids == t, pages, 0)).to(tl.int64)
            if TMA:  # the pool as [pages, BLOCK_N, DI]: one bulk copy a tile
                k = tl.reshape(k_desc.load([page.to(tl.int32), 0, 0]), [BLOCK_N, DI])
            else:
                slot = offs_n % BLOCK_N
                k = tl.load(k_ptr + page * page_bytes + slot[:, None] * DI + offs_d[None, :], mask=valid[:, None],
                            other=0).to(tl.float8e4nv, bitcast=True)
        elif TMA:  # keys as rows of a [B·N, DI] (or shared [N, DI]) descriptor: rows past n_vis are masked below
            k = k_desc.load([(b * desc_rows_b + start + t * BLOCK_N).to(tl.int32), 0])
        else:
            k = tl.load(k_ptr + b * stride_kb + offs_n[:, None] * stride_kn + offs_d[None, :], mask=valid[:, None],
                        other=0)
            if FP8:
                k = k.to(tl.float8e4nv, bitcast=True)
        if DOT_F32:
            k = k.to(tl.float32)
        # keys as the dot's M: the sum over heads then runs along each accumulator row, inside a warp's quads
        # (as [HI, BLOCK_N] it crossed the 4 warps through shared memory with a barrier every tile)
        logits = tl.dot(k, tl.trans(q))  # [BLOCK_N, HI] fp32
        s = tl.sum(tl.maximum(logits, 0.0) * w[None, :], axis=1)
        if PAGED:  # the page's scales follow its BLOCK_N data rows (ks_ptr: the pool as fp32)
            s = s * tl.load(ks_ptr + page * (page_bytes // 4) + BLOCK_N * DI // 4 + offs_n % BLOCK_N, mask=valid,
                            other=0.0)
        elif FP8:
            s = s * tl.load(ks_ptr + b * stride_ksb + offs_n, mask=valid, other=0.0)
        tl.store(scores_ptr + b * stride_sb + offs_n, tl.where(valid, s, float("-inf")), mask=offs_n < N)
    if OUT != SCORES_ONLY:
        # re-read the scores just written as one plain 1-D block: on `s` itself (the dot's reduced layout,
        # replicated across threads) tl.histogram cost 62 µs at batch 1, 1M (H200 probe, round 1)
        tl.debug_barrier()
    if OUT == DIGIT0_HIST:
        offs = start + tl.arange(0, TILES * BLOCK_N)
        live = offs < n_vis
        key = _order_key(tl.load(scores_ptr + b * stride_sb + offs, mask=live, other=0.0))
        h = tl.histogram((key >> 24).to(tl.int32), BINS, mask=live)
        tl.atomic_add(aux_ptr + b * stride_ab + tl.arange(0, BINS), h, mask=h > 0)
    if OUT == CANDIDATES:
        h8_row, h16_row = h8_ptr + b * stride_h8, h16_ptr + b * stride_h16
        _block_candidates(scores_ptr + b * stride_sb, start, n_vis, aux_ptr + b * stride_ab, h8_row, h16_row, CAND,
                          TILES * BLOCK_N)
        if FUSED:
            finish_if_last(count_ptr + b, aux_ptr + b * stride_ab, scores_ptr + b * stride_sb, out_ptr + b * stride_ob,
                           h8_row, h16_row, n_vis, topk, tl.num_programs(1), CAND, FB, TILES * BLOCK_N, 256, RANK)


FP8_KEYS = (torch.float8_e4m3fn, torch.uint8)  # e4m3 data, or its bytes


def _check(q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor,
           key_scales: torch.Tensor | None) -> bool:
    """True for fp8 keys (then q is fp8 too, and key_scales [.., N] fp32 is required)."""
    fp8 = keys.dtype in FP8_KEYS
    if fp8:
        check_dtype("q", q, FP8_KEYS)
        if key_scales is None or key_scales.shape != keys.shape[:-1]:
            raise UsageError("fp8 indexer keys need key_scales shaped like keys without the last dim: "
                             "pass the fp32 scale of every key (kernels.reference.quantize_index_fp8)")
        check_dtype("key_scales", key_scales, (torch.float32,))
        check_last_contiguous("key_scales", key_scales)
    else:
        check_dtype("q", q, (torch.bfloat16, torch.float16, torch.float32))
        check_dtype("keys", keys, (q.dtype,))
    check_dtype("positions", positions, (torch.int32, torch.int64))
    for name, t in (("q", q), ("weights", weights), ("keys", keys)):
        check_last_contiguous(name, t)
    check_power_of_two("index_heads", q.shape[1])
    check_power_of_two("index_dim", q.shape[2])
    return fp8


def _bytes(t: torch.Tensor) -> torch.Tensor:
    """fp8 tensors travel as their bytes (the kernel bitcasts them back; the interpreter has no fp8 type)."""
    return t.view(torch.uint8) if t.dtype == torch.float8_e4m3fn else t


def _key_descriptor(keys: torch.Tensor, key_stride_b: int) -> tuple[TensorDescriptor | None, int]:
    """(descriptor over the keys as [rows, DI] tiles, rows per batch entry), or None where TMA cannot read
    them: the interpreter, batches not one row-contiguous block, unaligned bases."""
    if interpreted(keys) or not TMA_KEYS or keys.stride(-2) != keys.shape[-1]:
        return None, 0
    flat = keys.reshape(-1, keys.shape[-1]) if key_stride_b in (0, keys.shape[-2] * keys.shape[-1]) else None
    if flat is None or flat.data_ptr() % 16 or flat.shape[0] == 0:
        return None, 0
    rows_b = 0 if key_stride_b == 0 else keys.shape[-2]
    return TensorDescriptor.from_tensor(flat, [SCORE_TILE, keys.shape[-1]]), rows_b


def launch_scores(q, weights, keys, key_stride_b, positions, ratio, scores, aux, mode, cand=1, key_scales=None,
                  scales_stride_b=0, out=None, topk=0, block_table=None):
    """One scores launch into preallocated buffers; `mode` is SCORES_ONLY, DIGIT0_HIST (aux: the zeroed radix
    state) or CANDIDATES (aux: [rows, blocks·cand + RANK_MAX] int64; with `out`, the select is finished in the
    same launch). block_table: keys is a pool of vLLM's indexer pages [pages, page_bytes] (uint8). The bench
    times it alone."""
    rows = q.shape[0]
    if block_table is None:
        n, fp8 = keys.shape[-2], keys.dtype in FP8_KEYS
        keys_t = keys.view(torch.float8_e4m3fn) if fp8 and not interpreted(keys) else _bytes(keys)
        desc, rows_b = _key_descriptor(keys_t, key_stride_b)
        ks = key_scales if fp8 else scores  # any pointer: the kernel reads scales only for fp8 keys
        key_strides = (key_stride_b, keys.stride(-2), scales_stride_b)
        pages = (positions, 0, 0)  # any pointer: read only when PAGED
    else:
        n, fp8, rows_b = block_table.shape[1] * SCORE_TILE, True, 0
        desc = _page_descriptor(keys, q.shape[2])
        ks = keys.view(torch.float32)  # the scales sit in each page's tail
        key_strides = (0, 0, 0)
        pages = (block_table, block_table.stride(0), keys.stride(0))
    fused = out is not None
    state = FilterState.get(q.device, rows) if mode == CANDIDATES else None
    counts, h8, h16 = (state.counts, state.h8, state.h16) if state else (scores, scores, scores)
    dst = out if fused else scores
    blocks = max(triton.cdiv(n, SCORE_TILE * SCORE_TILES), 1)
    _index_scores_kernel[(rows, blocks)](
        _bytes(q), weights, _bytes(keys), keys if desc is None else desc, ks, positions, scores, aux, dst, counts,
        h8, h16, n, topk, rows_b, q.stride(0), q.stride(1), weights.stride(0), *key_strides, scores.stride(0),
        aux.stride(0), dst.stride(0), h8.stride(0), h16.stride(0), *pages,
        RATIO=ratio, HI=q.shape[1], DI=q.shape[2], BLOCK_N=SCORE_TILE, TILES=SCORE_TILES, OUT=mode.value, CAND=cand,
        FUSED=fused, FB=pool_chunk(blocks * cand, POOL_CHUNK_FUSED), FP8=fp8, DOT_F32=interpreted(q), PDL=use_pdl(q),
        TMA=desc is not None, RANK=RANK_MAX, PAGED=block_table is not None, **SCORES_LAUNCH,
    )
    return state


def _page_descriptor(pool: torch.Tensor, di: int) -> TensorDescriptor | None:
    """A [pages, SCORE_TILE, DI] descriptor over vLLM's indexer pages (one bulk copy a tile; page strides are
    16-byte multiples: 8,640 bytes in vLLM), or None where TMA cannot read them."""
    page_bytes = pool.stride(0)
    if interpreted(pool) or not TMA_KEYS or page_bytes % 16 or pool.data_ptr() % 16:
        return None
    return TensorDescriptor(pool.view(torch.float8_e4m3fn), [pool.shape[0], SCORE_TILE, di], [page_bytes, di, 1],
                            [1, SCORE_TILE, di])


def _scores_and_topk(q, weights, keys, key_stride_b, positions, topk, ratio, out, want_topk=True, *,
                     key_scales=None, scales_stride_b=0, select="filter", cand=None, fused=FUSED_FINISH,
                     block_table=None, **radix):
    """select: "filter" (filter_select.py, the default) or "radix" (radix_select.py; `radix` passes its path
    options compact, cap, rank, programs, scatter_max through). cand: T per block for "filter"; fused: finish
    it inside the scores launch instead of a second launch."""
    rows = q.shape[0]
    n = keys.shape[-2] if block_table is None else block_table.shape[1] * SCORE_TILE
    # the kernel skips tiles past each query's visible count; only the plain-scores call needs them as -inf
    alloc = torch.empty if want_topk else torch.full
    fill = () if want_topk else (float("-inf"),)
    scores = alloc((rows, max(n, 1)), *fill, device=q.device, dtype=torch.float32)
    blocks = max(triton.cdiv(n, SCORE_TILE * SCORE_TILES), 1)
    if not want_topk:
        mode, aux, cand = SCORES_ONLY, scores, 1
    elif select == "filter" and rows <= MAX_ROWS:
        cand = cand or candidates_per_block(n, topk)
        mode, aux = CANDIDATES, torch.empty(rows, blocks * cand + RANK_MAX, device=q.device, dtype=torch.int64)
    elif select in ("radix", "filter"):  # the filter's histograms are per row: long prefill chunks use radix
        select = "radix"
        mode, aux, cand = DIGIT0_HIST, torch.zeros(rows, HIST_WORDS, device=q.device, dtype=torch.int32), 1
    else:
        raise UsageError(f"unknown select {select!r}: use 'filter' or 'radix'")
    fuse = want_topk and select == "filter" and fused
    state = launch_scores(q, weights, keys, key_stride_b, positions, ratio, scores, aux, mode, cand, key_scales,
                          scales_stride_b, out if fuse else None, topk, block_table)
    if not want_topk or fuse:
        return out if fuse else scores
    if select == "filter":
        return filter_finish(scores, aux, positions, out, topk, ratio, cand, state, pdl=use_pdl(q))
    return select_topk(scores, positions, aux, out, topk, ratio, **radix)


def _scale_stride(key_scales: torch.Tensor | None) -> int:
    return 0 if key_scales is None else key_scales.stride(0)


def index_scores(
    q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor, ratio: int,
    *, key_scales: torch.Tensor | None = None,
) -> torch.Tensor:
    """[B, N] fp32 scores (-inf where not visible); q [B,HI,DI], weights [B,HI], keys [B,N,DI]."""
    _check(q, weights, keys, positions, key_scales)
    scores = _scores_and_topk(q, weights, keys, keys.stride(0), positions, 0, ratio, None, want_topk=False,
                              key_scales=key_scales, scales_stride_b=_scale_stride(key_scales))
    return scores[:, : keys.shape[1]]


def index_topk(
    q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor, topk: int, ratio: int,
    *, key_scales: torch.Tensor | None = None,
) -> torch.Tensor:
    """Decode: [B, topk] int32 indices of each sequence's highest-scoring visible entries, -1 padded.

    bf16/fp16/fp32 q and keys, or fp8 (e4m3) q and keys with key_scales [B, N] fp32 (the weights then carry
    q's per-head scales: inputs.indexer_fp8)."""
    _check(q, weights, keys, positions, key_scales)
    out = torch.empty(q.shape[0], topk, device=q.device, dtype=torch.int32)
    return _scores_and_topk(q, weights, keys, keys.stride(0), positions, topk, ratio, out, key_scales=key_scales,
                            scales_stride_b=_scale_stride(key_scales))


def check_index_pages(name: str, pool: torch.Tensor, page_rows: int, di: int) -> None:
    """A pool of vLLM's indexer pages as the kernels address it: [pages, page_bytes] uint8, each page page_rows keys'
    di e4m3 bytes then their fp32 scales, read through an fp32 view (so sizes, strides and address in 4-byte units).
    Shared by the reader (index_topk_paged) and the writer (compress_index.insert_index_keys)."""
    need = page_rows * (di + 4)
    if (pool.dim() != 2 or pool.dtype != torch.uint8 or pool.shape[1] < need or pool.shape[1] % 4
            or pool.stride(1) != 1 or pool.stride(0) % 4 or pool.data_ptr() % 4):
        raise UsageError(f"{name} must be vLLM's indexer pages: [pages, >= {need}] uint8, pages a multiple of 4 bytes "
                         f"apart ({page_rows} keys of {di} e4m3 bytes, then their fp32 scales): "
                         "lay them out as reference.page_index_keys does")


def index_topk_paged(
    q: torch.Tensor, weights: torch.Tensor, key_pages: torch.Tensor, block_table: torch.Tensor,
    positions: torch.Tensor, topk: int, ratio: int,
) -> torch.Tensor:
    """Decode over vLLM's indexer cache as it lays it out (research §4.4): key_pages [pages, page_bytes] uint8, a
    pool the batch shares, each page SCORE_TILE (64) keys' e4m3 bytes then their fp32 scales
    (reference.page_index_keys); block_table [B, blocks] names row b's pages in entry order. q fp8 as in
    `index_topk`. Returns [B, topk] int32 entry indices (pool_indices maps them into the attention's pool)."""
    check_dtype("q", q, FP8_KEYS)
    check_dtype("key_pages", key_pages, (torch.uint8,))
    check_dtype("block_table", block_table, (torch.int32, torch.int64))
    check_dtype("positions", positions, (torch.int32, torch.int64))
    check_index_pages("key_pages", key_pages, SCORE_TILE, q.shape[2])
    if block_table.dim() != 2 or block_table.shape[0] != q.shape[0] or block_table.stride(1) != 1:
        raise UsageError(f"block_table must be [{q.shape[0]}, blocks] with contiguous rows")
    check_last_contiguous("q", q)
    check_last_contiguous("weights", weights)
    out = torch.empty(q.shape[0], topk, device=q.device, dtype=torch.int32)
    return _scores_and_topk(q, weights, key_pages, 0, positions, topk, ratio, out, block_table=block_table)


def index_topk_prefill(
    q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor, topk: int, ratio: int,
    *, key_scales: torch.Tensor | None = None,
) -> torch.Tensor:
    """Prefill of one sequence: keys [N, DI] shared by all T queries (key_scales [N] for fp8); [T, topk] int32.

    Queries go in sub-chunks so the [rows, N] fp32 score buffer stays under 1 GiB (vLLM caps the same
    buffer, VLLM_SPARSE_INDEXER_MAX_LOGITS_MB, research §5).
    """
    _check(q, weights, keys[None], positions, None if key_scales is None else key_scales[None])
    out = torch.empty(q.shape[0], topk, device=q.device, dtype=torch.int32)
    step = max(PREFILL_SCORE_BYTES // (4 * max(keys.shape[0], 1)), 1)
    for lo in range(0, q.shape[0], step):
        hi = min(lo + step, q.shape[0])
        _scores_and_topk(q[lo:hi], weights[lo:hi], keys, 0, positions[lo:hi], topk, ratio, out[lo:hi],
                         key_scales=key_scales)
    return out
