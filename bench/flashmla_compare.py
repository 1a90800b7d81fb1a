"""Our sparse decode attention beside DeepSeek's FlashMLA sm90 sparse kernels (what vLLM runs V4's attention with on
Hopper): the same inputs, the same GPU, the same timing (CUDA-graph replays, ceilings measured in the run), every
output checked against kernels/reference.py. It shows where the issue's 1.5x-of-compute-floor target sits against
the state of the art, and how far our kernels are from it at each shape.

Rows per case (1M context, the window plus the indexer's top-k entries, one softmax with the sink):
- ours, bf16 rows (the library's default shape): the row the target is read from;
- FlashMLA's sparse prefill kernel (`flash_mla_sparse_fwd`, its only bf16 sparse kernel), the batch's queries as its
  query rows, window and selected entries as rows of one pool. It leaves out V4's inverse RoPE on the output; the
  check applies it afterwards;
- ours, fp8 rows in vLLM's pools (FlashMLA's MODEL1 pages; pool rows computed before the timing);
- FlashMLA's sparse decode (`flash_mla_with_kvcache`, fp8 MODEL1 pages, the window as its extra cache): vLLM's V4
  decode path on Hopper, with its split-combine launch.

FlashMLA is not a dependency: bench/carry_flashmla.sh packs a checkout for the device machine and says how to build
it there. Without it the script times our rows only.

`--curve 1152,4608,...` instead: Pro's 128 heads at batch 32 over more entries per query (the window plus random
distinct entries), to show how each kernel's distance from the compute floor shrinks as the work per launch grows;
FlashMLA's dense bf16 decode over as many contiguous tokens (its V3 shape, 576-d keys, no gather) joins there as
the best its kernels do at that size without sparsity.

Usage (device): PYTHONPATH=/tmp/fm:/tmp/pkg python3 bench/flashmla_compare.py --out $OUT [--cases pro:32,flash:32]
[--curve E,E,...] [--stem NAME] [--commit SHA]. Writes NAME.md / NAME.csv (default flashmla-compare).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernels import Bench, _git_head, _tok, log, rel_err, with_fp8_rows, write_outputs  # noqa: E402
from wholerepo.kernels import reference as ref  # noqa: E402
from wholerepo.kernels.config import AttentionConfig  # noqa: E402
from wholerepo.kernels.index_topk import index_topk  # noqa: E402
from wholerepo.kernels.inputs import DecodeInputs, VllmCaches, make_decode_inputs, vllm_caches  # noqa: E402
from wholerepo.kernels.pool_indices import pool_indices  # noqa: E402
from wholerepo.kernels.sparse_attention import attention_flops, sparse_attention  # noqa: E402

PAGE_ROWS = 64  # vLLM's (and FlashMLA's) c4a page: 64 entries


def load_flash_mla() -> ModuleType | None:
    try:
        import flash_mla
    except ImportError as exc:
        log(f"FlashMLA not importable ({exc}): timing our kernels only (bench/carry_flashmla.sh builds it)")
        return None
    return flash_mla


def pool_rows(inp: DecodeInputs, idx: torch.Tensor, cfg: AttentionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Every sequence's ring and compressed rows as one bf16 pool [B·W + B·N, 1, D] and each query's window and
    selected entries as pool rows [B, 1, W + K] int32 (-1: none), as FlashMLA's prefill kernel reads them."""
    batch, width, dim = inp.window_kv.shape
    n = inp.comp_kv.shape[1]
    pool = torch.cat([inp.window_kv.reshape(-1, dim), inp.comp_kv.reshape(-1, dim)])[:, None, :]
    seq = torch.arange(batch, device=idx.device)[:, None]
    pos = inp.positions[:, None] - width + 1 + torch.arange(width, device=idx.device)[None, :]
    win = torch.where(pos >= 0, seq * width + pos % width, -1)
    comp = torch.where(idx >= 0, batch * width + seq * n + idx, -1)
    return pool, torch.cat([win, comp], dim=1).to(torch.int32)[:, None, :].contiguous()


def paged_view(pages: torch.Tensor, cfg: AttentionConfig) -> torch.Tensor:
    """vLLM pages [P, page_bytes] as FlashMLA's k_cache [P, 64, 1, row_bytes]: the shape and token stride its
    interface checks, over the same bytes. Its MODEL1 kernel addresses a page itself (token r's data at r·576, its
    scales at 64·576 + r·8), which is how page_kv_rows lays them out."""
    row = cfg.fp8_row_bytes
    return pages.as_strided((pages.shape[0], PAGE_ROWS, 1, row), (pages.stride(0), row, row, 1))


def add_checked(bench: Bench, variant: str, shape: str, dtype: str, fn: Callable[[], torch.Tensor],
                finish: Callable[[torch.Tensor], torch.Tensor], want: torch.Tensor, nbytes: float,
                flops: float) -> None:
    """One row: run once, check `finish(output)` on the reference's sequences, then time. A failure costs this row
    only (FlashMLA rejects shapes it was not built for)."""
    try:
        got = finish(fn())
        bench.add("sparse_attention", variant, shape, dtype, fn, nbytes, flops, f"err {rel_err(got, want):.1e}")
    except Exception as exc:  # noqa: BLE001 - one variant failing must not cost the others
        log(f"{variant} {shape} failed: {type(exc).__name__}: {str(exc)[:300]}")


