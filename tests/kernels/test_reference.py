"""The fp32 reference against a naive per-token loop, its causality, the configs and the fp8 row layout."""

from __future__ import annotations

import math

import pytest
import torch

from wholerepo.errors import UsageError
from wholerepo.kernels import reference as ref
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.inputs import make_decode_inputs


def naive_compress(kv, score, ape, weight, inv_freq, cfg):
    """Entry by entry, slot by slot, straight from research §2.3."""
    m, d, entries = cfg.ratio, cfg.head_dim, []
    for j in range(kv.shape[0] // m):
        slots = []  # (gate [D], value [D])
        if cfg.overlap == 2:
            for t in range(m * j - m, m * j):
                if t >= 0:
                    slots.append((score[t, :d] + ape[t % m, :d], kv[t, :d]))
            for t in range(m * j, m * j + m):
                slots.append((score[t, d:] + ape[t % m, d:], kv[t, d:]))
        else:
            for t in range(m * j, m * j + m):
                slots.append((score[t] + ape[t % m], kv[t]))
        gates = torch.stack([g for g, _ in slots])
        weights = torch.exp(gates - gates.max(0).values) / torch.exp(gates - gates.max(0).values).sum(0)
        pooled = sum(w * v for w, (_, v) in zip(weights, slots, strict=True))
        normed = pooled / torch.sqrt((pooled**2).mean() + cfg.rms_eps) * weight
        out = normed.clone()
        for i, f in enumerate(inv_freq.tolist()):
            a, b = normed[cfg.nope_dim + 2 * i], normed[cfg.nope_dim + 2 * i + 1]
            ang = m * j * f
            out[cfg.nope_dim + 2 * i] = a * math.cos(ang) - b * math.sin(ang)
            out[cfg.nope_dim + 2 * i + 1] = a * math.sin(ang) + b * math.cos(ang)
        entries.append(out)
    return torch.stack(entries)


@pytest.mark.parametrize("ratio", [4, 128])
def test_compress_matches_naive_loop(tiny, ratio, assert_rel_close):
    cfg = tiny(ratio)
    tokens = 3 * ratio + ratio // 2  # a partial chunk at the end yields no entry
    cd = cfg.overlap * cfg.head_dim
    kv, score, ape = torch.randn(tokens, cd), torch.randn(tokens, cd), torch.randn(ratio, cd)
    weight, inv_freq = torch.rand(cfg.head_dim) + 0.5, ref.rope_inv_freq(cfg)
    got = ref.compress_kv(kv, score, ape, weight, inv_freq, cfg)
    assert got.shape == (3, cfg.head_dim)
    assert_rel_close(got, naive_compress(kv, score, ape, weight, inv_freq, cfg), 1e-5)


def naive_attend(q, rows, sink, pos, inv_freq, cfg):
    """One query, head by head, entry by entry; sink only in the denominator; inverse RoPE at pos."""
    out = torch.empty_like(q)
    for h in range(q.shape[0]):
        logits = [float(q[h] @ r) * cfg.softmax_scale for r in rows]
        top = max([*logits, float(sink[h])])
        ws = [math.exp(x - top) for x in logits]
        denom = sum(ws) + math.exp(float(sink[h]) - top)
        out[h] = sum(w * r for w, r in zip(ws, rows, strict=True)) / denom
    return ref.apply_rope(out, torch.tensor(pos), inv_freq, inverse=True)


def naive_index(q, w, keys, pos, ratio):
    scores = []
    for j in range((pos + 1) // ratio):
        scores.append(sum(float(w[h]) * max(float(q[h] @ keys[j]), 0.0) for h in range(q.shape[0])))
    return scores


@pytest.mark.parametrize("fp8", [False, True])
def test_decode_matches_naive_loop(tiny, fp8, assert_rel_close):
    cfg = tiny()
    inp = make_decode_inputs(cfg, 3, 90, device="cpu", dtype=torch.float32, fp8=fp8, seed=3, ragged=True)
    idx = ref.index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    got = ref.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    win, comp = ref.as_fp32_rows(inp.window_kv, cfg), ref.as_fp32_rows(inp.comp_kv, cfg)
    for b in range(3):
        pos = int(inp.positions[b])
        scores = naive_index(inp.index_q[b], inp.index_w[b], inp.index_k[b], pos, cfg.ratio)
        best = sorted(range(len(scores)), key=lambda j: -scores[j])[: cfg.index_topk]
        assert sorted(idx[b][idx[b] >= 0].tolist()) == sorted(best)
        rows = [win[b, p % cfg.window] for p in range(max(0, pos - cfg.window + 1), pos + 1)]
        rows += [comp[b, j] for j in best]
        assert_rel_close(got[b], naive_attend(inp.q[b].float(), rows, inp.sink, pos, inp.inv_freq, cfg), 1e-5)


def _layer_prefill(tokens, cfg, icfg, params):
    """Reference c4a layer over a whole sequence from per-token inputs: compress, index, attend."""
    kv_tok, comp_in, idx_in, q, iq, iw = tokens
    comp = ref.compress_kv(*comp_in, *params["comp"], cfg)
    ikeys = ref.compress_kv(*idx_in, *params["idx"], icfg)
    pos = torch.arange(q.shape[0])
    idx = ref.index_topk_prefill(iq, iw, ikeys, pos, cfg.index_topk, cfg.ratio)
    return ref.sparse_attention_prefill(q, kv_tok, comp, idx, pos, params["sink"], params["freq"], cfg)


def _random_tokens(n, cfg, icfg):
    d, di = cfg.head_dim, icfg.head_dim
    return [
        torch.randn(n, d),
        (torch.randn(n, 2 * d), torch.randn(n, 2 * d)),
        (torch.randn(n, 2 * di), torch.randn(n, 2 * di)),
        torch.randn(n, cfg.n_heads, d),
        torch.randn(n, cfg.index_heads, cfg.index_dim),
        torch.randn(n, cfg.index_heads) * cfg.index_weight_scale,
    ]


def _perturb_after(tokens, cut):
    out = []
    for t in tokens:
        if isinstance(t, tuple):
            out.append(tuple(_perturb_after([x], cut)[0] for x in t))
        else:
            t = t.clone()
            t[cut:] = torch.randn_like(t[cut:]) * 3
            out.append(t)
    return out


def test_prefill_is_causal_through_compressor_indexer_and_attention(tiny):
    """Changing every token after position `cut` never changes an output at or before `cut`."""
    cfg = tiny()
    icfg = AttentionConfig(name="idx", n_heads=16, index_topk=16, head_dim=32, rope_dim=16, window=16)
    params = {
        "comp": (torch.randn(4, 2 * cfg.head_dim), torch.rand(cfg.head_dim) + 0.5, ref.rope_inv_freq(cfg)),
        "idx": (torch.randn(4, 2 * icfg.head_dim), torch.rand(icfg.head_dim) + 0.5, ref.rope_inv_freq(icfg)),
        "sink": torch.randn(cfg.n_heads), "freq": ref.rope_inv_freq(cfg),
    }
    tokens = _random_tokens(120, cfg, icfg)
    base = _layer_prefill(tokens, cfg, icfg, params)
    for cut in (0, 3, 4, 70, 101):  # entry boundaries (m·j+m-1 = 3, 103) and inside chunks
        moved = _layer_prefill(_perturb_after(tokens, cut + 1), cfg, icfg, params)
        assert torch.equal(moved[: cut + 1], base[: cut + 1]), f"outputs <= {cut} changed"
        assert not torch.equal(moved[cut + 1 :], base[cut + 1 :])


@pytest.mark.parametrize("ratio", [4, 128])
def test_entries_a_query_may_not_see_never_change_its_output(tiny, ratio):
    cfg = tiny(ratio)
    inp = make_decode_inputs(cfg, 4, 1100, device="cpu", dtype=torch.float32, seed=5, ragged=True)
    n = inp.comp_kv.shape[1]
    visible = ref.visible_entries(inp.positions, ratio)

    def run(comp, keys):
        if ratio == 4:
            idx = ref.index_topk(inp.index_q, inp.index_w, keys, inp.positions, cfg.index_topk, ratio)
        else:
            idx = ref.all_visible_indices(inp.positions, n, ratio)
        return ref.sparse_attention(inp.q, inp.window_kv, comp, idx, inp.positions, inp.sink, inp.inv_freq, cfg)

    hidden = torch.arange(n)[None, :] >= visible[:, None]  # i < m·j + m - 1
    comp = torch.where(hidden[..., None], torch.randn_like(inp.comp_kv) * 5, inp.comp_kv)
    keys = torch.where(hidden[..., None], torch.randn_like(inp.index_k) * 5, inp.index_k)
    assert hidden.any()
    assert torch.equal(run(comp, keys), run(inp.comp_kv, inp.index_k))


def test_configs_come_from_names():
    flash, pro = AttentionConfig.from_name("flash"), AttentionConfig.from_name("V4-Pro")
    assert (flash.n_heads, flash.index_topk, pro.n_heads, pro.index_topk) == (64, 512, 128, 1024)
    assert flash.fp8_row_bytes == 584 and flash.n_scales == 7
    assert flash.with_ratio(128).overlap == 1 and flash.overlap == 2
    with pytest.raises(UsageError):
        AttentionConfig.from_name("v3")


def test_fp8_rows_round_trip_within_e4m3_precision(tiny):
    for cfg in (tiny(), AttentionConfig.from_name("flash")):
        x = torch.randn(37, cfg.head_dim) * torch.logspace(-3, 3, 37)[:, None]
        rows = ref.quantize_kv_rows(x, cfg)
        assert rows.shape == (37, cfg.fp8_row_bytes) and rows.dtype == torch.uint8
        back = ref.dequantize_kv_rows(rows, cfg)
        assert torch.equal(back[:, cfg.nope_dim :], x[:, cfg.nope_dim :].bfloat16().float())
        rel = ((back - x).norm(dim=1) / x.norm(dim=1)).max()
        assert rel < 0.04  # e4m3: 3 mantissa bits, ~2^-4 worst-case relative step


def test_fp8_pages_hold_data_parts_then_scale_parts_as_vllm_lays_them_out():
    """V4's page of 64 rows (FlashMLA's MODEL1 layout, research §4.4): 64 x 576 data bytes, then 64 x 8 scale bytes,
    37,440 bytes in all; byte positions checked one by one against the rows, and the round trip."""
    cfg = AttentionConfig.from_name("pro")
    rows = ref.quantize_kv_rows(torch.randn(2, 100, cfg.head_dim), cfg)  # 100 rows: the second page half empty
    pages = ref.page_kv_rows(rows, cfg, 64)
    assert pages.shape == (2, 2, 37440) and cfg.fp8_page_bytes(64) == 37440
    b, r = 1, 70  # page 1, slot 6
    assert torch.equal(pages[b, 1, 6 * 576 : 7 * 576], rows[b, r, :576])
    assert torch.equal(pages[b, 1, 64 * 576 + 6 * 8 : 64 * 576 + 7 * 8], rows[b, r, 576:])
    assert not pages[:, 1, 36 * 576 : 64 * 576].any()  # rows 100..127 do not exist
    back = ref.unpage_kv_rows(pages, cfg, 64)
    assert torch.equal(back[:, :100], rows) and not back[:, 100:].any()
    with pytest.raises(ValueError, match="fp8 rows"):
        ref.page_kv_rows(torch.zeros(4, 583, dtype=torch.uint8), cfg, 64)


def test_kvcache_indices_follow_the_block_table():
    table = torch.tensor([[5, 2, 7], [0, 3, 1]])
    idx = torch.tensor([[0, 5, 8, 23, -1], [4, -1, 9, 16, 1]], dtype=torch.int32)
    got = ref.kvcache_indices(idx, table, 8)
    want = [[5 * 8, 5 * 8 + 5, 2 * 8, 7 * 8 + 7, -1], [4, -1, 3 * 8 + 1, 8, 1]]
    assert got.dtype == torch.int32 and got.tolist() == want


def test_yarn_slows_only_low_frequencies():
    cfg = AttentionConfig.from_name("flash")
    plain, yarn = ref.rope_inv_freq(cfg, yarn=False), ref.rope_inv_freq(cfg)
    assert torch.allclose(yarn[:4], plain[:4]) and torch.allclose(yarn[-4:], plain[-4:] / cfg.yarn_factor)
