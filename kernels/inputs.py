"""Random inputs at V4's scales for the kernel tests and the bench (fresh per call, never zeros).

q and cache rows have unit RMS per 512-d vector, as after V4's per-head and kv RMSNorms (research §2.1-2.2),
so logits·D^-0.5 are O(1) and the softmax is neither flat nor one-hot.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.reference import (
    all_visible_indices,
    quantize_index_fp8,
    quantize_kv_rows,
    rope_inv_freq,
)


@dataclass(frozen=True, slots=True)
class DecodeInputs:
    """One decode step for `batch` sequences all at `context` tokens (query position context-1)."""

    q: torch.Tensor  # [B, H, D]
    window_kv: torch.Tensor  # [B, W, D] bf16, or [B, W, row_bytes] uint8
    comp_kv: torch.Tensor  # [B, N, D] or [B, N, row_bytes]
    index_q: torch.Tensor  # [B, HI, DI]
    index_w: torch.Tensor  # [B, HI] fp32
    index_k: torch.Tensor  # [B, N, DI]
    positions: torch.Tensor  # [B] int64
    sink: torch.Tensor  # [H] fp32
    inv_freq: torch.Tensor  # [rope/2] fp32


def _unit_rows(shape: tuple[int, ...], device: str, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, device=device, generator=gen, dtype=torch.float32)


def make_decode_inputs(
    cfg: AttentionConfig, batch: int, context: int, *, device: str, dtype: torch.dtype = torch.bfloat16,
    fp8: bool = False, seed: int = 0, ragged: bool = False,
) -> DecodeInputs:
    """Caches sized for `context` tokens; `ragged` gives each sequence a different shorter position."""
    gen = torch.Generator(device=device).manual_seed(seed)
    n = max(context // cfg.ratio, 1)
    if ragged:
        positions = torch.randint(0, context, (batch,), device=device, generator=gen)
        positions[0] = context - 1
    else:
        positions = torch.full((batch,), context - 1, device=device, dtype=torch.int64)
    win = _unit_rows((batch, cfg.window, cfg.head_dim), device, gen)
    comp = _unit_rows((batch, n, cfg.head_dim), device, gen)
    if fp8:
        win_c, comp_c = quantize_kv_rows(win, cfg), quantize_kv_rows(comp, cfg)
    else:
        win_c, comp_c = win.to(dtype), comp.to(dtype)
    return DecodeInputs(
        q=_unit_rows((batch, cfg.n_heads, cfg.head_dim), device, gen).to(dtype),
        window_kv=win_c,
        comp_kv=comp_c,
        index_q=_unit_rows((batch, cfg.index_heads, cfg.index_dim), device, gen).to(dtype),
        index_w=_unit_rows((batch, cfg.index_heads), device, gen) * cfg.index_weight_scale,
        index_k=_unit_rows((batch, n, cfg.index_dim), device, gen).to(dtype),
        positions=positions.to(torch.int64),
        sink=_unit_rows((cfg.n_heads,), device, gen),
        inv_freq=rope_inv_freq(cfg).to(device),
    )


def c128a_indices(inputs: DecodeInputs, cfg: AttentionConfig) -> torch.Tensor:
    """c128a attends to every visible entry: the index list is 0..visible-1, -1 after."""
    return all_visible_indices(inputs.positions, inputs.comp_kv.shape[1], cfg.ratio)


@dataclass(frozen=True, slots=True)
class IndexerFp8:
    """The indexer's inputs as vLLM caches them: e4m3 keys with one fp32 scale each (132-byte rows), and
    an e4m3 query whose per-head scale is folded into the weights."""

    q: torch.Tensor  # [B, HI, DI] float8_e4m3fn
    w: torch.Tensor  # [B, HI] fp32
    k: torch.Tensor  # [B, N, DI] float8_e4m3fn
    k_scale: torch.Tensor  # [B, N] fp32


def indexer_fp8(inputs: DecodeInputs) -> IndexerFp8:
    """Quantize one sequence at a time (bounds the fp32 temporaries at batch 32 x 1M)."""
    parts = [quantize_index_fp8(inputs.index_k[b]) for b in range(inputs.index_k.shape[0])]
    q8, q_scale = quantize_index_fp8(inputs.index_q)
    fp8 = torch.float8_e4m3fn
    return IndexerFp8(q=q8.view(fp8), w=inputs.index_w * q_scale, k=torch.stack([p[0] for p in parts]).view(fp8),
                      k_scale=torch.stack([p[1] for p in parts]))
