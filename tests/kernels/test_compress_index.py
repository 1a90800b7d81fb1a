"""The indexer's compressor (pool, RMSNorm, RoPE, Hadamard, e4m3 + fp32 scale) against the reference, in rows and in
vLLM's indexer pages."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from wholerepo.errors import UsageError
from wholerepo.kernels import compress_index as kern
from wholerepo.kernels import reference as ref
from wholerepo.kernels.config import AttentionConfig


@pytest.fixture
def small(tiny):
    """The tiny config with 64 indexer channels: 32 rope dims after 32 plain ones, as V4's 64 after 64."""
    return replace(tiny(), index_dim=64)


def _inputs(cfg, tokens, device, seed=0):
    icfg = cfg.indexer_compressor()
    gen = torch.Generator().manual_seed(seed)
    cd = 2 * icfg.head_dim
    parts = (torch.randn(tokens, cd, generator=gen), torch.randn(tokens, cd, generator=gen) * 2,
             torch.randn(4, cd, generator=gen), torch.rand(icfg.head_dim, generator=gen) + 0.5)
    return (*(t.to(device) for t in parts), ref.rope_inv_freq(icfg).to(device))


def test_hadamard_is_the_sylvester_matrix_scaled_to_a_rotation():
    h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    h8 = torch.kron(torch.kron(h2, h2), h2) / 8**0.5
    x = torch.randn(5, 8)
    assert torch.allclose(ref.hadamard(x).double(), x.double() @ h8, atol=1e-6)
    y = torch.randn(3, 128)
    assert torch.allclose(ref.hadamard(ref.hadamard(y)), y, atol=1e-5)  # symmetric and orthonormal: its own inverse
    assert torch.allclose(ref.hadamard(y).norm(dim=-1), y.norm(dim=-1), rtol=1e-5)


def test_indexer_compressor_config_is_c4a_over_the_index_dims():
    pro = AttentionConfig.from_name("pro", ratio=128).indexer_compressor()
    assert (pro.head_dim, pro.rope_dim, pro.nope_dim, pro.ratio, pro.overlap) == (128, 64, 64, 4, 2)


