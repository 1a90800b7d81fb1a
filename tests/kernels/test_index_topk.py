"""Indexer scores + radix top-k against the reference: decode and prefill, ragged, ties, short contexts."""

from __future__ import annotations

import pytest
import torch

from wholerepo.kernels import index_topk as kern
from wholerepo.kernels import reference as ref
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.inputs import make_decode_inputs

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


# (compact, cap, rank, programs, scatter_max): rank path; radix over the candidates; candidate list
# overflowed (whole row); several blocks per compact program; the older pass-per-digit path. scatter_max:
# 0 = digit 1 always by tl.histogram; 8 = both ways within one row (blocks with more matches histogram)
SELECT_PATHS = [(True, 4096, 128, 264, 256), (True, 4096, 16, 264, 256), (True, 16, 16, 264, 8),
                (True, 4096, 128, 1, 0), (True, 16, 16, 2, 8), (False, 4096, 128, 264, 0),
                (False, 4096, 128, 264, 256)]
PATH_ARGS = ("compact", "cap", "rank", "programs", "scatter_max")


@pytest.mark.parametrize(PATH_ARGS, SELECT_PATHS)
def test_ties_at_the_threshold_are_filled_exactly(tiny, device, small_dtype, assert_topk, compact, cap, rank,
                                                  programs, scatter_max):
    """Many equal keys: the k-th score is shared by more entries than slots left (68 keys share it in row 1,
    more than cap 16 and rank 16, so those paths run)."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 2, 800, device=device, dtype=small_dtype, seed=9)
    keys = inp.index_k.clone()
    keys[:, 1::3] = keys[:, :1]  # a third of the entries score exactly like entry 0
    scores = ref.index_scores(inp.index_q, inp.index_w, keys, inp.positions, cfg.ratio)
    out = torch.full((2, cfg.index_topk), 123456, device=device, dtype=torch.int32)
    got = kern._scores_and_topk(inp.index_q, inp.index_w, keys, keys.stride(0), inp.positions, cfg.index_topk,
                                cfg.ratio, out, compact=compact, cap=cap, rank=rank, programs=programs,
                                scatter_max=scatter_max)
    assert_topk(got, scores, cfg.index_topk)


@pytest.mark.parametrize(PATH_ARGS, SELECT_PATHS[1:])
def test_every_select_path_matches_reference(tiny, device, small_dtype, assert_topk, compact, cap, rank,
                                             programs, scatter_max):
    """Ragged rows of up to 5000 entries (3 blocks of 2048: programs=1 loops over all three)."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 3, 20000, device=device, dtype=small_dtype, seed=5, ragged=True)
    scores = ref.index_scores(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.ratio)
    out = torch.full((3, cfg.index_topk), 123456, device=device, dtype=torch.int32)
    got = kern._scores_and_topk(inp.index_q, inp.index_w, inp.index_k, inp.index_k.stride(0), inp.positions,
                                cfg.index_topk, cfg.ratio, out, compact=compact, cap=cap, rank=rank,
                                programs=programs, scatter_max=scatter_max)
    assert_topk(got, scores, cfg.index_topk)


def test_prefill_topk_is_per_query_and_causal(tiny, device, small_dtype, assert_topk):
    cfg = tiny()
    inp = make_decode_inputs(cfg, 1, 600, device=device, dtype=small_dtype, seed=4)
    t = 40
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


@pytest.mark.gpu
def test_prefill_topk_real_shapes(assert_topk):
    cfg = AttentionConfig.from_name("flash")
    keys = torch.randn(8192, cfg.index_dim, device="cuda").bfloat16()
    q = torch.randn(256, cfg.index_heads, cfg.index_dim, device="cuda").bfloat16()
    w = torch.randn(256, cfg.index_heads, device="cuda") * cfg.index_weight_scale
    positions = torch.randint(0, 4 * 8192, (256,), device="cuda")
    got = kern.index_topk_prefill(q, w, keys, positions, cfg.index_topk, cfg.ratio)
    assert_topk(got, ref.index_scores(q, w, keys.expand(256, *keys.shape), positions, cfg.ratio), cfg.index_topk)
