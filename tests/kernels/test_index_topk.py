"""Indexer scores + radix top-k against the reference: decode and prefill, ragged, ties, short contexts."""

from __future__ import annotations

import pytest
import torch

from wholerepo.errors import UsageError
from wholerepo.kernels import index_topk as kern
from wholerepo.kernels import reference as ref
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.filter_select import FilterState
from wholerepo.kernels.inputs import indexer_fp8, make_decode_inputs

SCORE_TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-4}  # same rounded inputs; only summation order differs


@pytest.mark.parametrize(("batch", "context"), [(1, 3), (2, 37), (3, 700), (2, 4500)])
def test_decode_topk_matches_reference(tiny, device, small_dtype, batch, context, assert_topk, assert_rel_close):
    cfg = tiny()
    inp = make_decode_inputs(cfg, batch, context, device=device, dtype=small_dtype, seed=context, ragged=True)
    scores = ref.index_scores(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.ratio)
    got_scores = kern.index_scores(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.ratio)
    finite = torch.isfinite(scores)
    assert torch.equal(torch.isfinite(got_scores), finite)
    if finite.any():
        assert_rel_close(got_scores[finite], scores[finite], SCORE_TOL[small_dtype])
    got = kern.index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    assert got.shape == (batch, cfg.index_topk) and got.dtype == torch.int32
    assert_topk(got, scores, cfg.index_topk)


# Every select path. filter: default T; T=4 (below k=16, so blocks overflow and are re-read whole); T=2;
# finished by a second launch (default) or inside the scores launch (fused).
# radix (compact, cap, rank, programs, scatter_max): rank path; radix over the candidates; candidate list
# overflowed (whole row); several blocks per compact program; the older pass-per-digit path. scatter_max:
# 0 = digit 1 always by tl.histogram; 8 = both ways within one row (blocks with more matches histogram)
SELECT_PATHS = [
    {"select": "filter"}, {"select": "filter", "cand": 4}, {"select": "filter", "cand": 2},
    {"select": "filter", "fused": True}, {"select": "filter", "cand": 4, "fused": True},
    *({"select": "radix", "compact": c, "cap": cap, "rank": r, "programs": p, "scatter_max": m}
      for c, cap, r, p, m in [(True, 4096, 128, 264, 256), (True, 4096, 16, 264, 256), (True, 16, 16, 264, 8),
                              (True, 4096, 128, 1, 0), (True, 16, 16, 2, 8), (False, 4096, 128, 264, 0),
                              (False, 4096, 128, 264, 256)]),
]  # fmt: skip


def _path_id(path: dict) -> str:
    return "-".join(f"{v}" for v in path.values())


@pytest.mark.parametrize("path", SELECT_PATHS, ids=_path_id)
def test_ties_at_the_threshold_are_filled_exactly(tiny, device, small_dtype, assert_topk, path):
    """Many equal keys: the k-th score is shared by more entries than slots left (68 keys share it in row 1,
    more than cap 16 and rank 16, so those paths run)."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 2, 800, device=device, dtype=small_dtype, seed=9)
    keys = inp.index_k.clone()
    keys[:, 1::3] = keys[:, :1]  # a third of the entries score exactly like entry 0
    scores = ref.index_scores(inp.index_q, inp.index_w, keys, inp.positions, cfg.ratio)
    out = torch.full((2, cfg.index_topk), 123456, device=device, dtype=torch.int32)
    got = kern._scores_and_topk(inp.index_q, inp.index_w, keys, keys.stride(0), inp.positions, cfg.index_topk,
                                cfg.ratio, out, **path)
    assert_topk(got, scores, cfg.index_topk)


@pytest.mark.parametrize("path", SELECT_PATHS[1:], ids=_path_id)
def test_every_select_path_matches_reference(tiny, device, small_dtype, assert_topk, path):
    """Ragged rows of up to 5000 entries (5 filter blocks of 1024; 3 radix blocks of 2048: programs=1 loops
    over all three)."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 3, 20000, device=device, dtype=small_dtype, seed=5, ragged=True)
    scores = ref.index_scores(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.ratio)
    out = torch.full((3, cfg.index_topk), 123456, device=device, dtype=torch.int32)
    got = kern._scores_and_topk(inp.index_q, inp.index_w, inp.index_k, inp.index_k.stride(0), inp.positions,
                                cfg.index_topk, cfg.ratio, out, **path)
    assert_topk(got, scores, cfg.index_topk)
    if path["select"] == "filter":  # the finish put back the zeros its histograms and counters started from
        state = FilterState.get(inp.positions.device, 3)
        assert not state.h8.any() and not state.h16.any() and not state.counts.any()


