"""bench/flashmla_compare.py hands FlashMLA the same problem our kernels solve: its pool rows, read with FlashMLA's
documented semantics (one softmax over the listed rows, output scaled by exp(lse) / (exp(lse) + exp(sink)), no
inverse RoPE), give the reference's output once the inverse RoPE is applied; and its paged view passes FlashMLA
the pages whose bytes sit where its MODEL1 layout reads them (token r of a page: data at r·576, scales at
64·576 + r·8)."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest
import torch

from wholerepo.kernels import reference as ref
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.inputs import make_decode_inputs, vllm_caches

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def compare():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("flashmla_compare")
    finally:
        sys.path.remove(str(BENCH))


def _flash_mla_semantics(q: torch.Tensor, pool: torch.Tensor, rows: torch.Tensor, sink: torch.Tensor,
                         scale: float) -> torch.Tensor:
    """FlashMLA's sparse kernels as its interface documents them, in plain torch."""
    r = rows[:, 0].long()
    kv = pool[r.clamp_min(0), 0].float()
    logits = torch.einsum("bhd,bsd->bhs", q.float(), kv) * scale
    logits = logits.masked_fill((r < 0)[:, None, :], -math.inf)
    lse = torch.logsumexp(logits, -1)
    out = torch.einsum("bhs,bsd->bhd", torch.softmax(logits, -1), kv)
    return out * (torch.exp(lse) / (torch.exp(lse) + torch.exp(sink)))[..., None]


def test_pool_rows_give_flash_mla_the_reference_problem(compare) -> None:
    cfg = AttentionConfig(name="tiny", n_heads=16, index_topk=16, head_dim=128, rope_dim=32, index_heads=16,
                          index_dim=32, window=16)
    inp = make_decode_inputs(cfg, 3, 400, device="cpu", seed=3, ragged=True)
    inp.positions[1] = 5  # a window that reaches before position 0: its early rows must be -1
    n = inp.comp_kv.shape[1]
    gen = torch.Generator().manual_seed(0)
    idx = torch.stack([torch.randperm(n, generator=gen)[: cfg.index_topk] for _ in range(3)]).to(torch.int32)
    idx[2, 9:] = -1
    pool, rows = compare.pool_rows(inp, idx, cfg)
    assert rows.shape == (3, 1, cfg.window + cfg.index_topk) and rows.dtype == torch.int32
    assert (rows[1, 0, : cfg.window - 6] == -1).all() and (rows[1, 0, cfg.window - 6 : cfg.window] >= 0).all()
    got = ref.apply_rope(_flash_mla_semantics(inp.q, pool, rows, inp.sink, cfg.softmax_scale),
                         inp.positions[:, None], inp.inv_freq, inverse=True)
    want = ref.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_paged_view_puts_rows_where_model1_reads_them(compare) -> None:
    cfg = AttentionConfig.from_name("flash")
    inp = make_decode_inputs(cfg, 2, 4 * 150, device="cpu", fp8=True, seed=5)  # 150 entries: 3 pages, the last part-full
    v = vllm_caches(inp, cfg, compare.PAGE_ROWS)
    view = compare.paged_view(v.comp, cfg)
    data, scales = cfg.fp8_data_bytes, cfg.fp8_scale_bytes
    # what FlashMLA checks (a token's bytes as its stride) and uses (the page's start and stride)
    assert view.shape == (v.comp.shape[0], compare.PAGE_ROWS, 1, cfg.fp8_row_bytes)
    assert view.stride()[:2] == (v.comp.stride(0), cfg.fp8_row_bytes) and view.data_ptr() == v.comp.data_ptr()
    rows = inp.comp_kv.reshape(-1, cfg.fp8_row_bytes)  # sequence b's entries fill pages b·3 .. b·3 + 2 in order
    pages_per_seq = -(-inp.comp_kv.shape[1] // compare.PAGE_ROWS)
    for b, e in ((0, 0), (0, 70), (1, 149), (1, 64)):
        page, r = b * pages_per_seq + e // compare.PAGE_ROWS, e % compare.PAGE_ROWS
        row = rows[b * inp.comp_kv.shape[1] + e]
        assert torch.equal(v.comp[page, r * data : (r + 1) * data], row[:data])  # e4m3 nope + bf16 rope
        tail = v.comp[page, compare.PAGE_ROWS * data + r * scales : compare.PAGE_ROWS * data + (r + 1) * scales]
        assert torch.equal(tail, row[data:])  # its ue8m0 scales after the page's data parts, 8 bytes a row
