"""The fused compressor (pool, RMSNorm, RoPE, cache write) against the reference, bf16 and fp8 rows."""

from __future__ import annotations

import pytest
import torch
import triton
import triton.language as tl

from wholerepo.errors import UsageError
from wholerepo.kernels import compress_kv as kern
from wholerepo.kernels import reference as ref
from wholerepo.kernels.config import AttentionConfig

# bf16 rows: one bf16 rounding (the interpreter truncates, ~2x RNE's error); fp8 rows: e4m3 steps of 2^-4
TOL = {"bf16": 1e-2, "fp8": 8e-2}


def _inputs(cfg, tokens, device):
    cd = cfg.overlap * cfg.head_dim
    return (torch.randn(tokens, cd, device=device), torch.randn(tokens, cd, device=device) * 2,
            torch.randn(cfg.ratio, cd, device=device), torch.rand(cfg.head_dim, device=device) + 0.5,
            ref.rope_inv_freq(cfg).to(device))


@pytest.mark.parametrize("layout", ["bf16", "fp8"])
@pytest.mark.parametrize(("ratio", "tokens"), [(4, 3), (4, 4), (4, 61), (128, 127), (128, 300)])
def test_compress_matches_reference(tiny, device, layout, ratio, tokens, assert_rel_close):
    cfg = tiny(ratio)
    args = _inputs(cfg, tokens, device)
    want = ref.compress_kv(*args, cfg)
    fp8 = layout == "fp8"
    width, dtype = (cfg.fp8_row_bytes, torch.uint8) if fp8 else (cfg.head_dim, torch.bfloat16)
    got = kern.compress_kv(*args, cfg, fp8=fp8, out=torch.full((tokens // ratio, width), 0x7F, dtype=dtype,
                                                                device=device))
    assert got.shape[0] == tokens // ratio
    if want.shape[0]:
        assert_rel_close(ref.as_fp32_rows(got, cfg), want, TOL[layout])
        # every byte written: a second run over the opposite poison gives the same bytes
        again = kern.compress_kv(*args, cfg, fp8=fp8, out=torch.full_like(got, 0x00 if fp8 else -1.0))
        assert torch.equal(again.view(torch.uint8), got.view(torch.uint8))


def test_fp8_rows_match_the_reference_layout_byte_for_byte_where_values_agree(tiny, device):
    """Scales and pad bytes are layout, not arithmetic: they must equal the reference's."""
    cfg = tiny()
    args = _inputs(cfg, 64, device)
    got = kern.compress_kv(*args, cfg, fp8=True)
    want = ref.quantize_kv_rows(ref.compress_kv(*args, cfg), cfg)
    tail = slice(cfg.nope_dim + 2 * cfg.rope_dim, cfg.fp8_row_bytes)
    assert torch.equal(got[:, tail], want[:, tail])
    # and the e4m3 bytes, but where fp32 rounding order puts a value across a rounding boundary
    same = (got[:, : cfg.nope_dim] == want[:, : cfg.nope_dim]).float().mean().item()
    assert same >= 0.995, f"only {same:.4f} of the e4m3 bytes equal the reference's"


@triton.jit
def _e4m3_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, kern.e4m3_bytes(tl.load(x_ptr + offs)))


