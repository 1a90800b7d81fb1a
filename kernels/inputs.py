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
    page_kv_rows,
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


@dataclass(frozen=True, slots=True)
class VllmCaches:
    """One decode step's fp8 caches as vLLM lays them out (research §4.4): two pools of pages the batch shares,
    each sequence's pages named by a block table. Read with `window_indices` / `kvcache_indices`."""

    window: torch.Tensor  # [pages, page_bytes]: window positions by position, page_rows a page
    window_table: torch.Tensor  # [B, max position // page_rows + 1] int64; blocks before the window name page 0
    comp: torch.Tensor  # [B·P, page_bytes]: compressed entries, page_rows a page
    comp_table: torch.Tensor  # [B, P] int64
    page_rows: int


def vllm_caches(inputs: DecodeInputs, cfg: AttentionConfig, page_rows: int = 64) -> VllmCaches:
    """Re-lay a decode step's fp8 ring and compressed rows as vLLM keeps them: the window by position in blocks
    (only the blocks holding positions p-W+1..p exist, as vLLM frees older ones) and the compressed entries in
    pages, each sequence's blocks consecutive in its pool."""
    ring, positions = inputs.window_kv, inputs.positions
    batch, width, row_bytes = ring.shape
    if ring.dtype != torch.uint8:
        raise ValueError("vllm_caches takes fp8 rows (make_decode_inputs(..., fp8=True))")
    dev = ring.device
    span = width // page_rows + 1  # blocks a window of `width` positions can touch
    first = (positions - width + 1).clamp_min(0) // page_rows  # [B] its first block
    p = positions[:, None] - width + 1 + torch.arange(width, device=dev)[None, :]  # [B, W]
    seq = torch.arange(batch, device=dev)[:, None]
    block = p.clamp_min(0) // page_rows - first[:, None]
    dst = ((seq * span + block) * page_rows + p.clamp_min(0) % page_rows)[p >= 0]
    rows = torch.zeros(batch * span * page_rows, row_bytes, dtype=torch.uint8, device=dev)
    rows[dst] = ring[seq.expand_as(p), p % width][p >= 0]
    table = torch.zeros(batch, int(positions.max()) // page_rows + 1, dtype=torch.int64, device=dev)
    for b in range(batch):
        count = int(positions[b]) // page_rows - int(first[b]) + 1
        table[b, int(first[b]) : int(first[b]) + count] = b * span + torch.arange(count, device=dev)
    comp = page_kv_rows(inputs.comp_kv, cfg, page_rows)
    comp_table = torch.arange(comp.shape[0] * comp.shape[1], device=dev).view(comp.shape[0], comp.shape[1])
    return VllmCaches(window=page_kv_rows(rows, cfg, page_rows), window_table=table, comp=comp.flatten(0, 1),
                      comp_table=comp_table, page_rows=page_rows)
