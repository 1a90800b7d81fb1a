"""Sparse attention block shapes per regime on the GPU, each checked against the reference, then the 1M c4a
decode with the fastest shape per (cache layout, busy launch): one device call.

Usage (device machine): python3 bench/attention_sweep.py --out $OUT [--grid full|defaults] [--stem NAME]
[--probe-stages [--probe-tunings "F;F"]] (the Gluon kernel with stages left out, time only)
`--grid gluon` times only the Gluon kernel's shapes (bf16 rows, plain and warp-specialized; fp8 rows, warp-specialized).
`--grid defaults` times only the library's default shape per case, so the same script measures an older
checkout (PYTHONPATH pointing at it) beside the current one in one call. Writes NAME.md / NAME.csv.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import torch

if "--smoke" in sys.argv:
    os.environ.setdefault("TRITON_INTERPRET", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernels import Bench, Tunings, decode_case, log, rel_err, to_fp8, write_outputs  # noqa: E402
from wholerepo.kernels import reference as ref  # noqa: E402
from wholerepo.kernels import sparse_attention_hopper as hopper  # noqa: E402
from wholerepo.kernels.config import AttentionConfig  # noqa: E402
from wholerepo.kernels.index_topk import index_topk  # noqa: E402
from wholerepo.kernels.inputs import make_decode_inputs  # noqa: E402
from wholerepo.kernels.sparse_attention import (  # noqa: E402
    BUSY_HEAD_ROWS,
    AttnTuning,
    default_tuning,
    sparse_attention,
    split_plan,
)
from wholerepo.kernels.split_combine import combine_splits  # noqa: E402

CONTEXT = 1 << 20
CASES = (("flash", 1), ("pro", 1), ("flash", 32), ("pro", 32))
TINY = AttentionConfig(name="tiny", n_heads=64, index_topk=32, head_dim=128, rope_dim=32, index_heads=16, index_dim=32,
                       window=64)  # --smoke: the code paths on the CPU interpreter


def grid(busy: bool, gluon_only: bool = False, fp8: bool = False) -> list[AttnTuning]:
    """Shapes worth timing: at batch 1 one tile per split (latency: round 5 measured +2.4 µs per extra tile),
    busy launches splits sized to whole waves (Pro B=32: 64 query-head blocks, so 132 programs = 2-3 splits).
    gluon_only with fp8 rows: the warp-specialized shapes (the only Gluon form that reads them)."""
    # ring > 0: the Gluon kernel (sparse_attention_hopper.py), its gathered tiles copied ring-1 tiles ahead
    if gluon_only and fp8:  # 64-entry tiles only: the fp8 copier's byte plan is for 64-row slots
        if busy:
            return [AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=mt, ring=2, ws=True) for mt in (1, 2, 4)]
        return [AttnTuning(64, 64, 8, 2, min_tiles=mt, ring=2, ws=True) for mt in (1, 2)]
    if not busy and gluon_only:
        return [AttnTuning(64, 32, 8, 2, min_tiles=mt, ring=2, ws=ws) for mt, ws in itertools.product((1, 2), (False, True))]
    if not busy:
        return [*(AttnTuning(64, be, 8, 2, min_tiles=1, dv_split=dv) for be, dv in itertools.product((16, 32), (1, 2))),
                *(AttnTuning(64, 32, 8, 2, min_tiles=mt, ring=2) for mt in (1, 2))]
    # (round 5: 4 warps + dv_split=2 lost everywhere; 264 programs lost to 132 at Pro B=32; here the split count
    # that leaves no partial wave, 2 splits = 128 programs, against 3 = 192 programs = 1.45 waves)
    if gluon_only:  # the Gluon kernel's shapes alone
        # (32-entry tiles, 2-4 slots, warp-specialized: 46.4 µs at Pro B=32 against 37.3 with 64: round 7, call 1)
        # (the seesaw with four 32-entry slots: round 12, the next pair's copies in flight beside the pair in use)
        return [*(AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=2, ring=2, ws=ws) for ws in (False, True)),
                AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=2, ring=2, ws=True, seesaw=True),
                AttnTuning(64, 32, 8, 2, target_programs=132, min_tiles=4, ring=4, ws=True, seesaw=True)]
    return [*(AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=mt) for mt in (4, 9)),
            *(AttnTuning(64, 32, 8, 2, target_programs=132, min_tiles=mt) for mt in (8, 18)),
            AttnTuning(64, 32, 8, 2, min_tiles=8),
            AttnTuning(64, 64, 8, 2, target_programs=132, min_tiles=2, ring=2),
            *(AttnTuning(64, 32, 8, 2, target_programs=132, min_tiles=4, ring=r) for r in (2, 3))]


def padded_rows(cache: torch.Tensor, stride: int) -> torch.Tensor:
    """The same fp8 rows at a wider row stride (a view of the first row_bytes of each padded row)."""
    if stride <= cache.shape[-1]:
        return cache
    wide = torch.zeros(*cache.shape[:-1], stride, dtype=cache.dtype, device=cache.device)
    wide[..., : cache.shape[-1]] = cache
    return wide[..., : cache.shape[-1]]


def sweep_case(bench: Bench, cfg: AttentionConfig, batch: int, full: bool, best: dict, context: int = CONTEXT,
               gluon_only: bool = False, fp8_stride: int = 0) -> None:
    inp = make_decode_inputs(cfg, batch, context, device=bench.device, seed=7 + batch)
    idx = index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    busy = batch * cfg.n_heads >= BUSY_HEAD_ROWS
    shape = f"{cfg.name} B={batch} ctx={context >> 10}K"
    entries = cfg.window + cfg.index_topk
    flops = batch * 4.0 * cfg.n_heads * cfg.head_dim * entries
    sub = slice(0, min(batch, 2))
    for fp8 in (False, True):
        win, comp = (to_fp8(inp.window_kv, cfg), to_fp8(inp.comp_kv, cfg)) if fp8 else (inp.window_kv, inp.comp_kv)
        if fp8 and fp8_stride:
            win, comp = padded_rows(win, fp8_stride), padded_rows(comp, fp8_stride)
        args = (inp.q, win, comp, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
        want = ref.sparse_attention(*(a[sub] for a in args[:5]), *args[5:])
        row_bytes = cfg.fp8_row_bytes if fp8 else 2 * cfg.head_dim
        nbytes = batch * (entries * row_bytes + 2 * 2 * cfg.n_heads * cfg.head_dim)
        label = "fp8" if fp8 else "bf16"
        shapes = grid(busy, gluon_only, fp8) if full else [default_tuning(fp8, batch, cfg.n_heads)]
        if full and gluon_only and fp8:  # against the default it would replace
            shapes.append(default_tuning(fp8, batch, cfg.n_heads))
        for t in shapes:
            try:
                err = rel_err(sparse_attention(*args, tuning=t)[sub], want)
                row = bench.add("sparse_attention", f"{label} {t}", shape, label,
                                lambda a=args, tt=t: sparse_attention(*a, tuning=tt), nbytes, flops, f"err {err:.1e}")
            except Exception as exc:  # noqa: BLE001 - a shape that does not compile (shared memory) is logged, skipped
                log(f"{shape} {label} {t}: failed ({type(exc).__name__}: {str(exc)[:160]})")
                continue
            if err < 3e-2 and row.p50 < best.get(((fp8, busy), cfg.name), (float("inf"), None))[0]:
                best[(fp8, busy), cfg.name] = (row.p50, t)
    del inp, win, comp
    torch.cuda.empty_cache()


PROBE_MASKS = {0: "all stages", 1: "no copies (ring refills)", 2: "no QK", 4: "no softmax", 8: "no PV",
               6: "copies + PV only", 10: "copies + softmax only", 12: "copies + QK only",
               14: "copies only", 15: "nothing (prologue, epilogue, combine)",
               47: "nothing, no Q copy", 79: "nothing, no partial stores", 111: "nothing, no Q copy, no partial stores"}
FP8_PROBE_MASKS = {**PROBE_MASKS, 16: "no dequantization (fp8)", 30: "copies + stores, no dequantization (fp8)"}


def probe_stages(bench: Bench, cfg: AttentionConfig, batch: int, context: int = CONTEXT,
                 tuning: AttnTuning | None = None, fp8: bool = False) -> None:
    """The Gluon kernel at its default shape with stages left out (wrong output, time only): where a
    tile's time goes, by differences (METHOD.md). fp8: vLLM's rows (with no copies the copier still dequantizes
    whatever bytes its buffers hold)."""
    inp = make_decode_inputs(cfg, batch, context, device=bench.device, seed=7 + batch)
    idx = index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    win, comp = (to_fp8(inp.window_kv, cfg), to_fp8(inp.comp_kv, cfg)) if fp8 else (inp.window_kv, inp.comp_kv)
    args = (inp.q, win, comp, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    tuning = tuning or default_tuning(fp8, batch, cfg.n_heads)
    shape = f"{cfg.name} B={batch} ctx={context >> 10}K"
    label = "fp8" if fp8 else "bf16"
    try:
        for mask, what in (FP8_PROBE_MASKS if fp8 else PROBE_MASKS).items():
            hopper.PROBE_SKIP = mask
            bench.add("probe", f"ring kernel, {what} (skip={mask})", shape, label,
                      lambda a=args: sparse_attention(*a, tuning=tuning), 0.0, 0.0, f"{tuning}")
    finally:
        hopper.PROBE_SKIP = 0
    # the combine launch alone, on partials shaped as this launch writes them
    splits, _ = split_plan(batch * cfg.n_heads // tuning.block_h, cfg.window + cfg.index_topk, tuning)
    acc = torch.randn(batch, cfg.n_heads, splits, cfg.head_dim, device=bench.device)
    ml = torch.stack([torch.randn(batch, cfg.n_heads, splits, device=bench.device),
                      torch.rand(batch, cfg.n_heads, splits, device=bench.device) + 1], dim=-1)
    out = torch.empty_like(inp.q)
    bench.add("probe", f"combine alone ({splits} splits)", shape, "bf16",
              lambda: combine_splits(acc, ml, inp.sink, inp.positions, inp.inv_freq, out, nope=cfg.nope_dim),
              0.0, 0.0, "-")


def parse_tuning(fields: str) -> AttnTuning:
    """AttnTuning from its fields in order, comma-separated (booleans as 0/1)."""
    return AttnTuning(*(int(x) for x in fields.split(",")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--grid", choices=("full", "defaults", "gluon"), default="full",
                    help="gluon: only the Gluon kernel's shapes (fp8 rows: its warp-specialized ones)")
    ap.add_argument("--stem", default="attention_sweep")
    ap.add_argument("--commit", default="")
    ap.add_argument("--cases", default=",".join(f"{n}:{b}" for n, b in CASES), help="model:batch, e.g. flash:1,pro:32")
    ap.add_argument("--pipeline", default="1,32", help="batches of the 1M Flash c4a decode timed after the sweep")
    ap.add_argument("--smoke", action="store_true", help="a tiny config on the CPU interpreter (code paths only)")
    ap.add_argument("--probe-stages", action="store_true", help="only time the Gluon kernel with stages left out")
    ap.add_argument("--probe-tunings", default="", help="';'-separated AttnTuning fields to probe besides the default")
    ap.add_argument("--probe-fp8", action="store_true", help="probe with vLLM's fp8 rows instead of bf16")
    ap.add_argument("--fp32-partials", action="store_true",
                    help="the warp-specialized kernel writes fp32 split partials (as before round 10) instead of bf16")
    ap.add_argument("--fp8-row-stride", type=int, default=0,
                    help="fp8 rows at this row stride (e.g. 592: 16-byte aligned rows) instead of vLLM's 584")
    opts = ap.parse_args()
    hopper.BF16_PARTIALS = not opts.fp32_partials
    best: dict = {}
    if opts.smoke:
        bench = Bench("cpu", graphs=False)
        for batch in (1, 32):
            sweep_case(bench, TINY, batch, opts.grid == "full", best, context=512)
        write_outputs(bench, opts.out, "cpu-interpreter", opts.commit, stem=opts.stem)
        return
    bench = Bench("cuda", graphs=True)
    bench.measure_ceilings()
    if opts.probe_stages:
        for case in opts.cases.split(","):
            name, batch = case.split(":")
            for fields in ["", *filter(None, opts.probe_tunings.split(";"))]:
                probe_stages(bench, AttentionConfig.from_name(name), int(batch),
                             tuning=parse_tuning(fields) if fields else None, fp8=opts.probe_fp8)
        write_outputs(bench, opts.out, torch.cuda.get_device_name(), opts.commit, stem=opts.stem)
        return
    for case in opts.cases.split(","):
        name, batch = case.split(":")
        sweep_case(bench, AttentionConfig.from_name(name), int(batch), opts.grid != "defaults", best,
                   gluon_only=opts.grid == "gluon", fp8_stride=opts.fp8_row_stride)
        write_outputs(bench, opts.out, torch.cuda.get_device_name(), opts.commit, quiet=True, stem=opts.stem)
    for (key, name), (p50, t) in sorted(best.items(), key=str):
        log(f"best {name} (fp8, busy)={key}: {p50:.1f} µs {t}")
    # the decode pipeline with Flash's winners (a shape is chosen per regime, not per model)
    tunings: Tunings = {key: t for (key, name), (_, t) in best.items() if name == "flash"} if opts.grid == "full" else {}
    flash = AttentionConfig.from_name("flash")
    batches = [int(b) for b in opts.pipeline.split(",") if b]
    for batch in batches:
        decode_case(bench, flash, batch, CONTEXT, tunings)
        torch.cuda.empty_cache()
    write_outputs(bench, opts.out, torch.cuda.get_device_name(), opts.commit, stem=opts.stem)


if __name__ == "__main__":
    main()
