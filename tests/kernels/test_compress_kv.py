"""The fused compressor (pool, RMSNorm, RoPE, cache write) against the reference, bf16 and fp8 rows."""

from __future__ import annotations

import pytest
import torch

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


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["bf16", "fp8"])
@pytest.mark.parametrize("ratio", [4, 128])
def test_compress_real_shapes(layout, ratio, assert_rel_close):
    cfg = AttentionConfig.from_name("flash", ratio=ratio)
    args = _inputs(cfg, 8192 + 200, "cuda")
    got = kern.compress_kv(*args, cfg, fp8=layout == "fp8")
    assert_rel_close(ref.as_fp32_rows(got, cfg), ref.compress_kv(*args, cfg), TOL[layout] / 2)
