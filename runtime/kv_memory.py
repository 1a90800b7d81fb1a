"""KV-cache bytes per sequence for DeepSeek V4 (Flash, Pro) and, for comparison, a 61-layer V3.2 stack.

Two accountings (research: v4-architecture.md section 4):
- "bf16": the vLLM blog's ideal count. Per c4a layer (128 + N/4) 512-d entries of 1,024 B plus N/4 indexer
  entries of 256 B; per c128a layer (128 + N/128) entries; SWA-only layers keep their 128-token window.
  Compressor state is left out, as the blog does. Gives V4-Pro 9.62 GiB at 1M.
- "fp8": vLLM's paged layout as allocated: 256-token logical blocks; per block a c4a layer holds 64 main
  rows (584 B each, page padded to 37,440 B) plus 64 indexer rows (132 B, padded to 8,640 B), a c128a layer
  2 rows (padded to 1,728 B). Each request also pins sliding-window blocks: 3 SWA blocks per layer and
  3 or 17 compressor-state blocks (c4a / c128a), page-padded. Gives V4-Flash 3.84 GiB at 1M.
The FP4 indexer cache saves bandwidth, not memory: vLLM still allocates 132-B indexer rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wholerepo.errors import UsageError


class KvDtype(StrEnum):
    BF16 = "bf16"
    FP8 = "fp8"


@dataclass(frozen=True, slots=True)
class AttentionLayout:
    """Layer counts by attention type (MTP layer excluded)."""

    name: str
    num_swa_only: int
    num_c4a: int
    num_c128a: int

    @property
    def num_layers(self) -> int:
        return self.num_swa_only + self.num_c4a + self.num_c128a


FLASH_LAYOUT = AttentionLayout("v4-flash", num_swa_only=2, num_c4a=21, num_c128a=20)
PRO_LAYOUT = AttentionLayout("v4-pro", num_swa_only=0, num_c4a=30, num_c128a=31)

WINDOW = 128
ENTRY_BF16 = 512 * 2
INDEXER_BF16 = 128 * 2
V32_ENTRY_BF16 = 576 * 2 + INDEXER_BF16  # MLA 576-d latent + 128-d indexer key, per token per layer
V32_NUM_LAYERS = 61

BLOCK_TOKENS = 256
PAGE_C4A_MAIN = 37_440  # 64 rows x 584 B = 37,376, rounded up to a 576-B multiple
PAGE_C4A_INDEXER = 8_640  # 64 rows x 132 B = 8,448
PAGE_C128A_MAIN = 1_728  # 2 rows x 584 B = 1,168
PAGE_STATE = 37_440  # SWA and compressor-state pages are padded to the largest bucket
PAGE_INDEXER_STATE = 8_640
SWA_BLOCKS_PER_LAYER = 3
C4A_STATE_BLOCKS = 3
C128A_STATE_BLOCKS = 17


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def kv_bytes_per_sequence(layout: AttentionLayout, tokens: int, dtype: KvDtype) -> int:
    """Bytes of KV cache one sequence of `tokens` tokens occupies."""
    if tokens < 0:
        raise UsageError(f"context length must be >= 0, got {tokens}")
    if dtype is KvDtype.BF16:
        window = min(tokens, WINDOW)
        c4a = (window + tokens // 4) * ENTRY_BF16 + (tokens // 4) * INDEXER_BF16
        c128a = (window + tokens // 128) * ENTRY_BF16
        return layout.num_c4a * c4a + layout.num_c128a * c128a + layout.num_swa_only * window * ENTRY_BF16
    blocks = _cdiv(tokens, BLOCK_TOKENS)
    paged = blocks * (layout.num_c4a * (PAGE_C4A_MAIN + PAGE_C4A_INDEXER) + layout.num_c128a * PAGE_C128A_MAIN)
    fixed = (
        layout.num_layers * SWA_BLOCKS_PER_LAYER * PAGE_STATE
        + layout.num_c4a * C4A_STATE_BLOCKS * (PAGE_STATE + PAGE_INDEXER_STATE)
        + layout.num_c128a * C128A_STATE_BLOCKS * PAGE_STATE
    )
    return paged + fixed


def v32_kv_bytes_per_sequence(tokens: int) -> int:
    """A 61-layer DeepSeek V3.2 (MLA + DSA indexer on every layer), bf16: the blog's comparison."""
    return tokens * V32_ENTRY_BF16 * V32_NUM_LAYERS


def max_tokens_within(layout: AttentionLayout, budget_bytes: int, dtype: KvDtype, *, limit: int) -> int:
    """The longest sequence (<= limit) whose KV fits in budget_bytes; 0 if not even one block fits."""
    if kv_bytes_per_sequence(layout, limit, dtype) <= budget_bytes:
        return limit
    low, high = 0, limit  # kv bytes grow monotonically with tokens
    while low < high:
        middle = (low + high + 1) // 2
        if kv_bytes_per_sequence(layout, middle, dtype) <= budget_bytes:
            low = middle
        else:
            high = middle - 1
    return low