def test_e4m3_bytes_round_to_nearest_even_as_torch_does(device):
    """Every e4m3 value, the midpoints between neighbours (ties), and points just either side of them, normal and
    subnormal, signed: the same bytes as torch's conversion."""
    values = torch.arange(0, 127, dtype=torch.uint8).view(torch.float8_e4m3fn).float()  # 0 .. 448
    mids = (values[1:] + values[:-1]) / 2
    eps = mids * 2.0**-12 + 2.0**-14
    points = torch.cat([values, mids, mids - eps, mids + eps, torch.rand(4000) * 448])
    points = torch.cat([points, -points])
    points = torch.nn.functional.pad(points, (0, (-points.numel()) % 256)).to(device)
    got = torch.empty(points.numel(), dtype=torch.uint8, device=device)
    _e4m3_kernel[(points.numel() // 256,)](points, got, BLOCK=256)
    want = points.to(torch.float8_e4m3fn).view(torch.uint8)
    assert torch.equal(got, want), f"{(got != want).sum().item()} values differ, first at {points[got != want][:4]}"
    # past e4m3's largest finite value it saturates to ±448 (the callers pass scaled values unclamped)
    big = torch.tensor([448.5, 470.0, 1000.0, 1e30, float("inf")])
    big = torch.nn.functional.pad(torch.cat([big, -big]), (0, 246)).to(device)
    sat = torch.empty(256, dtype=torch.uint8, device=device)
    _e4m3_kernel[(1,)](big, sat, BLOCK=256)
    want_sat = torch.tensor([448.0] * 5 + [-448.0] * 5).to(torch.float8_e4m3fn).view(torch.uint8).to(device)
    assert torch.equal(sat[:10], want_sat)


def _slot_cache_case(cfg, layout, page_rows, device, n, seed):
    """(a poisoned cache for `layout`, a shuffled slot mapping over its rows with every 5th entry skipped, the
    cache's rows as fp8/bf16 rows for checking)."""
    gen = torch.Generator().manual_seed(seed)
    rows = n + 7 + (-(n + 7)) % page_rows
    slots = torch.randperm(rows, generator=gen)[:n]
    slots[::5] = -1
    if layout == "fp8 pages":
        cache = torch.full((rows // page_rows, cfg.fp8_page_bytes(page_rows)), 0x7F, dtype=torch.uint8)
        return cache.to(device), slots.to(device), lambda c: ref.unpage_kv_rows(c, cfg, page_rows)
    width, dtype = (cfg.fp8_row_bytes, torch.uint8) if layout == "fp8" else (cfg.head_dim, torch.bfloat16)
    return torch.full((rows, width), 0x7F, dtype=dtype).to(device), slots.to(device), lambda c: c


@pytest.mark.parametrize(("layout", "page_rows"), [("bf16", 1), ("fp8", 1), ("fp8 pages", 4), ("fp8 pages", 64)])
@pytest.mark.parametrize("ratio", [4, 128])
def test_compress_writes_each_entry_to_its_slot_as_vllms_insert_does(tiny, device, layout, page_rows, ratio):
    """A slot mapping into a cache the caller owns (bf16 rows, fp8 rows, vLLM's pages): each entry's bytes land in
    its row, the same bytes as the plain write; skipped entries (-1) and rows no entry names keep their poison."""
    cfg = tiny(ratio)
    tokens = 61 * ratio // 4 if ratio == 4 else 300
    args = _inputs(cfg, tokens, device)
    fp8 = layout != "bf16"
    plain = kern.compress_kv(*args, cfg, fp8=fp8)
    cache, slots, as_rows = _slot_cache_case(cfg, layout, page_rows, device, plain.shape[0], ratio)
    poison = as_rows(cache.clone())
    got = kern.compress_kv(*args, cfg, fp8=fp8, out=cache, slot_mapping=slots, page_rows=page_rows)
    assert got.data_ptr() == cache.data_ptr()
    rows = as_rows(got)
    kept = slots >= 0
    assert torch.equal(rows[slots[kept]].view(torch.uint8), plain[kept].view(torch.uint8))
    untouched = torch.ones(rows.shape[0], dtype=torch.bool, device=device)
    untouched[slots[kept]] = False
    assert torch.equal(rows[untouched].view(torch.uint8), poison[untouched].view(torch.uint8))


def test_a_slot_mapping_outside_the_cache_is_refused(tiny, device):
    cfg = tiny()
    args = _inputs(cfg, 64, device)
    cache = torch.zeros(2, cfg.fp8_page_bytes(4), dtype=torch.uint8, device=device)  # 8 rows
    with pytest.raises(UsageError, match="names row 15 of a cache with 8 rows"):
        kern.compress_kv(*args, cfg, fp8=True, out=cache, page_rows=4, slot_mapping=torch.arange(16, device=device))
    with pytest.raises(UsageError, match="allocate it first"):
        kern.compress_kv(*args, cfg, fp8=True, slot_mapping=torch.arange(16, device=device))


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["bf16", "fp8"])
@pytest.mark.parametrize("ratio", [4, 128])
def test_compress_real_shapes(layout, ratio, assert_rel_close):
    cfg = AttentionConfig.from_name("flash", ratio=ratio)
    args = _inputs(cfg, 8192 + 200, "cuda")
    got = kern.compress_kv(*args, cfg, fp8=layout == "fp8")
    assert_rel_close(ref.as_fp32_rows(got, cfg), ref.compress_kv(*args, cfg), TOL[layout] / 2)


@pytest.mark.gpu
@pytest.mark.parametrize(("ratio", "page_rows"), [(4, 64), (128, 2)])
def test_compress_into_vllm_pages_real_shapes(ratio, page_rows):
    """vLLM's page sizes for V4 (64 c4a entries in 37,440 bytes, 2 c128a entries in 1,728): the plain write's bytes."""
    cfg = AttentionConfig.from_name("pro", ratio=ratio)
    args = _inputs(cfg, 65536 + 300, "cuda")
    plain = kern.compress_kv(*args, cfg, fp8=True)
    cache, slots, as_rows = _slot_cache_case(cfg, "fp8 pages", page_rows, "cuda", plain.shape[0], 3)
    rows = as_rows(kern.compress_kv(*args, cfg, fp8=True, out=cache, slot_mapping=slots, page_rows=page_rows))
    kept = slots >= 0
    assert torch.equal(rows[slots[kept]], plain[kept])
    cache.zero_()  # and as vLLM runs its insert: captured in a CUDA graph (no host read of the slots then)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        kern.compress_kv(*args, cfg, fp8=True, out=cache, slot_mapping=slots, page_rows=page_rows)
    graph.replay()
    assert torch.equal(as_rows(cache)[slots[kept]], plain[kept])
