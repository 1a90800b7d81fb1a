"""How fast can gathered cache rows reach shared memory when two CTAs need the same rows? (round 12)

Why: Pro B=32 sparse attention (sparse_attention_seesaw.py) runs 128 programs, the two head blocks of each
(query, split) reading the same 9 tiles of 64 gathered 1 KB rows, so every row crosses L2 -> shared memory twice
(~75 MB). Round 11's probe put ~6 µs of its 31 µs in waiting for those refills. A 2-CTA cluster could read each
row from L2 once and deliver it to both CTAs (multicast, or one CTA's copy pushed to the other through distributed
shared memory): worth a rewrite only if the copy stream is bound by what L2 hands out in total, not by what each
SM can take in. The copy stream alone, no math, at the attention's shape and access pattern, tells which:

- `128 programs, head blocks share rows`: the attention's copier as it is (16-byte cp.async, two 64-row slots);
- `64 programs, one per (query, split)`: every row read once, each SM taking in as much as above: what a
  cluster that shares each row would at best approach if L2's output is the bound (if it is the SMs' intake,
  this takes as long as the first);
- `128 programs, head blocks read different rows`: twice the distinct rows (HBM sees 75 MB, not 38): whether
  the shared rows' L2 hits matter at all;
- the first two with three slots (two tiles in flight instead of one): whether the stream is short of copies in
  flight rather than of bandwidth.

Every variant stores each program's last tile back to global memory, checked against torch's gather (so the
rows landed where wgmma would read them). Prints a table; --out writes it as .md.
Usage (device machine): python3 bench/gather_multicast.py [--out DIR] [--commit SHA]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import triton
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.ampere import async_copy

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernels import Bench, log  # noqa: E402
from wholerepo.kernels.sparse_attention_hopper import _async_load, _cta_barrier  # noqa: E402

BATCH, ENTRIES, D, BLOCK_E = 32, 1152, 512, 64  # Pro B=32: 1024 selected + 128 window
SPLITS = 2
TILES = ENTRIES // BLOCK_E // SPLITS  # 9 tiles per program
POOL = 1 << 18  # 1M tokens / 4: compressed rows per sequence


@gluon.constexpr_function
def _tile_layout():
    return gl.NVMMASharedLayout(swizzle_byte_width=128, element_bitwidth=16, rank=2)


@gluon.constexpr_function
def _rows_layout(num_warps):
    """Registers over a tile's rows: 8 bf16 (16 bytes) a thread, as the attention's copier holds them."""
    return gl.BlockedLayout([1, 8], [4, 8], [num_warps, 1], [1, 0])


def program_of(pid: int, head_blocks: int) -> tuple[int, int, int]:
    """(query, split, head block) of a program: the head blocks of a (query, split) are adjacent programs."""
    return pid // (SPLITS * head_blocks), (pid // head_blocks) % SPLITS, pid % head_blocks


@gluon.jit
def _store_tile(tile, out_ptr, pid, D: gl.constexpr, BLOCK_E: gl.constexpr):
    """The tile as it sits in shared memory, back to out[pid] (the check)."""
    layout: gl.constexpr = _rows_layout(gl.num_warps())
    x = tile.load(layout)
    offs_e = gl.arange(0, BLOCK_E, layout=gl.SliceLayout(1, layout))
    offs_d = gl.arange(0, D, layout=gl.SliceLayout(0, layout))
    gl.store(out_ptr + pid * BLOCK_E * D + offs_e[:, None] * D + offs_d[None, :], x)


@gluon.jit
def _gather_cp_async_kernel(rows_ptr, ind_ptr, out_ptr, stride_rb, stride_ib, pool, TILES: gl.constexpr,
                            D: gl.constexpr, BLOCK_E: gl.constexpr, HB: gl.constexpr, SPLITS: gl.constexpr,
                            DISJOINT: gl.constexpr, RING: gl.constexpr):
    """Tile t of this program's split into slot t % RING by cp.async, RING - 1 tiles in flight while the next is
    issued; HB programs per (query, split); DISJOINT: head block h reads row (r + h * pool / 2) % pool, not r."""
    layout: gl.constexpr = _rows_layout(gl.num_warps())
    pid = gl.program_id(0)
    b, split, hb = pid // (SPLITS * HB), (pid // HB) % SPLITS, pid % HB
    ring = gl.allocate_shared_memory(gl.bfloat16, [RING, BLOCK_E, D], _tile_layout())
    offs_e = gl.arange(0, BLOCK_E, layout=gl.SliceLayout(1, layout))
    offs_d = gl.arange(0, D, layout=gl.SliceLayout(0, layout))
    ind_b = ind_ptr + b * stride_ib + split * TILES * BLOCK_E
    for t in range(TILES):
        row = gl.load(ind_b + t * BLOCK_E + offs_e).to(gl.int64)
        if DISJOINT:
            row = (row + hb * (pool // 2)) % pool
        ptrs = rows_ptr + b.to(gl.int64) * stride_rb + row[:, None] * D + offs_d[None, :]  # (> 2^31 elements)
        _async_load(ring.index(t % RING), gl.max_contiguous(gl.multiple_of(ptrs, [1, 16]), [1, 8]))
        async_copy.commit_group()
        async_copy.wait_group(RING - 1)
    async_copy.wait_group(0)
    _cta_barrier()
    _store_tile(ring.index((TILES - 1) % RING), out_ptr, pid, D, BLOCK_E)


def gather_cp_async(rows: torch.Tensor, ind: torch.Tensor, out: torch.Tensor, head_blocks: int,
                    disjoint: bool, ring: int = 2) -> None:
    """One launch of the copy stream (out: [programs, BLOCK_E, D], each program's last tile)."""
    _gather_cp_async_kernel[(BATCH * SPLITS * head_blocks,)](
        rows, ind, out, rows.stride(0), ind.stride(0), rows.shape[1], TILES=TILES, D=D, BLOCK_E=BLOCK_E,
        HB=head_blocks, SPLITS=SPLITS, DISJOINT=disjoint, RING=ring, num_warps=4)


def expected_last_tiles(rows: torch.Tensor, ind: torch.Tensor, head_blocks: int, disjoint: bool) -> torch.Tensor:
    """What every program's last slot must hold: [programs, BLOCK_E, D]."""
    pool = rows.shape[1]
    last = torch.empty(BATCH * SPLITS * head_blocks, BLOCK_E, D, dtype=rows.dtype, device=rows.device)
    for pid in range(last.shape[0]):
        b, split, hb = program_of(pid, head_blocks)
        e0 = (split * TILES + TILES - 1) * BLOCK_E
        picked = ind[b, e0:e0 + BLOCK_E].long()
        last[pid] = rows[b, (picked + hb * (pool // 2)) % pool if disjoint else picked]
    return last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--commit", default="")
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = torch.randn(BATCH, POOL, D, device="cuda", dtype=torch.bfloat16)
    ind = torch.stack([torch.randperm(POOL, device="cuda")[:ENTRIES] for _ in range(BATCH)]).to(torch.int32)
    bench = Bench("cuda", graphs=True)
    bench.measure_ceilings()
    variants = [("128 programs, head blocks share rows", 2, False, 2), ("64 programs, one per (query, split)", 1, False, 2),
                ("128 programs, head blocks read different rows", 2, True, 2),
                ("128 programs, head blocks share rows, 3 slots", 2, False, 3),
                ("64 programs, one per (query, split), 3 slots", 1, False, 3)]
    lines = [f"GPU: {torch.cuda.get_device_name()}; commit {args.commit}; triton {triton.__version__}; "
             f"ceilings: copy {bench.bw / 1e12:.2f} TB/s", "",
             "| variant | programs | MB into smem | MB distinct | p20 µs | p50 µs | p80 µs | TB/s into smem | check |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, head_blocks, disjoint, ring in variants:
        want = expected_last_tiles(rows, ind, head_blocks, disjoint)
        out = torch.full_like(want, float("nan"))
        gather_cp_async(rows, ind, out, head_blocks, disjoint, ring)
        torch.cuda.synchronize()
        ok = "exact" if torch.equal(out, want) else f"MISMATCH ({(out != want).sum().item()} elements)"
        p20, p50, p80 = bench.time(lambda o=out, h=head_blocks, d=disjoint, r=ring: gather_cp_async(rows, ind, o, h, d, r))
        moved = BATCH * SPLITS * head_blocks * TILES * BLOCK_E * D * 2  # bytes landing in shared memory
        distinct = moved if disjoint else moved // head_blocks
        lines.append(f"| {name} | {BATCH * SPLITS * head_blocks} | {moved / 1e6:.1f} | {distinct / 1e6:.1f} | "
                     f"{p20:.1f} | {p50:.1f} | {p80:.1f} | {moved / p50 / 1e6:.2f} | {ok} |")
        log(lines[-1])
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        (args.out / "gather-multicast.md").write_text(text)


if __name__ == "__main__":
    main()
