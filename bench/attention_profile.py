"""One sparse-attention shape run a few times with a chosen tuning, for a profiler to watch (ncu, nsys).

Usage (device machine): ncu --clock-control none -k regex:attn --section SpeedOfLight \\
    python3 bench/attention_profile.py --case pro:32 --tuning "64,64,8,2,132,2,1,2" [--runs 3]
The tuning is AttnTuning's fields in order (block_h, block_e, num_warps, num_stages, target_programs,
min_tiles, dv_split, ring, ws as 0/1); the default is the library's choice for the shape.
"""

from __future__ import annotations

import argparse

import torch

from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.index_topk import index_topk
from wholerepo.kernels.inputs import make_decode_inputs
from wholerepo.kernels.sparse_attention import AttnTuning, sparse_attention


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="pro:32", help="model:batch")
    ap.add_argument("--context", type=int, default=1 << 20)
    ap.add_argument("--tuning", default="", help="AttnTuning fields, comma-separated")
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    name, batch = opts.case.split(":")
    cfg = AttentionConfig.from_name(name)
    inp = make_decode_inputs(cfg, int(batch), opts.context, device="cuda", seed=7)
    idx = index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    tuning = AttnTuning(*(int(x) for x in opts.tuning.split(","))) if opts.tuning else None
    args = (inp.q, inp.window_kv, inp.comp_kv, idx, inp.positions, inp.sink, inp.inv_freq, cfg)
    for _ in range(opts.runs):
        sparse_attention(*args, tuning=tuning)
    torch.cuda.synchronize()
    print(f"{opts.case} tuning {tuning}: ran {opts.runs} times")


if __name__ == "__main__":
    main()
