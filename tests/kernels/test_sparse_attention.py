"""Sparse attention with sink (decode and prefill, bf16 and fp8 rows) against the fp32 reference."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from wholerepo.errors import UsageError
from wholerepo.kernels import reference as ref
from wholerepo.kernels import sparse_attention as kern
from wholerepo.kernels import sparse_attention_hopper as hopper
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.inputs import c128a_indices, make_decode_inputs, vllm_caches
from wholerepo.kernels.pool_indices import pool_indices

# fp8 rows dequantize exactly into bf16 (3 mantissa bits fit in 7), so the cache layout adds no error:
# the tolerance depends on the query/compute dtype only.
TOL = {torch.float32: 1e-4, torch.bfloat16: 2e-2}
SMALL = kern.AttnTuning(block_h=16, block_e=16, num_warps=4, target_programs=8)


def _indices(inp, cfg):
    if cfg.ratio == 128:
        return c128a_indices(inp, cfg)
    return ref.index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)


@pytest.mark.parametrize("fp8", [False, True])
@pytest.mark.parametrize(("ratio", "batch", "context"), [(4, 1, 1), (4, 3, 90), (4, 2, 1029), (128, 2, 3000)])
def test_decode_matches_reference(tiny, device, small_dtype, fp8, ratio, batch, context, assert_rel_close):
    cfg = tiny(ratio)
    inp = make_decode_inputs(cfg, batch, context, device=device, dtype=small_dtype, fp8=fp8, seed=context,
                             ragged=True)
    idx = _indices(inp, cfg)
    want = ref.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    poisoned = torch.full_like(inp.q, float("nan"))  # every element must be overwritten (checked: finite)
    got = kern.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg,
                                tuning=SMALL, out=poisoned)
    assert got.data_ptr() == poisoned.data_ptr() and got.dtype == small_dtype
    assert_rel_close(got, want, TOL[small_dtype])


def test_split_count_does_not_change_the_result(tiny, device, small_dtype, assert_rel_close):
    """One split vs many: the sink must enter the denominator once, after the splits merge."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 2, 500, device=device, dtype=small_dtype, seed=8)
    idx = _indices(inp, cfg)
    args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    one = kern.sparse_attention(*args, tuning=kern.AttnTuning(block_h=16, block_e=16, target_programs=1))
    many = kern.sparse_attention(*args, tuning=kern.AttnTuning(block_h=16, block_e=16, target_programs=64))
    assert_rel_close(many, one, TOL[small_dtype])