@pytest.mark.parametrize("cand", [None, 4])
def test_filter_rereads_a_block_holding_most_of_the_top_k(tiny, device, small_dtype, assert_topk, cand):
    """Clustered scores, as real attention has: 40 of the best keys sit in block 1 (entries 1024..1063),
    more than its T candidates, so the finisher must re-read that block whole; with T=4 every row does."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 2, 20000, device=device, dtype=small_dtype, seed=6)
    keys = inp.index_k.clone()
    scores = ref.index_scores(inp.index_q, inp.index_w, keys, inp.positions, cfg.ratio)
    best = scores.argmax(dim=1)
    for row in range(2):
        hot = keys[row, best[row]] * 4
        keys[row, 1024:1064] = hot + 0.01 * torch.randn(40, cfg.index_dim, device=device).to(keys.dtype)
    scores = ref.index_scores(inp.index_q, inp.index_w, keys, inp.positions, cfg.ratio)
    assert (scores[:, 1024:1064] > scores[:, :1024].max(dim=1, keepdim=True).values).all()
    out = torch.full((2, cfg.index_topk), 123456, device=device, dtype=torch.int32)
    got = kern._scores_and_topk(inp.index_q, inp.index_w, keys, keys.stride(0), inp.positions, cfg.index_topk,
                                cfg.ratio, out, select="filter", cand=cand)
    assert_topk(got, scores, cfg.index_topk)
    assert ((got >= 1024) & (got < 1064)).sum(dim=1).tolist() == [cfg.index_topk] * 2


@pytest.mark.parametrize("cand", [None, 128])
def test_filter_ranks_every_size_of_the_threshold_bin(tiny, device, small_dtype, cand):
    """Exact scores built so that 20, 50, 100 and 200 keys share τ's 16-bit prefix (the 32-, 64- and
    128-key rank tiles, and a bin too big to rank, which falls back to the full select), with ties inside
    the bin; the picks must be exactly a top 16, and the histograms zero again afterwards. cand=128 keeps
    each block's share of the bin in the pool, so the fast path ranks it; default T overflows into re-reads.

    Scores are w0·a + w1·b from two heads (q = unit vectors, w = [1, 2^-9]) with a, b exact in bf16, so
    the kernel (either dtype) and the reference agree to the bit."""
    cfg = tiny()
    sizes = [20, 50, 100, 200]
    inp = make_decode_inputs(cfg, len(sizes), 8192, device=device, dtype=small_dtype, seed=3)
    n = inp.index_k.shape[1]  # 2048: two 1024-key blocks
    q = torch.zeros_like(inp.index_q)
    q[:, 0, 0], q[:, 1, 1] = 1, 1
    w = torch.zeros_like(inp.index_w)
    w[:, 0], w[:, 1] = 1, 2.0**-9
    gen = torch.Generator().manual_seed(11)
    a = 0.25 + torch.randint(0, 32, (len(sizes), n), generator=gen) / 128  # below the bin, 32 values
    b = torch.zeros(len(sizes), n)
    for row, size in enumerate(sizes):
        at = torch.randperm(n, generator=gen)[: size + 5]
        a[row, at[:5]] = 4.0  # 5 keys clearly above the bin
        a[row, at[5:]] = 1.0  # the bin: 1 + 2^-9·b, b in [1, 2) on 64 values, so larger bins hold ties
        b[row, at[5:]] = 1 + torch.randint(0, 64, (size,), generator=gen) / 128
    keys = torch.zeros_like(inp.index_k)
    keys[:, :, 0], keys[:, :, 1] = a.to(device), b.to(device)
    scores = ref.index_scores(q, w, keys, inp.positions, cfg.ratio)
    out = torch.full((len(sizes), cfg.index_topk), 123456, device=device, dtype=torch.int32)
    got = kern._scores_and_topk(q, w, keys, keys.stride(0), inp.positions, cfg.index_topk, cfg.ratio, out,
                                select="filter", cand=cand).cpu().long()
    scores = scores.cpu()
    for row in range(len(sizes)):
        kth = scores[row].sort(descending=True).values[cfg.index_topk - 1]
        picks = got[row]
        assert picks.unique().numel() == cfg.index_topk and (picks >= 0).all()
        assert (scores[row, picks] >= kth).all(), f"row {row}: a pick below the k-th score"
        assert (scores[row] > kth).sum() == (scores[row, picks] > kth).sum(), f"row {row}: a better key missed"
    state = FilterState.get(inp.positions.device, len(sizes))
    assert not state.h8.any() and not state.h16.any()


def test_fp8_keys_match_the_dequantized_reference(tiny, device, assert_topk, assert_rel_close):
    """vLLM's indexer cache: e4m3 keys with one fp32 scale each, an e4m3 query whose per-head scale is
    folded into the weights; scores equal the reference on the dequantized values."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 3, 9000, device=device, dtype=torch.float32, seed=8, ragged=True)
    fp8 = indexer_fp8(inp)
    want = ref.index_scores(fp8.q.float(), fp8.w, ref.dequantize_index_fp8(fp8.k.view(torch.uint8), fp8.k_scale),
                            inp.positions, cfg.ratio)
    got_scores = kern.index_scores(fp8.q, fp8.w, fp8.k, inp.positions, cfg.ratio, key_scales=fp8.k_scale)
    finite = torch.isfinite(want)
    assert torch.equal(torch.isfinite(got_scores), finite)
    assert_rel_close(got_scores[finite], want[finite], 1e-3 if device == "cuda" else 1e-5)
    got = kern.index_topk(fp8.q, fp8.w, fp8.k, inp.positions, cfg.index_topk, cfg.ratio, key_scales=fp8.k_scale)
    assert_topk(got, want, cfg.index_topk)


