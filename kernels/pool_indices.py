"""One launch that turns a decode step's entry lists into rows of vLLM's shared page pools.

vLLM keeps each layer's window cache by position and its compressed entries by index, both in pages under a block
table per sequence (research §4.4), and hands its attention kernel pool rows. `reference.window_indices` and
`reference.kvcache_indices` say what the rows are; in torch they are ~6 small launches a step (~20 µs at batch 1 on
the H200, round 9 call 2), here one, writing the window's rows and the compressed entries' rows side by side in
the one list `sparse_attention(..., window_indices=)` reads without copying.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from wholerepo.errors import UsageError
from wholerepo.kernels._launch import check_dtype, check_power_of_two

BLOCK = 256


@triton.jit
def _pool_indices_kernel(ind_ptr, pos_ptr, win_table_ptr, comp_table_ptr, out_ptr, K,
                         stride_ib, stride_wt, stride_ct, stride_ob,
                         WIN: tl.constexpr, PAGE_ROWS: tl.constexpr, BLOCK: tl.constexpr):
    """Columns c of row b: c < WIN the window position pos-WIN+1+c through the window table, else entry
    ind[b, c-WIN] through the compressed table; -1 where there is none."""
    b = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    in_row = c < WIN + K
    is_win = c < WIN
    pos = tl.load(pos_ptr + b)
    entry = tl.load(ind_ptr + b * stride_ib + (c - WIN), mask=in_row & ~is_win, other=-1)
    logical = tl.where(is_win, pos - WIN + 1 + c, entry.to(tl.int64))
    live = in_row & (logical >= 0)
    safe = tl.where(live, logical, 0)
    page_win = tl.load(win_table_ptr + b * stride_wt + safe // PAGE_ROWS, mask=live & is_win, other=0)
    page_comp = tl.load(comp_table_ptr + b * stride_ct + safe // PAGE_ROWS, mask=live & ~is_win, other=0)
    row = tl.where(is_win, page_win, page_comp).to(tl.int64) * PAGE_ROWS + safe % PAGE_ROWS
    tl.store(out_ptr + b * stride_ob + c, tl.where(live, row, -1).to(tl.int32), mask=in_row)


def pool_indices(indices: torch.Tensor, positions: torch.Tensor, window_table: torch.Tensor,
                 comp_table: torch.Tensor, page_rows: int, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(window rows [B, window], compressed rows [B, K]) int32 for `sparse_attention(q, window_pool, comp_pool,
    compressed rows, ..., page_rows=, window_indices=window rows)`: two views of one [B, window + K] buffer."""
    check_dtype("indices", indices, (torch.int32,))
    check_power_of_two("page_rows", page_rows)
    batch, k = indices.shape
    for name, table in (("window_table", window_table), ("comp_table", comp_table)):
        check_dtype(name, table, (torch.int32, torch.int64))
        if table.dim() != 2 or table.shape[0] != batch or table.stride(1) != 1:
            raise UsageError(f"{name} must be [{batch}, blocks] with contiguous rows: one block table per sequence")
    out = torch.empty(batch, window + k, dtype=torch.int32, device=indices.device)
    grid = (batch, triton.cdiv(window + k, BLOCK))
    _pool_indices_kernel[grid](indices, positions, window_table, comp_table, out, k, indices.stride(0),
                               window_table.stride(0), comp_table.stride(0), out.stride(0), WIN=window,
                               PAGE_ROWS=page_rows, BLOCK=BLOCK, num_warps=4)
    return out[:, :window], out[:, window:]
