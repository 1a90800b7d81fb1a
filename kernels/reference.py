"""Plain PyTorch fp32 reference for every V4 sparse-attention step; each Triton launcher has a twin here.

Readable over fast: the kernels and their tests and bench compare against these. Definitions follow
research/v4-architecture.md §2 (compressors, indexer, sink, inverse RoPE) and §4.1 (fp8 row layout).
Shapes: B sequences (decode), T query positions (prefill), N compressed entries, W window, D head dim.
"""

from __future__ import annotations

import math

import torch

from wholerepo.kernels.config import AttentionConfig

FP8_MAX = 448.0  # largest finite float8 e4m3fn


def rope_inv_freq(cfg: AttentionConfig, *, yarn: bool = True) -> torch.Tensor:
    """[rope_dim/2] fp32 inverse frequencies; compressed layers use theta 160000 with YaRN (factor 16)."""
    dim = cfg.rope_dim
    freqs = 1.0 / (cfg.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    if not yarn or cfg.yarn_factor == 1.0:
        return freqs.float()

    def correction_dim(rotations: float) -> float:
        return dim * math.log(cfg.yarn_original / (rotations * 2 * math.pi)) / (2 * math.log(cfg.rope_theta))

    low = max(math.floor(correction_dim(cfg.yarn_beta_fast)), 0)
    high_index = min(math.ceil(correction_dim(cfg.yarn_beta_slow)), dim - 1)
    high = high_index + 0.001 if low == high_index else float(high_index)
    ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
    smooth = 1 - ramp  # 1 keeps the original frequency (high-frequency pairs), 0 divides by the factor
    return (freqs / cfg.yarn_factor * (1 - smooth) + freqs * smooth).float()


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    """x · rsqrt(mean(x²) + eps) · weight over the last dim, in fp32."""
    x = x.float()
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if weight is None else y * weight.float()


def apply_rope(
    x: torch.Tensor, positions: torch.Tensor, inv_freq: torch.Tensor, *, inverse: bool = False
) -> torch.Tensor:
    """GPT-J (interleaved pairs) RoPE on the last 2·len(inv_freq) dims; `positions` broadcasts to x[..., 0]."""
    x = x.float().clone()
    rope = 2 * inv_freq.numel()
    angle = positions.to(torch.float64)[..., None] * inv_freq.to(x.device, torch.float64)
    cos, sin = angle.cos().float(), angle.sin().float()
    sin = -sin if inverse else sin
    even, odd = x[..., -rope::2].clone(), x[..., -rope + 1 :: 2].clone()
    x[..., -rope::2] = even * cos - odd * sin
    x[..., -rope + 1 :: 2] = even * sin + odd * cos
    return x


def compress_kv(
    kv: torch.Tensor,  # [T, c·D] per-token compressor values (wkv·x), fp32
    score: torch.Tensor,  # [T, c·D] per-token gate logits (wgate·x), before ape
    ape: torch.Tensor,  # [m, c·D] learned position-in-chunk bias
    norm_weight: torch.Tensor,  # [D]
    inv_freq: torch.Tensor,  # [rope/2]
    cfg: AttentionConfig,
) -> torch.Tensor:
    """[T//m, D] fp32 entries: gated softmax pooling per channel, RMSNorm, RoPE at anchor j·m.

    c4a (c=2): entry j pools the A half (dims [0, D)) of tokens 4j-4..4j-1 and the B half (dims [D, 2D))
    of tokens 4j..4j+3 in one 8-slot softmax; entry 0's previous slots score -inf. c128a: 128 slots.
    """
    m, c, d = cfg.ratio, cfg.overlap, cfg.head_dim
    n = kv.shape[0] // m
    kv, gate = kv[: n * m].float(), score[: n * m].float() + ape.float().repeat(n, 1)
    kv, gate = kv.view(n, m, c, d), gate.view(n, m, c, d)
    if c == 2:
        prev_kv = torch.cat([torch.zeros_like(kv[:1, :, 0]), kv[:-1, :, 0]])  # [n, m, D] A half of j-1
        prev_gate = torch.cat([torch.full_like(gate[:1, :, 0], -math.inf), gate[:-1, :, 0]])
        slots_kv = torch.cat([prev_kv, kv[:, :, 1]], dim=1)  # [n, 2m, D]
        slots_gate = torch.cat([prev_gate, gate[:, :, 1]], dim=1)
    else:
        slots_kv, slots_gate = kv[:, :, 0], gate[:, :, 0]
    pooled = (torch.softmax(slots_gate, dim=1) * slots_kv).sum(dim=1)
    normed = rms_norm(pooled, norm_weight, cfg.rms_eps)
    anchors = torch.arange(n, device=kv.device) * m
    return apply_rope(normed, anchors, inv_freq)


def hadamard(x: torch.Tensor) -> torch.Tensor:
    """x·H/√n over the last dim (n a power of two), H the Sylvester-ordered Hadamard matrix, H[i, j] =
    (-1)^popcount(i & j): the orthonormal rotation V4's indexer applies to its keys and queries before quantizing
    (research §2.3-§2.4; it spreads outliers over all dims, so one scale per key loses less)."""
    n = x.shape[-1]
    idx = torch.arange(n, device=x.device)
    both = idx[:, None] & idx[None, :]
    parity = torch.zeros_like(both)
    for bit in range(max(n.bit_length() - 1, 0)):
        parity ^= (both >> bit) & 1
    h = (1 - 2 * parity).to(torch.float64)
    return (x.double() @ h * n**-0.5).float()


def compress_index_keys(
    kv: torch.Tensor,  # [T, 2·DI] the indexer compressor's per-token values
    score: torch.Tensor,  # [T, 2·DI] its gate logits
    ape: torch.Tensor,  # [4, 2·DI]
    norm_weight: torch.Tensor,  # [DI]
    inv_freq: torch.Tensor,  # [rope/2], the layer's table
    cfg: AttentionConfig,
) -> torch.Tensor:
    """[T//4, DI] fp32 indexer keys: the main compressor's steps over index_dim channels (c4a pooling, RMSNorm, RoPE
    at anchor 4j), then the Hadamard rotation; `quantize_index_fp8` gives the bytes vLLM caches."""
    return hadamard(compress_kv(kv, score, ape, norm_weight, inv_freq, cfg.indexer_compressor()))


def ceil_log2(x: torch.Tensor) -> torch.Tensor:
    """Exact ceil(log2(x)) for positive normal fp32 x (frexp: x = m·2^e, m in [0.5, 1))."""
    mantissa, exponent = torch.frexp(x.float())
    return (exponent - (mantissa == 0.5).to(exponent.dtype)).float()


def quantize_kv_rows(x: torch.Tensor, cfg: AttentionConfig) -> torch.Tensor:
    """[..., D] -> [..., row_bytes] uint8: fp8 e4m3 nope dims, bf16 rope dims, one ue8m0 scale per 64 dims.

    Layout per row (vLLM fp8_ds_mla, 584 B for V4): nope fp8 | rope bf16 | scales (exponent + 127) | pad.
    """
    nope, blk, ns = cfg.nope_dim, cfg.scale_block, cfg.n_scales
    x = x.float()
    lead = x.shape[:-1]
    padded = torch.nn.functional.pad(x[..., :nope], (0, ns * blk - nope)).view(*lead, ns, blk)
    amax = padded.abs().amax(-1).clamp_min(2.0**-100)
    exponent = ceil_log2(amax / FP8_MAX).clamp(-127, 127)
    scaled = padded / torch.exp2(exponent)[..., None]
    q8 = scaled.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn).view(*lead, ns * blk)[..., :nope]
    rows = torch.zeros(*lead, cfg.fp8_row_bytes, dtype=torch.uint8, device=x.device)
    rows[..., :nope] = q8.view(torch.uint8)
    rope_bytes = x[..., nope:].to(torch.bfloat16).contiguous().view(torch.uint8)
    rows[..., nope : nope + 2 * cfg.rope_dim] = rope_bytes
    rows[..., nope + 2 * cfg.rope_dim : nope + 2 * cfg.rope_dim + ns] = (exponent + 127).to(torch.uint8)
    return rows


