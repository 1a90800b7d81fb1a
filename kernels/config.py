"""Shapes of one DeepSeek V4 attention layer, so no kernel or test hard-codes heads, top-k or ratios.

Values follow research/v4-architecture.md §2-§3 (Flash: 64 heads, top-k 512; Pro: 128 heads, top-k 1024).
Small configs for the CPU interpreter are built with the same class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from wholerepo.errors import UsageError

C4A_RATIO = 4  # c4a: one entry per 4 tokens, from an overlapping 8-token window
C128A_RATIO = 128  # c128a: one entry per 128 tokens, no overlap


@dataclass(frozen=True, slots=True)
class AttentionConfig:
    """One V4 attention layer's dimensions; `ratio` picks c4a (4) or c128a (128)."""

    name: str
    n_heads: int  # query heads sharing one 512-d KV head (MQA)
    index_topk: int  # compressed entries the indexer keeps per query (c4a only)
    head_dim: int = 512  # K = V dimension
    rope_dim: int = 64  # last dims that carry RoPE (GPT-J interleaved pairs)
    index_heads: int = 64
    index_dim: int = 128
    window: int = 128  # sliding window of uncompressed tokens, query included
    ratio: int = C4A_RATIO
    scale_block: int = 64  # fp8 nope dims share one ue8m0 scale per 64
    rope_theta: float = 160000.0
    yarn_factor: float = 16.0
    yarn_original: int = 65536
    yarn_beta_fast: float = 32.0
    yarn_beta_slow: float = 1.0
    rms_eps: float = 1e-6

    @classmethod
    def from_name(cls, name: str, *, ratio: int = C4A_RATIO) -> AttentionConfig:
        """'flash' or 'pro' (case-insensitive, 'v4-' prefix allowed)."""
        key = name.lower().removeprefix("v4-")
        if key == "flash":
            return cls(name="flash", n_heads=64, index_topk=512, ratio=ratio)
        if key == "pro":
            return cls(name="pro", n_heads=128, index_topk=1024, ratio=ratio)
        raise UsageError(f"unknown attention config {name!r}: use 'flash' or 'pro'")

    def with_ratio(self, ratio: int) -> AttentionConfig:
        return replace(self, ratio=ratio)

    def indexer_compressor(self) -> AttentionConfig:
        """The lightning indexer's own compressor (research §2.4): c4a with overlap over index_dim channels, RoPE on
        the same last rope_dim dims with the layer's table; its entries are the indexer's keys."""
        return replace(self, name=f"{self.name}-indexer", head_dim=self.index_dim, ratio=C4A_RATIO)

    @property
    def overlap(self) -> int:
        """c = 2 when entries overlap (c4a: previous 4 tokens' A half + current 4 tokens' B half), else 1."""
        return 2 if self.ratio == C4A_RATIO else 1

    @property
    def nope_dim(self) -> int:
        return self.head_dim - self.rope_dim

    @property
    def n_scales(self) -> int:
        return math.ceil(self.nope_dim / self.scale_block)

    @property
    def fp8_row_bytes(self) -> int:
        """fp8 nope bytes + bf16 rope bytes + ue8m0 scales, padded to 8 (448 + 128 + 7 + 1 = 584 for V4)."""
        raw = self.nope_dim + 2 * self.rope_dim + self.n_scales
        return (raw + 7) // 8 * 8

    @property
    def fp8_data_bytes(self) -> int:
        """The part of an fp8 row before its scales: nope e4m3 + rope bf16 (576 for V4, FlashMLA's TMA stride)."""
        return self.nope_dim + 2 * self.rope_dim

    @property
    def fp8_scale_bytes(self) -> int:
        """The part of an fp8 row after its data: ue8m0 scales and pad (8 for V4); a page stores them apart."""
        return self.fp8_row_bytes - self.fp8_data_bytes

    def fp8_page_bytes(self, page_rows: int) -> int:
        """Bytes of one vLLM page of `page_rows` fp8 rows (research §4.4: every row's data part, then every row's
        8 scale bytes, rounded up to a multiple of the data part): 37,440 for V4's 64-entry pages."""
        raw = page_rows * self.fp8_row_bytes
        return -(-raw // self.fp8_data_bytes) * self.fp8_data_bytes

    @property
    def softmax_scale(self) -> float:
        return self.head_dim**-0.5

    @property
    def index_weight_scale(self) -> float:
        """w = W_w·x · 128^-0.5 · 64^-0.5 (applied by the caller; kept here for the bench's inputs)."""
        return self.index_dim**-0.5 * self.index_heads**-0.5