def unrope(out: torch.Tensor, inp: DecodeInputs, cfg: AttentionConfig, sub: slice) -> torch.Tensor:
    """FlashMLA's output [B, (1,) H, D] on the checked sequences, with the inverse RoPE it leaves out."""
    batch = inp.q.shape[0]
    return ref.apply_rope(out.reshape(batch, cfg.n_heads, cfg.head_dim)[sub], inp.positions[sub, None], inp.inv_freq,
                          inverse=True)


def add_fp8_pool_rows(bench: Bench, fm: ModuleType | None, shape: str, inp: DecodeInputs, v: VllmCaches,
                      idx: torch.Tensor, cfg: AttentionConfig, want8: torch.Tensor, sub: slice) -> None:
    """Ours and (if built) FlashMLA's fp8 sparse decode over the same vLLM pools (pool rows computed first)."""
    batch, entries = inp.q.shape[0], cfg.window + cfg.index_topk
    flops = batch * attention_flops(cfg.n_heads, cfg.head_dim, entries)
    nbytes = batch * entries * cfg.fp8_row_bytes + batch * 2 * 2 * cfg.n_heads * cfg.head_dim
    win_rows, comp_rows = pool_indices(idx, inp.positions, v.window_table, v.comp_table, PAGE_ROWS, cfg.window)
    add_checked(bench, "ours: fp8 rows in vLLM's pools", shape, "fp8 pools",
                lambda: sparse_attention(inp.q, v.window, v.comp, comp_rows, inp.positions, inp.sink, inp.inv_freq,
                                         cfg, page_rows=PAGE_ROWS, window_indices=win_rows),
                lambda out: out[sub], want8, nbytes, flops)
    if fm is None:
        return
    meta, _ = fm.get_mla_metadata()
    comp_cache, win_cache = paged_view(v.comp, cfg), paged_view(v.window, cfg)
    add_checked(bench, "FlashMLA sparse decode: fp8 MODEL1 pages (+ its combine)", shape, "fp8 pools",
                lambda: fm.flash_mla_with_kvcache(
                    inp.q[:, None], comp_cache, None, None, cfg.head_dim, meta, softmax_scale=cfg.softmax_scale,
                    is_fp8_kvcache=True, indices=comp_rows[:, None].contiguous(), attn_sink=inp.sink,
                    extra_k_cache=win_cache, extra_indices_in_kvcache=win_rows[:, None].contiguous())[0],
                lambda out: unrope(out, inp, cfg, sub), want8, nbytes, flops)


def compare_case(bench: Bench, cfg: AttentionConfig, batch: int, context: int, fm: ModuleType | None) -> None:
    inp = make_decode_inputs(cfg, batch, context, device="cuda", seed=context + batch)
    idx = index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    shape = f"{cfg.name} B={batch} ctx={_tok(context)}"
    entries = cfg.window + cfg.index_topk
    flops = batch * attention_flops(cfg.n_heads, cfg.head_dim, entries)
    q_out_bytes = batch * 2 * 2 * cfg.n_heads * cfg.head_dim
    sub = slice(0, min(batch, 4))
    pos, sink, inv_freq = inp.positions, inp.sink, inp.inv_freq
    rest = (pos, sink, inv_freq, cfg)

    want = ref.sparse_attention(inp.q[sub], inp.window_kv[sub], inp.comp_kv[sub], idx[sub], pos[sub], sink, inv_freq,
                                cfg)
    bf16_bytes = batch * entries * 2 * cfg.head_dim + q_out_bytes
    add_checked(bench, "ours: bf16 rows (default shape)", shape, "bf16",
                lambda: sparse_attention(inp.q, inp.window_kv, inp.comp_kv, idx, *rest), lambda out: out[sub], want,
                bf16_bytes, flops)
    if fm is not None:
        pool, rows = pool_rows(inp, idx, cfg)
        add_checked(bench, "FlashMLA sparse_fwd (its prefill kernel): bf16 rows", shape, "bf16",
                    lambda: fm.flash_mla_sparse_fwd(inp.q, pool, rows, cfg.softmax_scale, cfg.head_dim,
                                                    attn_sink=sink)[0],
                    lambda out: unrope(out, inp, cfg, sub), want, bf16_bytes, flops)
        del pool, rows
    fp8_rows = with_fp8_rows(inp, cfg)
    want8 = ref.sparse_attention(inp.q[sub], fp8_rows.window_kv[sub], fp8_rows.comp_kv[sub], idx[sub], pos[sub], sink,
                                 inv_freq, cfg)
    v = vllm_caches(fp8_rows, cfg, PAGE_ROWS)
    del fp8_rows
    add_fp8_pool_rows(bench, fm, shape, inp, v, idx, cfg, want8, sub)


