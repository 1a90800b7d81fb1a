"""Where an fp8 cache row's bytes are: one row a stride apart, or vLLM's pages (research §4.1, §4.4).

Shared by the kernels that write rows (compress_kv) and read them (sparse_attention), so both agree on one layout.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def fp8_row_addresses(rows, stride_r, PAGE_ROWS: tl.constexpr, DATA: tl.constexpr, SCALE_W: tl.constexpr):
    """(data, scales) byte offsets of fp8 rows: one row a stride_r apart (PAGE_ROWS = 1, scales after the data), or
    vLLM pages of PAGE_ROWS rows a stride_r apart, each page DATA-byte data parts then SCALE_W-byte scale parts."""
    if PAGE_ROWS == 1:
        data = rows * stride_r
        return data, data + DATA
    page = (rows // PAGE_ROWS) * stride_r
    slot = rows % PAGE_ROWS
    return page + slot * DATA, page + PAGE_ROWS * DATA + slot * SCALE_W