def _shuffled_index_pages(fp8, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """fp8 indexer keys as vLLM's pages in one pool, pages shuffled among 2 stray ones (noise) under a table."""
    pool, table = ref.page_index_keys(fp8.k.view(torch.uint8), fp8.k_scale)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(pool.shape[0] + 2, generator=gen).to(pool.device)
    shuffled = torch.randint(0, 256, (pool.shape[0] + 2, pool.shape[1]), generator=gen, dtype=torch.uint8)
    shuffled = shuffled.to(pool.device)
    shuffled[order[: pool.shape[0]]] = pool
    return shuffled, order[table]


def test_fp8_keys_in_vllm_pages_pick_what_the_rows_pick(tiny, device, assert_topk):
    """vLLM's indexer cache as laid out (64 keys' e4m3 bytes then their fp32 scales a page, 576-byte multiples, a
    pool under a block table): the row layout's picks, and the reference's."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 3, 9000 + 44, device=device, dtype=torch.float32, seed=9, ragged=True)
    fp8 = indexer_fp8(inp)
    pool, table = _shuffled_index_pages(fp8, 1)
    assert pool.shape[1] == 2304 and ref.page_index_keys(fp8.k.view(torch.uint8), fp8.k_scale)[0].shape[1] == 2304
    data, scales = ref.unpage_index_keys(pool, table, cfg.index_dim)
    n = fp8.k.shape[1]
    assert torch.equal(data[:, :n], fp8.k.view(torch.uint8)) and torch.equal(scales[:, :n], fp8.k_scale)
    got = kern.index_topk_paged(fp8.q, fp8.w, pool, table, inp.positions, cfg.index_topk, cfg.ratio)
    rows = kern.index_topk(fp8.q, fp8.w, fp8.k, inp.positions, cfg.index_topk, cfg.ratio, key_scales=fp8.k_scale)
    assert torch.equal(got.sort(dim=1).values, rows.sort(dim=1).values)
    want = ref.index_scores(fp8.q.float(), fp8.w, ref.dequantize_index_fp8(fp8.k.view(torch.uint8), fp8.k_scale),
                            inp.positions, cfg.ratio)
    assert_topk(got, want, cfg.index_topk)
    with pytest.raises(UsageError, match="page_index_keys"):
        kern.index_topk_paged(fp8.q, fp8.w, pool[:, :2000], table, inp.positions, cfg.index_topk, cfg.ratio)


def test_fp8_keys_without_scales_are_refused(tiny, device):
    cfg = tiny()
    fp8 = indexer_fp8(make_decode_inputs(cfg, 1, 400, device=device, dtype=torch.float32, seed=1))
    with pytest.raises(UsageError, match="key_scales"):
        kern.index_topk(fp8.q, fp8.w, fp8.k, torch.tensor([399], device=device), cfg.index_topk, cfg.ratio)


def test_prefill_topk_is_per_query_and_causal(tiny, device, small_dtype, assert_topk):
    cfg = tiny()
    inp = make_decode_inputs(cfg, 1, 600, device=device, dtype=small_dtype, seed=4)
    t = 20  # each query is a row of its own (the interpreter runs one program at a time)
    q = torch.randn(t, cfg.index_heads, cfg.index_dim, device=device).to(small_dtype)
    w = torch.randn(t, cfg.index_heads, device=device)
    positions = torch.randint(0, 600, (t,), device=device)
    keys = inp.index_k[0]
    got = kern.index_topk_prefill(q, w, keys, positions, cfg.index_topk, cfg.ratio)
    scores = ref.index_scores(q, w, keys.expand(t, *keys.shape), positions, cfg.ratio)
    assert_topk(got, scores, cfg.index_topk)


def test_output_is_fully_written_over_poison(tiny, device, small_dtype):
    cfg = tiny()
    inp = make_decode_inputs(cfg, 2, 300, device=device, dtype=small_dtype, seed=1)
    out = torch.full((2, cfg.index_topk), 123456, device=device, dtype=torch.int32)
    kern._scores_and_topk(inp.index_q, inp.index_w, inp.index_k, inp.index_k.stride(0), inp.positions,
                          cfg.index_topk, cfg.ratio, out)
    assert not (out == 123456).any()


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["flash", "pro"])
@pytest.mark.parametrize(("batch", "context"), [(1, 1 << 20), (4, 131072 + 77)])
def test_decode_topk_real_shapes(name, batch, context, assert_topk):
    cfg = AttentionConfig.from_name(name)
    inp = make_decode_inputs(cfg, batch, context, device="cuda", seed=batch, ragged=True)
    scores = ref.index_scores(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.ratio)
    got = kern.index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    assert_topk(got, scores, cfg.index_topk)


def _fp8_index_case(name: str, batch: int, context: int, device: str, seed: int):
    """(config, decode inputs, their fp8 indexer form, reference scores on the dequantized keys)."""
    cfg = AttentionConfig.from_name(name)
    inp = make_decode_inputs(cfg, batch, context, device=device, seed=seed, ragged=True)
    fp8 = indexer_fp8(inp)
    keys = ref.dequantize_index_fp8(fp8.k.view(torch.uint8), fp8.k_scale)
    return cfg, inp, fp8, ref.index_scores(fp8.q.float(), fp8.w, keys, inp.positions, cfg.ratio)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["flash", "pro"])
@pytest.mark.parametrize(("batch", "context"), [(1, 1 << 20), (4, 131072 + 77), (2, 8192)])
def test_decode_topk_fp8_keys_real_shapes(name, batch, context, assert_topk):
    cfg, inp, fp8, scores = _fp8_index_case(name, batch, context, "cuda", seed=batch + 1)
    got = kern.index_topk(fp8.q, fp8.w, fp8.k, inp.positions, cfg.index_topk, cfg.ratio, key_scales=fp8.k_scale)
    assert_topk(got, scores, cfg.index_topk)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["flash", "pro"])
@pytest.mark.parametrize(("batch", "context"), [(1, 1 << 20), (4, 131072 + 77), (2, 8192)])
def test_decode_topk_vllm_index_pages_real_shapes(name, batch, context, assert_topk):
    cfg, inp, fp8, scores = _fp8_index_case(name, batch, context, "cuda", seed=batch + 2)
    pool, table = _shuffled_index_pages(fp8, batch)
    assert pool.shape[1] == 8640  # vLLM's c4a indexer page (research §4.4)
    got = kern.index_topk_paged(fp8.q, fp8.w, pool, table, inp.positions, cfg.index_topk, cfg.ratio)
    assert_topk(got, scores, cfg.index_topk)
    rows = kern.index_topk(fp8.q, fp8.w, fp8.k, inp.positions, cfg.index_topk, cfg.ratio, key_scales=fp8.k_scale)
    assert torch.equal(got.sort(dim=1).values, rows.sort(dim=1).values)


def test_prefill_fp8_keys_share_one_scale_row(tiny, device, assert_topk):
    cfg = tiny()
    inp = make_decode_inputs(cfg, 1, 3000, device=device, dtype=torch.float32, seed=12)
    t = 12
    q8, q_scale = ref.quantize_index_fp8(torch.randn(t, cfg.index_heads, cfg.index_dim, device=device))
    w = torch.randn(t, cfg.index_heads, device=device) * q_scale
    k8, k_scale = ref.quantize_index_fp8(inp.index_k[0])
    positions = torch.randint(0, 3000, (t,), device=device)
    fp8 = torch.float8_e4m3fn
    got = kern.index_topk_prefill(q8.view(fp8), w, k8.view(fp8), positions, cfg.index_topk, cfg.ratio,
                                  key_scales=k_scale)
    keys = ref.dequantize_index_fp8(k8, k_scale)
    want = ref.index_scores(q8.view(fp8).float(), w, keys.expand(t, *keys.shape), positions, cfg.ratio)
    assert_topk(got, want, cfg.index_topk)


@pytest.mark.gpu
def test_prefill_topk_real_shapes(assert_topk):
    cfg = AttentionConfig.from_name("flash")
    keys = torch.randn(8192, cfg.index_dim, device="cuda").bfloat16()
    q = torch.randn(256, cfg.index_heads, cfg.index_dim, device="cuda").bfloat16()
    w = torch.randn(256, cfg.index_heads, device="cuda") * cfg.index_weight_scale
    positions = torch.randint(0, 4 * 8192, (256,), device="cuda")
    got = kern.index_topk_prefill(q, w, keys, positions, cfg.index_topk, cfg.ratio)
    assert_topk(got, ref.index_scores(q, w, keys.expand(256, *keys.shape), positions, cfg.ratio), cfg.index_topk)