@pytest.mark.parametrize("fp8", [False, True])
def test_split_output_dims_match_reference(tiny, device, small_dtype, fp8, assert_rel_close):
    """dv_split=2: two programs per head block, each accumulating half the output dims (one holds the
    rope dims), both writing one split's m and l only once."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 2, 300, device=device, dtype=small_dtype, fp8=fp8, seed=12, ragged=True)
    idx = _indices(inp, cfg)
    args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    tuning = kern.AttnTuning(block_h=16, block_e=16, num_warps=4, target_programs=8, dv_split=2)
    got = kern.sparse_attention(*args, tuning=tuning, out=torch.full_like(inp.q, float("nan")))
    assert_rel_close(got, ref.sparse_attention(*args), TOL[small_dtype])


@pytest.mark.parametrize("fp8", [False, True])
def test_prefill_matches_reference(tiny, device, small_dtype, fp8, assert_rel_close):
    cfg = tiny()
    length, t = 230, 24
    kv = torch.randn(length, cfg.head_dim, device=device)
    comp = torch.randn(length // 4, cfg.head_dim, device=device)
    kv, comp = (ref.quantize_kv_rows(kv, cfg), ref.quantize_kv_rows(comp, cfg)) if fp8 else (
        kv.to(small_dtype), comp.to(small_dtype))
    positions = torch.randint(0, length, (t,), device=device)
    positions[0] = 2  # a query whose window starts before position 0 and sees no entry
    keys = torch.randn(length // 4, cfg.index_dim, device=device).to(small_dtype)
    iq = torch.randn(t, cfg.index_heads, cfg.index_dim, device=device).to(small_dtype)
    idx = ref.index_topk_prefill(iq, torch.randn(t, cfg.index_heads, device=device), keys, positions,
                                 cfg.index_topk, cfg.ratio)
    q = torch.randn(t, cfg.n_heads, cfg.head_dim, device=device).to(small_dtype)
    sink, freq = torch.randn(cfg.n_heads, device=device), ref.rope_inv_freq(cfg).to(device)
    want = ref.sparse_attention_prefill(q, kv, comp, idx, positions, sink, freq, cfg)
    got = kern.sparse_attention_prefill(q, kv, comp, idx, positions, sink, freq, cfg, tuning=SMALL,
                                        out=torch.full_like(q, float("nan")))
    assert_rel_close(got, want, TOL[small_dtype])


@pytest.mark.gpu
@pytest.mark.parametrize("fp8", [False, True])
@pytest.mark.parametrize(("name", "ratio", "batch", "context"),
                         [("flash", 4, 1, 1 << 20), ("pro", 4, 4, 131072 + 300), ("flash", 128, 2, 1 << 20),
                          ("pro", 128, 3, 70000)])
def test_decode_real_shapes(name, ratio, batch, context, fp8, assert_rel_close):
    cfg = AttentionConfig.from_name(name, ratio=ratio)
    inp = make_decode_inputs(cfg, batch, context, device="cuda", fp8=fp8, seed=batch, ragged=True)
    idx = _indices(inp, cfg)
    args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    want = ref.sparse_attention(*args)
    assert_rel_close(kern.sparse_attention(*args), want, TOL[torch.bfloat16])
    if (name, ratio, batch) == ("pro", 4, 4):  # every shape the bench may make a default must be right
        for tuning in kern.GPU_CANDIDATES:
            assert_rel_close(kern.sparse_attention(*args, tuning=tuning), want, TOL[torch.bfloat16])


def _page_pool(pages: torch.Tensor, gen_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence pages [B, P, bytes] scattered into one shuffled pool [B·P + 3, bytes] (3 pages nobody owns, filled
    with noise), as vLLM's allocator leaves them; returns (pool, block_table [B, P])."""
    batch, n_pages, width = pages.shape
    gen = torch.Generator().manual_seed(gen_seed)
    pool = torch.randint(0, 256, (batch * n_pages + 3, width), generator=gen, dtype=torch.uint8).to(pages.device)
    table = torch.randperm(batch * n_pages + 3, generator=gen)[: batch * n_pages].view(batch, n_pages)
    table = table.to(pages.device)
    pool[table.flatten()] = pages.flatten(0, 1)
    return pool, table