def curve(bench: Bench, entries_list: list[int], fm: ModuleType | None, batch: int = 32) -> None:
    """Pro's heads at `batch` over E entries a query (window + E - window random distinct compressed entries) for
    each E: ours (bf16 rows, fp8 pools) and FlashMLA's (fp8 sparse decode; dense bf16 decode over E tokens)."""
    pro = AttentionConfig.from_name("pro")
    inp = make_decode_inputs(pro, batch, 1 << 20, device="cuda", seed=11)
    n = inp.comp_kv.shape[1]
    fp8_rows = with_fp8_rows(inp, pro)
    v = vllm_caches(fp8_rows, pro, PAGE_ROWS)
    sub = slice(0, 2)
    pos, sink, inv_freq = inp.positions, inp.sink, inp.inv_freq
    for entries in entries_list:
        cfg = replace(pro, index_topk=entries - pro.window)
        gen = torch.Generator(device="cuda").manual_seed(entries)
        idx = torch.rand(batch, n, device="cuda", generator=gen).topk(cfg.index_topk, dim=1).indices
        idx = idx.sort(dim=1).values.to(torch.int32)
        shape = f"pro B={batch} E={entries}"
        flops = batch * attention_flops(cfg.n_heads, cfg.head_dim, entries)
        want = ref.sparse_attention(inp.q[sub], inp.window_kv[sub], inp.comp_kv[sub], idx[sub], pos[sub], sink,
                                    inv_freq, cfg)
        add_checked(bench, "ours: bf16 rows", shape, "bf16",
                    lambda i=idx, c=cfg: sparse_attention(inp.q, inp.window_kv, inp.comp_kv, i, pos, sink, inv_freq, c),
                    lambda out: out[sub], want,
                    batch * entries * 2 * cfg.head_dim + batch * 2 * 2 * cfg.n_heads * cfg.head_dim, flops)
        want8 = ref.sparse_attention(inp.q[sub], fp8_rows.window_kv[sub], fp8_rows.comp_kv[sub], idx[sub], pos[sub],
                                     sink, inv_freq, cfg)
        add_fp8_pool_rows(bench, fm, shape, inp, v, idx, cfg, want8, sub)
        if fm is not None:
            dense_case(bench, fm, batch, cfg.n_heads, entries)


def dense_case(bench: Bench, fm: ModuleType, batch: int, heads: int, tokens: int, dim_k: int = 576,
               dim_v: int = 512) -> None:
    """FlashMLA's dense bf16 decode (V3's 576-d keys, values their first 512 dims) over `tokens` contiguous tokens a
    sequence, checked against a plain softmax on two sequences. Floors use its own FLOPs (QK over 576 dims)."""
    gen = torch.Generator(device="cuda").manual_seed(tokens)
    blocks = tokens // PAGE_ROWS
    q = torch.randn(batch, 1, heads, dim_k, device="cuda", generator=gen).to(torch.bfloat16)
    kv = torch.randn(batch * blocks, PAGE_ROWS, 1, dim_k, device="cuda", generator=gen).to(torch.bfloat16)
    table = torch.arange(batch * blocks, device="cuda", dtype=torch.int32).view(batch, blocks)
    lens = torch.full((batch,), tokens, device="cuda", dtype=torch.int32)
    meta, _ = fm.get_mla_metadata()
    seqs = kv.view(batch, tokens, dim_k)[:2].float()
    logits = torch.einsum("bhd,btd->bht", q[:2, 0].float(), seqs) * dim_k**-0.5
    want = torch.einsum("bht,btd->bhd", torch.softmax(logits, -1), seqs[:, :, :dim_v])
    flops = batch * 2.0 * heads * tokens * (dim_k + dim_v)
    add_checked(bench, "FlashMLA dense decode: bf16, contiguous tokens (576-d keys)", f"pro B={batch} E={tokens}",
                "bf16 dense", lambda: fm.flash_mla_with_kvcache(q, kv, table, lens, dim_v, meta)[0],
                lambda out: out[:2, 0].float(), want, batch * tokens * dim_k * 2 + batch * 2 * 2 * heads * dim_v,
                flops)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--commit", default="")
    ap.add_argument("--stem", default="flashmla-compare")
    ap.add_argument("--cases", default="pro:32,flash:32,pro:1,flash:1", help="model:batch at 1M context")
    ap.add_argument("--curve", default="", help="entries a query, e.g. 1152,4608,18432: the work curve instead")
    opts = ap.parse_args()
    bench = Bench("cuda", graphs=True)
    bench.measure_ceilings()
    fm = load_flash_mla()
    if opts.curve:
        curve(bench, [int(e) for e in opts.curve.split(",")], fm)
        write_outputs(bench, opts.out, torch.cuda.get_device_name(), opts.commit or _git_head(), stem=opts.stem)
        return
    for case in opts.cases.split(","):
        name, batch = case.split(":")
        compare_case(bench, AttentionConfig.from_name(name), int(batch), 1 << 20, fm)
        torch.cuda.empty_cache()
        write_outputs(bench, opts.out, torch.cuda.get_device_name(), opts.commit or _git_head(), quiet=True,
                      stem=opts.stem)
    write_outputs(bench, opts.out, torch.cuda.get_device_name(), opts.commit or _git_head(), stem=opts.stem)


if __name__ == "__main__":
    main()
