"""The lightning indexer's compressor as one Triton kernel: pool, RMSNorm, RoPE, Hadamard rotation, e4m3 quantization,
written where the indexer reads its keys.

V4's c4a layers build their indexer keys with a second compressor over index_dim (128) channels, rotated by a
Hadamard matrix before quantization (research §2.3-§2.4). vLLM keeps them as 132-byte keys, 128 e4m3 bytes and
one fp32 power-of-two scale, in pages of 64 keys: the 64 keys' bytes, then their 64 scales, padded to 8,640 bytes
(research §4.4). One program builds one key: the pooling, norm and RoPE are the main compressor's
(`compress_kv.pooled_entry`), then the rotation, the scale and the stores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from wholerepo.kernels._launch import check_power_of_two
from wholerepo.kernels.compress_kv import (
    check_compressor_inputs,
    check_slot_mapping,
    check_slots_inside,
    e4m3_bytes,
    e4m3_scale_exponent,
    pooled_entry,
)
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.index_topk import check_index_pages

VLLM_INDEX_PAGE_ROWS = 64  # keys per page of vLLM's indexer cache


@triton.jit
def _hadamard_pairs(ev, od, half, INV_SQRT_D: tl.constexpr):
    """x·H/√D of a vector held as even and odd halves (H Sylvester-ordered). H's lowest index bit is an H_2 over
    each pair and the other bits H_{D/2} over the pair index: y[2i+b] = Σ_j H_{D/2}[i, j]·(x[2j] ± x[2j+1]) / √D,
    with H_{D/2}[i, j] = (-1)^popcount(i & j) built in registers (no table to load per program)."""
    both = half[:, None] & half[None, :]
    both ^= both >> 8
    both ^= both >> 4
    both ^= both >> 2
    both ^= both >> 1
    sign = (1 - 2 * (both & 1)).to(tl.float32)
    y_even = tl.sum(sign * (ev + od)[None, :], axis=1) * INV_SQRT_D
    y_odd = tl.sum(sign * (ev - od)[None, :], axis=1) * INV_SQRT_D
    return y_even, y_odd


@triton.jit
def _compress_index_kernel(
    kv_ptr, score_ptr, ape_ptr, norm_ptr, freq_ptr, out_ptr, scale_ptr, slot_ptr, eps,
    stride_kt, stride_st, stride_at, stride_o,
    M: tl.constexpr, C: tl.constexpr, D: tl.constexpr, NOPE: tl.constexpr, SLOT_BLOCK: tl.constexpr,
    INV_SQRT_D: tl.constexpr, FP8: tl.constexpr, SLOTS: tl.constexpr, PAGE_ROWS: tl.constexpr,
):
    """Key j to row slot[j] (SLOTS; -1: not written) or row j. FP8 with PAGE_ROWS = 0: e4m3 rows a stride_o apart and
    scales in their own [N] array; PAGE_ROWS > 0: vLLM's pages a stride_o apart (scale_ptr is the pool as fp32).
    Else bf16 rows."""
    j = tl.program_id(0)
    dest = tl.load(slot_ptr + j).to(tl.int64) if SLOTS else j.to(tl.int64)
    if dest < 0:
        return
    ev, od, half, _ = pooled_entry(kv_ptr, score_ptr, ape_ptr, norm_ptr, freq_ptr, eps, j, stride_kt, stride_st,
                                   stride_at, M, C, D, NOPE, SLOT_BLOCK)
    y_even, y_odd = _hadamard_pairs(ev, od, half, INV_SQRT_D)
    if FP8:
        amax = tl.maximum(tl.max(tl.abs(y_even), axis=0), tl.max(tl.abs(y_odd), axis=0))
        expo = e4m3_scale_exponent(amax, -126)  # an fp32 scale: a normal power of two
        inv_scale = tl.exp2(-expo.to(tl.float32))
        q_even = e4m3_bytes(y_even * inv_scale)
        q_odd = e4m3_bytes(y_odd * inv_scale)
        if PAGE_ROWS == 0:
            row = out_ptr + dest * stride_o
            scale_at = scale_ptr + dest
        else:
            page = (dest // PAGE_ROWS) * stride_o
            slot = dest % PAGE_ROWS
            row = out_ptr + page + slot * D
            scale_at = scale_ptr + (page + PAGE_ROWS * D) // 4 + slot  # the page's fp32 tail (stride_o % 4 == 0)
        tl.store(row + 2 * half, q_even)
        tl.store(row + 2 * half + 1, q_odd)
        tl.store(scale_at, tl.exp2(expo.to(tl.float32)))
    else:
        row = out_ptr + dest * stride_o
        tl.store(row + 2 * half, y_even.to(tl.bfloat16))
        tl.store(row + 2 * half + 1, y_odd.to(tl.bfloat16))


@dataclass(frozen=True, slots=True)
class IndexKeys:
    """Indexer keys as `index_topk` takes them: e4m3 bytes [N, DI] uint8 with fp32 scales [N], or bf16 [N, DI]
    with no scales."""

    keys: torch.Tensor
    scales: torch.Tensor | None


def _launch(args: tuple, cfg: AttentionConfig, n: int, out: torch.Tensor, scales: torch.Tensor,
            slot_mapping: torch.Tensor | None, fp8: bool, page_rows: int) -> None:
    kv, score, ape, norm_weight, inv_freq = args
    icfg = cfg.indexer_compressor()
    _compress_index_kernel[(n,)](
        kv, score, ape, norm_weight, inv_freq, out, scales, out if slot_mapping is None else slot_mapping,
        icfg.rms_eps, kv.stride(0), score.stride(0), ape.stride(0), out.stride(0),
        M=icfg.ratio, C=icfg.overlap, D=icfg.head_dim, NOPE=icfg.nope_dim, SLOT_BLOCK=icfg.overlap * icfg.ratio,
        INV_SQRT_D=icfg.head_dim**-0.5, FP8=fp8, SLOTS=slot_mapping is not None, PAGE_ROWS=page_rows, num_warps=4,
    )


def compress_index_keys(
    kv: torch.Tensor, score: torch.Tensor, ape: torch.Tensor, norm_weight: torch.Tensor, inv_freq: torch.Tensor,
    cfg: AttentionConfig, *, fp8: bool = True,
) -> IndexKeys:
    """The indexer keys of [T//4] compressed entries from the indexer compressor's kv/score [T, 2·DI] fp32 (ape
    [4, 2·DI], norm_weight [DI], the layer's rope table): e4m3 keys and fp32 scales (as `reference.compress_index_keys`
    then `reference.quantize_index_fp8`), or with fp8=False the rotated keys in bf16."""
    icfg = cfg.indexer_compressor()
    n = check_compressor_inputs(kv, score, ape, norm_weight, inv_freq, icfg)
    di = icfg.head_dim
    keys = torch.empty(n, di, device=kv.device, dtype=torch.uint8 if fp8 else torch.bfloat16)
    scales = torch.empty(n, device=kv.device, dtype=torch.float32)
    if n:
        _launch((kv, score, ape, norm_weight, inv_freq), cfg, n, keys, scales, None, fp8, 0)
    return IndexKeys(keys, scales if fp8 else None)


def insert_index_keys(
    kv: torch.Tensor, score: torch.Tensor, ape: torch.Tensor, norm_weight: torch.Tensor, inv_freq: torch.Tensor,
    cfg: AttentionConfig, pool: torch.Tensor, slot_mapping: torch.Tensor, *,
    page_rows: int = VLLM_INDEX_PAGE_ROWS,
) -> torch.Tensor:
    """Write each key into vLLM's indexer cache as its insert does: key j to row slot_mapping[j] (-1: skipped) of
    `pool` [pages, page_bytes] uint8, row r being slot r % page_rows of page r // page_rows (its e4m3 bytes at
    slot·DI, its fp32 scale after the page's page_rows·DI bytes: `reference.page_index_keys`). Rows no key names are
    left as they are; `index_topk_paged` reads the pool. Returns `pool`."""
    icfg = cfg.indexer_compressor()
    n = check_compressor_inputs(kv, score, ape, norm_weight, inv_freq, icfg)
    di = icfg.head_dim
    check_slot_mapping(slot_mapping, n)
    check_power_of_two("page_rows", page_rows)
    check_index_pages("pool", pool, page_rows, di)
    check_slots_inside(slot_mapping, pool.shape[0] * page_rows)
    if n:
        _launch((kv, score, ape, norm_weight, inv_freq), cfg, n, pool, pool.view(torch.float32), slot_mapping, True,
                page_rows)
    return pool