@pytest.mark.parametrize("page_rows", [4, 16])
def test_decode_reads_vllm_fp8_pages_per_sequence_and_from_a_shared_pool(tiny, device, small_dtype, page_rows,
                                                                         assert_rel_close):
    """fp8 caches as vLLM pages (data parts, then scale parts, per page): per sequence [B, pages, bytes], and the
    compressed cache as one shuffled pool the batch shares with block-table indices. Same bits as the row layout."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 3, 700, device=device, dtype=small_dtype, fp8=True, seed=21, ragged=True)
    idx = _indices(inp, cfg)
    rows_args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    want = ref.sparse_attention(*rows_args)
    from_rows = kern.sparse_attention(*rows_args, tuning=SMALL)
    win_p, comp_p = ref.page_kv_rows(inp.window_kv, cfg, page_rows), ref.page_kv_rows(inp.comp_kv, cfg, page_rows)
    assert comp_p.shape[-1] == cfg.fp8_page_bytes(page_rows) > page_rows * cfg.fp8_row_bytes  # padded pages
    paged = kern.sparse_attention(inp.q, win_p, comp_p, idx, inp.positions, inp.sink, inp.inv_freq, cfg,
                                  tuning=SMALL, page_rows=page_rows, out=torch.full_like(inp.q, float("nan")))
    pool, table = _page_pool(comp_p, page_rows)
    pool_idx = ref.kvcache_indices(idx, table, page_rows)
    pooled = kern.sparse_attention(inp.q, win_p, pool, pool_idx, inp.positions, inp.sink, inp.inv_freq, cfg,
                                   tuning=SMALL, page_rows=page_rows, out=torch.full_like(inp.q, float("nan")))
    assert_rel_close(paged, want, TOL[small_dtype])
    assert torch.equal(paged, from_rows) and torch.equal(pooled, from_rows)
    ref_pooled = ref.sparse_attention(inp.q, win_p, pool, pool_idx, inp.positions, inp.sink, inp.inv_freq, cfg,
                                      page_rows)
    assert_rel_close(ref_pooled, want, 1e-6)


def _positional_window_pool(ring: torch.Tensor, positions: torch.Tensor, block: int, seed: int):
    """The decode ring [B, W, ·] (slot p % W) re-laid as vLLM keeps its window cache: each sequence's rows by
    position in blocks of `block` rows under a block table, the blocks that hold window positions scattered through
    one pool of noise rows (as vLLM frees older blocks, every other table entry names page 0: nobody may read
    them). Returns (pool rows [P·block, ·], block table [B, max position // block + 1])."""
    batch, width, row = ring.shape
    spans = [range(max(0, int(positions[b]) - width + 1), int(positions[b]) + 1) for b in range(batch)]
    live = sorted({(b, p // block) for b in range(batch) for p in spans[b]})
    gen = torch.Generator().manual_seed(seed)
    n_pages = len(live) + 2
    if ring.dtype == torch.uint8:
        pool = torch.randint(0, 256, (n_pages * block, row), generator=gen, dtype=torch.uint8)
    else:
        pool = torch.randn(n_pages * block, row, generator=gen).to(ring.dtype)
    pool = pool.to(ring.device)
    table = torch.zeros(batch, int(positions.max()) // block + 1, dtype=torch.int64)
    for (b, blk), page in zip(live, torch.randperm(n_pages, generator=gen).tolist(), strict=False):
        table[b, blk] = page
    table = table.to(ring.device)
    for b in range(batch):
        for p in spans[b]:
            pool[int(table[b, p // block]) * block + p % block] = ring[b, p % width]
    return pool, table


@pytest.mark.parametrize("fp8", [False, True])
def test_decode_reads_a_paged_window_through_window_indices(tiny, device, small_dtype, fp8, assert_rel_close):
    """The window as vLLM keeps it (by position, in blocks under a block table, one pool for the batch) read
    through window_indices: the ring's bits, for bf16 rows and for fp8 pages, with the compressed pool beside it."""
    cfg, block = tiny(), 8
    inp = make_decode_inputs(cfg, 3, 400, device=device, dtype=small_dtype, fp8=fp8, seed=31, ragged=True)
    inp.positions[1] = 5  # a window that starts before position 0
    idx = _indices(inp, cfg)
    rest = (inp.positions, inp.sink, inp.inv_freq, cfg)
    from_ring = kern.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, *rest, tuning=SMALL)
    pool, table = _positional_window_pool(inp.window_kv, inp.positions, block, 3)
    win_idx = ref.window_indices(inp.positions, table, block, cfg.window)
    assert (win_idx[1, : cfg.window - 6] == -1).all() and (win_idx[1, cfg.window - 6 :] >= 0).all()
    page_rows = block if fp8 else 1
    win_cache = ref.page_kv_rows(pool, cfg, block) if fp8 else pool
    comp = ref.page_kv_rows(inp.comp_kv, cfg, block) if fp8 else inp.comp_kv
    got = kern.sparse_attention(inp.q, win_cache, comp, idx, *rest, tuning=SMALL, page_rows=page_rows,
                                window_indices=win_idx, out=torch.full_like(inp.q, float("nan")))
    assert torch.equal(got, from_ring)
    want = ref.sparse_attention(inp.q, win_cache, comp, idx, *rest, page_rows, window_indices=win_idx)
    assert_rel_close(want, ref.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, *rest), 1e-6)
    with pytest.raises(UsageError, match="window_indices must be"):
        kern.sparse_attention(inp.q, win_cache, comp, idx, *rest, page_rows=page_rows, window_indices=win_idx[:, 1:])


def test_vllm_caches_as_laid_out_give_the_ring_layouts_answer(tiny, device, small_dtype):
    """inputs.vllm_caches (what the bench times as vLLM's layout): both pools through their block tables."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 3, 900, device=device, dtype=small_dtype, fp8=True, seed=41, ragged=True)
    inp.positions[2] = 3
    idx = _indices(inp, cfg)
    rest = (inp.positions, inp.sink, inp.inv_freq, cfg)
    caches = vllm_caches(inp, cfg, page_rows=4)
    win_rows, comp_rows = pool_indices(idx, inp.positions, caches.window_table, caches.comp_table, 4, cfg.window)
    assert torch.equal(win_rows, ref.window_indices(inp.positions, caches.window_table, 4, cfg.window))
    assert torch.equal(comp_rows, ref.kvcache_indices(idx, caches.comp_table, 4))
    assert kern._window_then_compressed(win_rows, comp_rows).data_ptr() == win_rows.data_ptr()  # read in place
    got = kern.sparse_attention(inp.q, caches.window, caches.comp, comp_rows, *rest, tuning=SMALL, page_rows=4,
                                window_indices=win_rows)
    assert torch.equal(got, kern.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, *rest, tuning=SMALL))


@pytest.mark.parametrize("table_dtype", [torch.int32, torch.int64])
def test_pool_indices_match_the_reference_translation(device, table_dtype):
    """Both lists through shuffled block tables in one launch: -1 entries, windows before position 0, partial
    last blocks, K not a multiple of the launch's block."""
    gen = torch.Generator().manual_seed(5)
    batch, k, window, rows = 3, 300, 16, 8
    positions = torch.tensor([2, 700, 129])
    n = positions // 4 + 1
    idx = torch.stack([torch.randint(0, int(m), (k,), generator=gen) for m in n]).to(torch.int32)
    idx[:, ::7] = -1
    win_table = torch.randperm(300, generator=gen)[: batch * 90].view(batch, 90).to(table_dtype)
    comp_table = torch.randperm(300, generator=gen)[: batch * 30].view(batch, 30).to(table_dtype)
    args = [t.to(device) for t in (idx, positions, win_table, comp_table)]
    win_rows, comp_rows = pool_indices(*args, rows, window)
    assert torch.equal(win_rows.cpu(), ref.window_indices(positions, win_table, rows, window))
    assert torch.equal(comp_rows.cpu(), ref.kvcache_indices(idx, comp_table, rows))
    assert (win_rows[0, : window - 3] == -1).all() and (comp_rows[:, ::7] == -1).all()
    with pytest.raises(UsageError, match="block table"):
        pool_indices(args[0], args[1], args[2][:2], args[3], rows, window)


def test_prefill_reads_vllm_fp8_pages(tiny, device, small_dtype, assert_rel_close):
    cfg = tiny()
    length, t = 230, 24
    kv = ref.quantize_kv_rows(torch.randn(length, cfg.head_dim, device=device), cfg)
    comp = ref.quantize_kv_rows(torch.randn(length // 4, cfg.head_dim, device=device), cfg)
    positions = torch.randint(0, length, (t,), device=device)
    idx = ref.index_topk_prefill(torch.randn(t, cfg.index_heads, cfg.index_dim, device=device).to(small_dtype),
                                 torch.randn(t, cfg.index_heads, device=device),
                                 torch.randn(length // 4, cfg.index_dim, device=device).to(small_dtype), positions,
                                 cfg.index_topk, cfg.ratio)
    q = torch.randn(t, cfg.n_heads, cfg.head_dim, device=device).to(small_dtype)
    sink, freq = torch.randn(cfg.n_heads, device=device), ref.rope_inv_freq(cfg).to(device)
    want = ref.sparse_attention_prefill(q, kv, comp, idx, positions, sink, freq, cfg)
    got = kern.sparse_attention_prefill(q, ref.page_kv_rows(kv, cfg, 8), ref.page_kv_rows(comp, cfg, 8), idx,
                                        positions, sink, freq, cfg, tuning=SMALL, page_rows=8,
                                        out=torch.full_like(q, float("nan")))
    assert_rel_close(got, want, TOL[small_dtype])


def _check_prefill_window_from_a_paged_pool(cfg, tuning, device, dtype, fp8, length, t, block):
    """Prefill with the sequence's kv as vLLM keeps it: by position in blocks of a shuffled pool under its block
    table, each query's window through pool_indices (the table expanded over the queries): the bits of the plain
    by-position read, and the reference's answer."""
    kv = torch.randn(length, cfg.head_dim, device=device)
    comp = torch.randn(length // 4, cfg.head_dim, device=device)
    kv, comp = (ref.quantize_kv_rows(kv, cfg), ref.quantize_kv_rows(comp, cfg)) if fp8 else (kv.to(dtype),
                                                                                               comp.to(dtype))
    positions = torch.randint(0, length, (t,), device=device)
    positions[0] = 2
    idx = ref.index_topk_prefill(torch.randn(t, cfg.index_heads, cfg.index_dim, device=device).to(dtype),
                                 torch.randn(t, cfg.index_heads, device=device),
                                 torch.randn(length // 4, cfg.index_dim, device=device).to(dtype), positions,
                                 cfg.index_topk, cfg.ratio)
    q = torch.randn(t, cfg.n_heads, cfg.head_dim, device=device).to(dtype)
    rest = (torch.randn(cfg.n_heads, device=device), ref.rope_inv_freq(cfg).to(device), cfg)
    plain = kern.sparse_attention_prefill(q, kv, comp, idx, positions, *rest, tuning=tuning)
    # the whole sequence as the "ring" of a window as long as it: every position's row, placed by block in the pool
    ring = torch.nn.functional.pad(kv, (0, 0, 0, -length % block))[None]
    pool, table = _positional_window_pool(ring, torch.full((1,), ring.shape[1] - 1, device=device), block, 9)
    win_cache, comp_cache, page_rows = ((ref.page_kv_rows(pool, cfg, block), ref.page_kv_rows(comp, cfg, block), block)
                                        if fp8 else (pool, comp, 1))
    in_order = torch.arange(-(-comp.shape[0] // block), device=device)[None].expand(t, -1)  # comp pages in order
    win_rows, comp_rows = pool_indices(idx, positions, table.expand(t, -1), in_order, block, cfg.window)
    assert torch.equal(comp_rows, idx)
    got = kern.sparse_attention_prefill(q, win_cache, comp_cache, comp_rows, positions, *rest, tuning=tuning,
                                        page_rows=page_rows, window_indices=win_rows,
                                        out=torch.full_like(q, float("nan")))
    assert torch.equal(got, plain)
    return q, kv, comp, idx, positions, rest, win_cache, comp_cache, comp_rows, page_rows, win_rows


@pytest.mark.parametrize("fp8", [False, True])
def test_prefill_reads_the_window_from_a_paged_pool(tiny, device, small_dtype, fp8, assert_rel_close):
    q, kv, comp, idx, positions, rest, win_cache, comp_cache, comp_rows, page_rows, win_rows = (
        _check_prefill_window_from_a_paged_pool(tiny(), SMALL, device, small_dtype, fp8, 230, 24, 8))
    want = ref.sparse_attention_prefill(q, win_cache, comp_cache, comp_rows, positions, *rest, page_rows,
                                        window_indices=win_rows)
    assert_rel_close(want, ref.sparse_attention_prefill(q, kv, comp, idx, positions, *rest), 1e-6)


def test_pages_that_are_not_fp8_pages_are_refused_with_a_hint(tiny, device, small_dtype):
    cfg = tiny()
    inp = make_decode_inputs(cfg, 1, 100, device=device, dtype=small_dtype, fp8=True)
    idx = _indices(inp, cfg)
    rest = (idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    with pytest.raises(UsageError, match="page_kv_rows"):  # rows passed where pages are expected
        kern.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, *rest, page_rows=4)
    bf16 = make_decode_inputs(cfg, 1, 100, device=device, dtype=small_dtype)
    with pytest.raises(UsageError, match="page_kv_rows"):
        kern.sparse_attention(bf16.q, bf16.window_kv, bf16.comp_kv, *rest, page_rows=4)
    with pytest.raises(UsageError, match="whole pages"):  # a 16-row ring in a 32-row page: positions would shift
        kern.sparse_attention(inp.q, ref.page_kv_rows(inp.window_kv, cfg, 32), ref.page_kv_rows(inp.comp_kv, cfg, 32),
                              *rest, page_rows=32)
    with pytest.raises(UsageError, match="power of two"):
        kern.sparse_attention(inp.q, ref.page_kv_rows(inp.window_kv, cfg, 3), ref.page_kv_rows(inp.comp_kv, cfg, 3),
                              *rest, page_rows=3)


RING = [t for t in kern.GPU_CANDIDATES if t.ring]
# (tuning, fp8 rows): every ring tuning with bf16 rows; the warp-specialized 64-entry ones (the fp8 copier's
# in-place plan is for 64-row slots) with vLLM's fp8 rows as well
RING_ROWS = [(t, False) for t in RING] + [(t, True) for t in RING if t.ws and t.block_e == 64 and not t.seesaw]
RING_IDS = [f"{t}-{'fp8' if fp8 else 'bf16'}" for t, fp8 in RING_ROWS]


@pytest.mark.parametrize(("ws", "seesaw"), [(False, False), (True, False), (True, True)],
                         ids=["ring", "warp-specialized", "seesaw"])
def test_ring_request_where_the_gluon_kernel_cannot_run_uses_the_triton_kernel(ws, seesaw, tiny, device, small_dtype,
                                                                               assert_rel_close):
    """A ring tuning off Hopper (here the CPU interpreter, 16-head blocks) must still give the reference's
    answer: the launch falls back to the Triton kernel with the same split."""
    cfg = tiny()
    inp = make_decode_inputs(cfg, 2, 300, device=device, dtype=small_dtype, seed=5, ragged=True)
    idx = _indices(inp, cfg)
    args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    tuning = kern.AttnTuning(block_h=16, block_e=16, num_warps=4, target_programs=8, ring=2, ws=ws, seesaw=seesaw)
    got = kern.sparse_attention(*args, tuning=tuning, out=torch.full_like(inp.q, float("nan")))
    assert_rel_close(got, ref.sparse_attention(*args), TOL[small_dtype])


@pytest.mark.gpu
@pytest.mark.parametrize(("tuning", "fp8"), RING_ROWS, ids=RING_IDS)
@pytest.mark.parametrize(("name", "ratio", "batch", "context"),
                         [("pro", 4, 4, 131072 + 300), ("flash", 4, 3, 1 << 20), ("flash", 128, 2, 70000),
                          ("pro", 4, 3, 100)])  # 100: windows that start before position 0 and -1 indices
def test_hopper_ring_kernel_matches_reference(tuning, fp8, name, ratio, batch, context, assert_rel_close):
    cfg = AttentionConfig.from_name(name, ratio=ratio)
    inp = make_decode_inputs(cfg, batch, context, device="cuda", seed=batch + context % 7, ragged=True, fp8=fp8)
    idx = _indices(inp, cfg)
    args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    assert hopper.supported(inp.q, (inp.window_kv, inp.comp_kv), cfg.n_heads, tuning.block_h, cfg.head_dim,
                            cfg.window, inp.window_kv.shape[1], kern.NO_WRAP, tuning.block_e, ws=tuning.ws,
                            nope=cfg.nope_dim, scale_block=cfg.scale_block), \
        "this test must run the Gluon kernel, not the fallback"
    got = kern.sparse_attention(*args, tuning=tuning, out=torch.full_like(inp.q, float("nan")))
    assert_rel_close(got, ref.sparse_attention(*args), TOL[torch.bfloat16])


SEESAW = [t for t in kern.GPU_CANDIDATES if t.seesaw]  # two 64-entry slots; four 32-entry ones


@pytest.mark.gpu
@pytest.mark.parametrize("seesaw_tuning", SEESAW, ids=[f"e{t.block_e}-ring{t.ring}" for t in SEESAW])
@pytest.mark.parametrize("min_tiles", [1, 2, 3, 9])
@pytest.mark.parametrize(("name", "batch", "context"), [("pro", 32, 1 << 20), ("flash", 5, 131072 + 300),
                                                        ("pro", 3, 100)])
def test_hopper_seesaw_kernel_matches_reference(seesaw_tuning, min_tiles, name, batch, context, assert_rel_close):
    """The seesaw kernel (sparse_attention_seesaw.py) with splits of odd and even tile counts (an odd count pairs
    its last tile with a masked one), windows that start before position 0 and -1 indices: the reference's
    answer, and the seesaw kernel is what ran."""
    from wholerepo.kernels import sparse_attention_seesaw as seesaw

    cfg = AttentionConfig.from_name(name)
    inp = make_decode_inputs(cfg, batch, context, device="cuda", seed=batch + min_tiles, ragged=True)
    idx = _indices(inp, cfg)
    args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    tuning = dataclasses.replace(seesaw_tuning, min_tiles=min_tiles)
    seesaw._sparse_attn_seesaw_kernel.device_caches.clear()
    got = kern.sparse_attention(*args, tuning=tuning, out=torch.full_like(inp.q, float("nan")))
    assert any(cache[0] for cache in seesaw._sparse_attn_seesaw_kernel.device_caches.values()), "it did not launch"
    assert_rel_close(got, ref.sparse_attention(*args), TOL[torch.bfloat16])


@pytest.mark.gpu
def test_hopper_fp8_rows_at_a_16_byte_stride_match_reference(assert_rel_close):
    """fp8 rows padded to a 592-byte stride (16-byte aligned: the copier's 16-byte copies) give the answer the
    584-byte rows give."""
    cfg = AttentionConfig.from_name("pro")
    inp = make_decode_inputs(cfg, 4, 131072 + 300, device="cuda", seed=11, ragged=True, fp8=True)
    idx = _indices(inp, cfg)

    def padded(rows):
        wide = torch.zeros(*rows.shape[:-1], 592, dtype=rows.dtype, device=rows.device)
        wide[..., : rows.shape[-1]] = rows
        return wide[..., : rows.shape[-1]]

    tuning = kern.default_tuning(True, 4 * 8, cfg.n_heads)  # busy: the warp-specialized kernel
    args = (inp.q, padded(inp.window_kv), padded(inp.comp_kv), idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    want = ref.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    assert tuning.ws and hopper.supported(inp.q, args[1:3], cfg.n_heads, tuning.block_h, cfg.head_dim, cfg.window,
                                          inp.window_kv.shape[1], kern.NO_WRAP, tuning.block_e, ws=True)
    got = kern.sparse_attention(*args, tuning=tuning, out=torch.full_like(inp.q, float("nan")))
    assert_rel_close(got, want, TOL[torch.bfloat16])


FP8_RING = [t for t, fp8 in RING_ROWS if fp8]


@pytest.mark.gpu
@pytest.mark.parametrize("tuning", FP8_RING, ids=[str(t) for t in FP8_RING])
@pytest.mark.parametrize(("name", "batch", "context"), [("pro", 4, 131072 + 300), ("flash", 3, 1 << 20),
                                                        ("pro", 3, 100)])
def test_hopper_kernel_reads_vllm_fp8_pages(tuning, name, batch, context, assert_rel_close):
    """vLLM's 64-row pages (16-byte copies of 576-byte data parts, scales from the page's tail), per sequence and
    as a shuffled shared pool: the Gluon kernel runs and gives the row layout's bits."""
    cfg = AttentionConfig.from_name(name)
    inp = make_decode_inputs(cfg, batch, context, device="cuda", seed=batch + 3, ragged=True, fp8=True)
    idx = _indices(inp, cfg)
    win_p, comp_p = ref.page_kv_rows(inp.window_kv, cfg, 64), ref.page_kv_rows(inp.comp_kv, cfg, 64)
    pool, table = _page_pool(comp_p, batch)
    assert hopper.supported(inp.q, (win_p, pool), cfg.n_heads, tuning.block_h, cfg.head_dim, cfg.window, cfg.window,
                            kern.NO_WRAP, tuning.block_e, ws=tuning.ws, page_rows=64), "must run the Gluon kernel"
    rest = (inp.positions, inp.sink, inp.inv_freq, cfg)
    from_rows = kern.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, *rest, tuning=tuning)
    assert_rel_close(from_rows, ref.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, *rest),
                     TOL[torch.bfloat16])
    paged = kern.sparse_attention(inp.q, win_p, comp_p, idx, *rest, tuning=tuning, page_rows=64,
                                  out=torch.full_like(inp.q, float("nan")))
    pooled = kern.sparse_attention(inp.q, win_p, pool, ref.kvcache_indices(idx, table, 64), *rest, tuning=tuning,
                                   page_rows=64, out=torch.full_like(inp.q, float("nan")))
    assert torch.equal(paged, from_rows) and torch.equal(pooled, from_rows)


@pytest.mark.gpu
@pytest.mark.parametrize(("tuning", "fp8"), RING_ROWS, ids=RING_IDS)
@pytest.mark.parametrize(("name", "batch", "context"), [("pro", 4, 131072 + 300), ("flash", 3, 1 << 20),
                                                        ("pro", 3, 100)])
def test_hopper_kernel_reads_vllm_caches_as_laid_out(tuning, fp8, name, batch, context, assert_rel_close):
    """Both caches as vLLM keeps them: the window by position in 64-row blocks under a block table and the
    compressed entries in 64-row pages under another, each one pool for the batch (fp8: vLLM's pages; bf16: rows),
    read through window_indices and kvcache_indices: the Gluon kernel gives the ring layout's bits."""
    cfg = AttentionConfig.from_name(name)
    inp = make_decode_inputs(cfg, batch, context, device="cuda", seed=batch + 5, ragged=True, fp8=fp8)
    idx = _indices(inp, cfg)
    rest = (inp.positions, inp.sink, inp.inv_freq, cfg)
    from_ring = kern.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, *rest, tuning=tuning)
    win_pool, win_table = _positional_window_pool(inp.window_kv, inp.positions, 64, batch)
    if fp8:
        comp_pages = ref.page_kv_rows(inp.comp_kv, cfg, 64)
    else:  # bf16 rows in blocks of 64 (the last one zero-padded), as bytes for _page_pool
        rows = torch.nn.functional.pad(inp.comp_kv, (0, 0, 0, -inp.comp_kv.shape[1] % 64))
        comp_pages = rows.view(torch.uint8).reshape(batch, -1, 64 * 2 * cfg.head_dim)
    comp_pool, comp_table = _page_pool(comp_pages, batch)
    page_rows = 64 if fp8 else 1
    win_cache = ref.page_kv_rows(win_pool, cfg, 64) if fp8 else win_pool
    comp_cache = comp_pool if fp8 else comp_pool.view(torch.bfloat16).view(-1, cfg.head_dim)
    assert hopper.supported(inp.q, (win_cache, comp_cache), cfg.n_heads, tuning.block_h, cfg.head_dim, cfg.window,
                            kern.NO_WRAP, kern.NO_WRAP, tuning.block_e, ws=tuning.ws, page_rows=page_rows)
    got = kern.sparse_attention(inp.q, win_cache, comp_cache, ref.kvcache_indices(idx, comp_table, 64), *rest,
                                tuning=tuning, page_rows=page_rows,
                                window_indices=ref.window_indices(inp.positions, win_table, 64, cfg.window),
                                out=torch.full_like(inp.q, float("nan")))
    assert torch.equal(got, from_ring)


@pytest.mark.gpu
@pytest.mark.parametrize(("tuning", "fp8"), RING_ROWS, ids=RING_IDS)
def test_hopper_kernel_prefill_reads_the_window_from_a_paged_pool(tuning, fp8):
    """The Gluon kernels' WINDOW_INDEXED form in prefill (shared pools), at Pro's shapes with vLLM's 64-row blocks."""
    _check_prefill_window_from_a_paged_pool(AttentionConfig.from_name("pro"), tuning, "cuda", torch.bfloat16, fp8,
                                            20000, 96, 64)


@pytest.mark.gpu
@pytest.mark.parametrize("tuning", FP8_RING, ids=[str(t) for t in FP8_RING])
def test_hopper_kernel_prefill_reads_vllm_fp8_pages(tuning, assert_rel_close):
    cfg = AttentionConfig.from_name("pro")
    length, t = 20000, 96
    kv = ref.quantize_kv_rows(torch.randn(length, cfg.head_dim, device="cuda"), cfg)
    comp = ref.quantize_kv_rows(torch.randn(length // cfg.ratio, cfg.head_dim, device="cuda"), cfg)
    positions = torch.randint(0, length, (t,), device="cuda")
    positions[0] = 5
    idx = ref.index_topk_prefill(torch.randn(t, cfg.index_heads, cfg.index_dim, device="cuda"),
                                 torch.randn(t, cfg.index_heads, device="cuda"),
                                 torch.randn(length // cfg.ratio, cfg.index_dim, device="cuda"), positions,
                                 cfg.index_topk, cfg.ratio)
    q = torch.randn(t, cfg.n_heads, cfg.head_dim, device="cuda").to(torch.bfloat16)
    sink, freq = torch.randn(cfg.n_heads, device="cuda"), ref.rope_inv_freq(cfg).to("cuda")
    want = ref.sparse_attention_prefill(q, kv, comp, idx, positions, sink, freq, cfg)
    got = kern.sparse_attention_prefill(q, ref.page_kv_rows(kv, cfg, 64), ref.page_kv_rows(comp, cfg, 64), idx,
                                        positions, sink, freq, cfg, tuning=tuning, page_rows=64,
                                        out=torch.full_like(q, float("nan")))
    assert_rel_close(got, want, TOL[torch.bfloat16])


@pytest.mark.gpu
@pytest.mark.parametrize(("tuning", "fp8"), RING_ROWS, ids=RING_IDS)
def test_hopper_ring_kernel_prefill_matches_reference(tuning, fp8, assert_rel_close):
    cfg = AttentionConfig.from_name("pro")
    length, t = 20000, 96
    kv = torch.randn(length, cfg.head_dim, device="cuda").to(torch.bfloat16)
    comp = torch.randn(length // cfg.ratio, cfg.head_dim, device="cuda").to(torch.bfloat16)
    if fp8:
        kv, comp = ref.quantize_kv_rows(kv, cfg), ref.quantize_kv_rows(comp, cfg)
    positions = torch.randint(0, length, (t,), device="cuda")
    positions[0] = 5  # a window that starts before position 0 and no compressed entry yet
    keys = torch.randn(length // cfg.ratio, cfg.index_dim, device="cuda").to(torch.bfloat16)
    iq = torch.randn(t, cfg.index_heads, cfg.index_dim, device="cuda").to(torch.bfloat16)
    idx = ref.index_topk_prefill(iq, torch.randn(t, cfg.index_heads, device="cuda"), keys, positions,
                                 cfg.index_topk, cfg.ratio)
    q = torch.randn(t, cfg.n_heads, cfg.head_dim, device="cuda").to(torch.bfloat16)
    sink, freq = torch.randn(cfg.n_heads, device="cuda"), ref.rope_inv_freq(cfg).to("cuda")
    want = ref.sparse_attention_prefill(q, kv, comp, idx, positions, sink, freq, cfg)
    got = kern.sparse_attention_prefill(q, kv, comp, idx, positions, sink, freq, cfg, tuning=tuning,
                                        out=torch.full_like(q, float("nan")))
    assert_rel_close(got, want, TOL[torch.bfloat16])