@pytest.mark.parametrize("tokens", [3, 4, 61, 257])
def test_bf16_keys_match_the_reference(small, device, tokens, assert_rel_close):
    cfg = small
    args = _inputs(cfg, tokens, device)
    got = kern.compress_index_keys(*args, cfg, fp8=False)
    assert got.scales is None and got.keys.dtype == torch.bfloat16 and got.keys.shape == (tokens // 4, 64)
    if tokens >= 4:
        assert_rel_close(got.keys.float(), ref.compress_index_keys(*args, cfg), 1e-2)


@pytest.mark.parametrize("tokens", [4, 61, 257])
def test_fp8_keys_are_the_reference_quantization(small, device, tokens, assert_rel_close):
    """Scales equal to the reference's; e4m3 bytes equal except where fp32 rounding order puts a value on the other
    side of an e4m3 rounding boundary, and then one e4m3 step apart."""
    cfg = small
    args = _inputs(cfg, tokens, device, seed=tokens)
    want = ref.compress_index_keys(*args, cfg)
    want_bytes, want_scales = ref.quantize_index_fp8(want)
    got = kern.compress_index_keys(*args, cfg)
    assert got.scales is not None
    assert torch.equal(got.scales, want_scales)
    same = (got.keys == want_bytes).float().mean().item()
    assert same >= 0.995, f"only {same:.4f} of the e4m3 bytes equal the reference's"
    got_values = ref.dequantize_index_fp8(got.keys, got.scales)
    ref_values = ref.dequantize_index_fp8(want_bytes, want_scales)
    # one e4m3 step: 2^-3 of the larger value for normals, 2^-9 of the scale for subnormals
    step = 2.0**-3 * torch.maximum(got_values.abs(), ref_values.abs()) + 2.0**-9 * got.scales[:, None]
    assert ((got_values - ref_values).abs() <= step).all()
    assert_rel_close(got_values, want, 8e-2)


@pytest.mark.parametrize("page_rows", [4, 64])
def test_insert_writes_vllms_indexer_pages(small, device, page_rows):
    """In order, the pool is byte for byte `reference.page_index_keys` of the row keys; shuffled with skips, each key
    lands in its slot and every other row keeps its poison."""
    cfg = small
    args = _inputs(cfg, 4 * 53, device, seed=page_rows)
    plain = kern.compress_index_keys(*args, cfg)
    assert plain.scales is not None
    n, di = plain.keys.shape
    want_pool, _ = ref.page_index_keys(plain.keys[None], plain.scales[None], page_rows)
    pool = torch.zeros_like(want_pool)
    kern.insert_index_keys(*args, cfg, pool, torch.arange(n, device=device), page_rows=page_rows)
    assert torch.equal(pool, want_pool)

    pages = -(-(n + 9) // page_rows)
    gen = torch.Generator().manual_seed(1)
    slots = torch.randperm(pages * page_rows, generator=gen)[:n]
    slots[::5] = -1
    slots = slots.to(device)
    pool = torch.full((pages, want_pool.shape[1]), 0x5A, dtype=torch.uint8, device=device)
    poison_keys, poison_scales = ref.unpage_index_keys(pool, torch.arange(pages, device=device)[None], di, page_rows)
    got = kern.insert_index_keys(*args, cfg, pool, slots, page_rows=page_rows)
    assert got.data_ptr() == pool.data_ptr()
    keys, scales = ref.unpage_index_keys(pool, torch.arange(pages, device=device)[None], di, page_rows)
    kept = slots >= 0
    assert torch.equal(keys[0, slots[kept]], plain.keys[kept])
    assert torch.equal(scales[0, slots[kept]], plain.scales[kept])
    untouched = torch.ones(pages * page_rows, dtype=torch.bool, device=device)
    untouched[slots[kept]] = False
    assert torch.equal(keys[0, untouched], poison_keys[0, untouched])
    assert torch.equal(scales[0, untouched].view(torch.int32), poison_scales[0, untouched].view(torch.int32))


def test_bad_pools_and_slots_are_refused(small, device):
    cfg = small
    args = _inputs(cfg, 64, device)
    good = torch.zeros(2, ref.page_index_keys(torch.zeros(1, 1, 64, dtype=torch.uint8), torch.ones(1, 1), 8)[0].shape[1],
                       dtype=torch.uint8, device=device)
    with pytest.raises(UsageError, match="names row 16 of a cache with 16 rows"):
        kern.insert_index_keys(*args, cfg, good, torch.arange(16, device=device) + 1, page_rows=8)
    with pytest.raises(UsageError, match="indexer pages"):
        kern.insert_index_keys(*args, cfg, good[:, :100], torch.arange(16, device=device), page_rows=8)
    with pytest.raises(UsageError, match="slot_mapping must be"):
        kern.insert_index_keys(*args, cfg, good, torch.arange(15, device=device), page_rows=8)
    with pytest.raises(UsageError, match="kv has shape"):
        kern.compress_index_keys(args[0][:, :10], *args[1:], cfg)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["flash", "pro"])
def test_index_keys_real_shapes_into_vllm_pages(name):
    """V4's 128-d keys in vLLM's 8,640-byte pages of 64, from 64K + 300 tokens; and captured in a CUDA graph."""
    cfg = AttentionConfig.from_name(name)
    args = _inputs(cfg, 65536 + 300, "cuda")
    want = ref.compress_index_keys(*args, cfg)
    want_bytes, want_scales = ref.quantize_index_fp8(want)
    plain = kern.compress_index_keys(*args, cfg)
    assert plain.scales is not None
    assert torch.equal(plain.scales, want_scales)
    assert (plain.keys == want_bytes).float().mean().item() >= 0.999
    want_pool, _ = ref.page_index_keys(plain.keys[None], plain.scales[None], 64)
    assert want_pool.shape[1] == 8640
    n = plain.keys.shape[0]
    pool = torch.zeros_like(want_pool)
    slots = torch.arange(n, device="cuda")
    assert torch.equal(kern.insert_index_keys(*args, cfg, pool, slots), want_pool)
    pool.zero_()  # and as vLLM runs its insert: captured in a CUDA graph (no host read of the slots then)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        kern.insert_index_keys(*args, cfg, pool, slots)
    graph.replay()
    assert torch.equal(pool, want_pool)