def dequantize_kv_rows(rows: torch.Tensor, cfg: AttentionConfig) -> torch.Tensor:
    """Inverse of quantize_kv_rows: [..., row_bytes] uint8 -> [..., D] fp32."""
    nope, blk, ns = cfg.nope_dim, cfg.scale_block, cfg.n_scales
    rows = rows.contiguous()
    q8 = rows[..., :nope].contiguous().view(torch.float8_e4m3fn).float()
    exponent = rows[..., nope + 2 * cfg.rope_dim : nope + 2 * cfg.rope_dim + ns].float() - 127
    scale = torch.exp2(exponent).repeat_interleave(blk, dim=-1)[..., :nope]
    rope = rows[..., nope : nope + 2 * cfg.rope_dim].contiguous().view(torch.bfloat16).float()
    return torch.cat([q8 * scale, rope], dim=-1)


def page_kv_rows(rows: torch.Tensor, cfg: AttentionConfig, page_rows: int) -> torch.Tensor:
    """fp8 rows [..., N, row_bytes] -> vLLM pages [..., ceil(N / page_rows), page_bytes] (research §4.4; FlashMLA's
    MODEL1 layout): a page holds its rows' data parts (nope e4m3 + rope bf16) back to back, then their scale bytes,
    padded to a multiple of the data part. Rows past N (the last page's tail) are zero."""
    data, tail = cfg.fp8_data_bytes, cfg.fp8_scale_bytes
    *lead, n, width = rows.shape
    if width != cfg.fp8_row_bytes or rows.dtype != torch.uint8:
        raise ValueError(f"expected fp8 rows of {cfg.fp8_row_bytes} uint8 bytes, got {width} {rows.dtype}")
    pages = -(-n // page_rows)
    full = torch.zeros(*lead, pages * page_rows, width, dtype=torch.uint8, device=rows.device)
    full[..., :n, :] = rows
    full = full.view(*lead, pages, page_rows, width)
    out = torch.zeros(*lead, pages, cfg.fp8_page_bytes(page_rows), dtype=torch.uint8, device=rows.device)
    out[..., : page_rows * data] = full[..., :data].reshape(*lead, pages, page_rows * data)
    out[..., page_rows * data : page_rows * (data + tail)] = full[..., data:].reshape(*lead, pages, page_rows * tail)
    return out


def unpage_kv_rows(pages: torch.Tensor, cfg: AttentionConfig, page_rows: int) -> torch.Tensor:
    """Inverse of page_kv_rows: [..., P, page_bytes] -> [..., P·page_rows, row_bytes] fp8 rows."""
    data, tail = cfg.fp8_data_bytes, cfg.fp8_scale_bytes
    *lead, n_pages, _ = pages.shape
    part = pages[..., : page_rows * data].reshape(*lead, n_pages, page_rows, data)
    scales = pages[..., page_rows * data : page_rows * (data + tail)].reshape(*lead, n_pages, page_rows, tail)
    return torch.cat([part, scales], dim=-1).reshape(*lead, n_pages * page_rows, data + tail)


def kvcache_indices(indices: torch.Tensor, block_table: torch.Tensor, page_rows: int) -> torch.Tensor:
    """Per-sequence entry indices [B, K] (-1 = none) -> rows of a shared page pool: block_table[b, i // page_rows]
    · page_rows + i % page_rows, as vLLM hands FlashMLA its top-k. int32, -1 kept."""
    valid = indices >= 0
    i = indices.clamp_min(0).long()
    page = torch.gather(block_table.long(), 1, i // page_rows)
    return torch.where(valid, page * page_rows + i % page_rows, -1).to(torch.int32)


def window_indices(positions: torch.Tensor, block_table: torch.Tensor, page_rows: int, window: int) -> torch.Tensor:
    """Pool rows of positions p-W+1..p of each sequence's window cache, kept by position in pages under a block
    table (vLLM's SWA cache): [B, W] int32, -1 where the position is < 0."""
    p = positions[:, None].long() - window + 1 + torch.arange(window, device=positions.device)[None, :]
    return kvcache_indices(torch.where(p >= 0, p, -1), block_table, page_rows)


def quantize_index_fp8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[..., DI] -> (e4m3 bytes [..., DI] uint8, fp32 power-of-two scale [...]): one scale per row, as vLLM's
    132-byte indexer-key rows (128 fp8 + one fp32 scale, research §4.1) and the per-head fp8 indexer query."""
    x = x.float()
    amax = x.abs().amax(-1).clamp_min(2.0**-100)
    scale = torch.exp2(ceil_log2(amax / FP8_MAX).clamp(-126, 127))
    q8 = (x / scale[..., None]).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return q8.view(torch.uint8), scale


VLLM_PAGE_ALIGN = 576  # vLLM rounds every page of V4's caches up to a multiple of 576 bytes (research §4.4)


def page_index_keys(data: torch.Tensor, scales: torch.Tensor, page_rows: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Indexer keys [B, N, DI] e4m3 bytes + fp32 scales [B, N] -> vLLM's indexer pages: (pool [B·P, page_bytes]
    uint8, block table [B, P] int64, sequence b's pages in order). A page holds page_rows keys' bytes, then their
    scales, padded to a multiple of 576 (8,640 bytes for V4's 64 x 132). Keys past N are zero."""
    batch, n, di = data.shape
    pages = -(-n // page_rows)
    raw = page_rows * (di + 4)
    out = torch.zeros(batch, pages, -(-raw // VLLM_PAGE_ALIGN) * VLLM_PAGE_ALIGN, dtype=torch.uint8, device=data.device)
    keys = torch.zeros(batch, pages * page_rows, di, dtype=torch.uint8, device=data.device)
    keys[:, :n] = data.view(torch.uint8)
    sc = torch.zeros(batch, pages * page_rows, dtype=torch.float32, device=data.device)
    sc[:, :n] = scales
    out[..., : page_rows * di] = keys.view(batch, pages, page_rows * di)
    out[..., page_rows * di : raw] = sc.view(batch, pages, page_rows).contiguous().view(torch.uint8).view(
        batch, pages, page_rows * 4)
    table = torch.arange(batch * pages, device=data.device).view(batch, pages)
    return out.view(batch * pages, -1), table


def unpage_index_keys(pool: torch.Tensor, table: torch.Tensor, di: int,
                      page_rows: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of page_index_keys through any block table: (e4m3 bytes [B, P·page_rows, DI], scales [B, P·page_rows])."""
    pages = pool[table.long()]  # [B, P, page_bytes]
    batch, n_pages = table.shape
    data = pages[..., : page_rows * di].reshape(batch, n_pages * page_rows, di)
    scales = pages[..., page_rows * di : page_rows * (di + 4)].contiguous().view(torch.float32)
    return data, scales.reshape(batch, n_pages * page_rows)


def dequantize_index_fp8(data: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Inverse of quantize_index_fp8, in fp32."""
    return data.contiguous().view(torch.float8_e4m3fn).float() * scale[..., None].float()


def as_fp32_rows(cache: torch.Tensor, cfg: AttentionConfig, page_rows: int = 1) -> torch.Tensor:
    """Accept a bf16/fp32 cache [..., D], an fp8 row cache [..., row_bytes] uint8, or (page_rows > 1) vLLM pages of
    fp8 rows [..., P, page_bytes]; return fp32 rows [..., D]."""
    if cache.dtype != torch.uint8:
        return cache.float()
    return dequantize_kv_rows(unpage_kv_rows(cache, cfg, page_rows) if page_rows > 1 else cache, cfg)


def visible_entries(positions: torch.Tensor, ratio: int) -> torch.Tensor:
    """Compressed entries a query at position i may see: j < (i+1)//m, i.e. i >= m·j + m - 1."""
    return torch.div(positions + 1, ratio, rounding_mode="floor")


def index_scores(
    q: torch.Tensor,  # [B, HI, DI] indexer queries
    weights: torch.Tensor,  # [B, HI] per-head weights (already scaled)
    keys: torch.Tensor,  # [B, N, DI] indexer keys, one cache per sequence
    positions: torch.Tensor,  # [B] query positions
    ratio: int,
) -> torch.Tensor:
    """[B, N] fp32: Σ_h w[h]·ReLU(q[h]·k[s]); entries the query may not see get -inf."""
    logits = torch.relu(torch.einsum("bhd,bnd->bhn", q.float(), keys.float()))
    scores = torch.einsum("bhn,bh->bn", logits, weights.float())
    visible = torch.arange(keys.shape[1], device=keys.device)[None, :] < visible_entries(positions, ratio)[:, None]
    return scores.masked_fill(~visible, -math.inf)


def index_topk(
    q: torch.Tensor, weights: torch.Tensor, keys: torch.Tensor, positions: torch.Tensor, topk: int, ratio: int
) -> torch.Tensor:
    """[B, topk] int32 entry indices of the highest scores (any order), -1 where fewer are visible."""
    scores = index_scores(q, weights, keys, positions, ratio)
    k = min(topk, scores.shape[1])
    values, idx = scores.topk(k, dim=1)
    idx = torch.where(torch.isfinite(values), idx, -1).to(torch.int32)
    return torch.nn.functional.pad(idx, (0, topk - k), value=-1)


def index_topk_prefill(
    q: torch.Tensor,  # [T, HI, DI]
    weights: torch.Tensor,  # [T, HI]
    keys: torch.Tensor,  # [N, DI] one sequence's indexer keys
    positions: torch.Tensor,  # [T]
    topk: int,
    ratio: int,
) -> torch.Tensor:
    """Per-query top-k for a chunk of one sequence: [T, topk] int32."""
    return index_topk(q, weights, keys.expand(q.shape[0], *keys.shape), positions, topk, ratio)


def all_visible_indices(positions: torch.Tensor, n_entries: int, ratio: int) -> torch.Tensor:
    """c128a selects every visible entry: [B, n_entries] int32, -1 past the visible count."""
    idx = torch.arange(n_entries, device=positions.device, dtype=torch.int32)[None, :]
    return torch.where(idx < visible_entries(positions, ratio)[:, None], idx, -1).to(torch.int32)


def _attend(
    q: torch.Tensor, rows: torch.Tensor, valid: torch.Tensor, positions: torch.Tensor,
    sink: torch.Tensor, inv_freq: torch.Tensor, cfg: AttentionConfig,
) -> torch.Tensor:
    """q [B,H,D], rows [B,S,D] fp32, valid [B,S]: one softmax with exp(sink) in the denominator only."""
    logits = torch.einsum("bhd,bsd->bhs", q.float(), rows) * cfg.softmax_scale
    logits = logits.masked_fill(~valid[:, None, :], -math.inf)
    top = torch.maximum(logits.amax(-1), sink.float()[None, :])  # [B, H]
    p = torch.exp(logits - top[..., None])
    denom = p.sum(-1) + torch.exp(sink.float()[None, :] - top)
    out = torch.einsum("bhs,bsd->bhd", p, rows) / denom[..., None]
    return apply_rope(out, positions[:, None], inv_freq, inverse=True)


def _gather_compressed(comp: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    valid = indices >= 0
    rows = torch.gather(comp, 1, indices.clamp_min(0).long()[..., None].expand(-1, -1, comp.shape[-1]))
    return rows.masked_fill(~valid[..., None], 0.0), valid  # an unused pool row may hold anything, NaN included


def sparse_attention(
    q: torch.Tensor,  # [B, H, D]
    window_kv: torch.Tensor,  # [B, W, D] ring: position p lives in slot p % W (or uint8 fp8 rows)
    comp_kv: torch.Tensor,  # [B, N, D] compressed entries (or uint8 fp8 rows)
    indices: torch.Tensor,  # [B, K] int32 selected entries, -1 = none
    positions: torch.Tensor,  # [B] query positions
    sink: torch.Tensor,  # [H] fp32
    inv_freq: torch.Tensor,  # [rope/2]
    cfg: AttentionConfig,
    page_rows: int = 1,  # > 1: both caches are vLLM pages of fp8 rows (page_kv_rows); comp_kv may be a shared pool
    window_indices: torch.Tensor | None = None,  # [B, W]: window_kv is a pool, these its rows (window_indices())
) -> torch.Tensor:
    """Decode: [B, H, D] fp32 output over window ∪ selected entries, inverse RoPE at each query position.
    A 2-D comp_kv is one pool of rows shared by the batch (indices are pool rows: kvcache_indices)."""
    win = as_fp32_rows(window_kv, cfg, page_rows)
    if window_indices is not None:
        win_rows, win_valid = _gather_compressed(win.expand(q.shape[0], *win.shape), window_indices)
    else:
        width = win.shape[1]
        win_pos = positions[:, None] - width + 1 + torch.arange(width, device=q.device)[None, :]  # [B, W]
        win_rows = torch.gather(win, 1, (win_pos % width)[..., None].expand(-1, -1, win.shape[-1]))
        win_valid = win_pos >= 0
    comp = as_fp32_rows(comp_kv, cfg, page_rows)
    comp_rows, comp_valid = _gather_compressed(comp.expand(q.shape[0], *comp.shape) if comp.dim() == 2 else comp,
                                               indices)
    rows = torch.cat([win_rows, comp_rows], dim=1)
    valid = torch.cat([win_valid, comp_valid], dim=1)
    return _attend(q, rows, valid, positions, sink, inv_freq, cfg)


def sparse_attention_prefill(
    q: torch.Tensor,  # [T, H, D] queries of one sequence
    kv: torch.Tensor,  # [L, D] the sequence's uncompressed kv by position (or uint8 fp8 rows)
    comp_kv: torch.Tensor,  # [N, D] its compressed entries (or uint8 fp8 rows)
    indices: torch.Tensor,  # [T, K] int32
    positions: torch.Tensor,  # [T]
    sink: torch.Tensor,
    inv_freq: torch.Tensor,
    cfg: AttentionConfig,
    page_rows: int = 1,  # > 1: kv and comp_kv are vLLM pages of fp8 rows
    window_indices: torch.Tensor | None = None,  # [T, W]: kv is a pool, these its rows (window_indices())
) -> torch.Tensor:
    """Prefill: window = positions i-W+1..i of `kv`; one softmax with the selected entries; [T, H, D]."""
    full = as_fp32_rows(kv, cfg, page_rows)
    win_pos = positions[:, None] - cfg.window + 1 + torch.arange(cfg.window, device=q.device)[None, :]
    if window_indices is not None:
        win_rows, _ = _gather_compressed(full.expand(q.shape[0], *full.shape), window_indices)
        win_pos = torch.where(window_indices >= 0, win_pos.clamp_min(0), -1)
    else:
        win_rows = full[win_pos.clamp_min(0)]  # [T, W, D]
    comp = as_fp32_rows(comp_kv, cfg, page_rows)
    comp_rows, comp_valid = _gather_compressed(comp.expand(q.shape[0], *comp.shape), indices)
    rows = torch.cat([win_rows, comp_rows], dim=1)
    valid = torch.cat([win_pos >= 0, comp_valid], dim=1)
    return _attend(q, rows, valid, positions, sink, inv_freq, cfg)
