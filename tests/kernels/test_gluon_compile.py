"""The Gluon attention kernels compiled for Hopper (sm_90a) on the CPU, down to ptxas: no GPU needed, so CI
sees a kernel that stops compiling, spills registers or outgrows shared memory before the H200 does.
(The Gluon kernels do not run in the interpreter; their numerics are GPU-tested in test_sparse_attention.)
Each compile runs in a child process: under TRITON_INTERPRET=1 (set for the CPU suite) @jit functions are
interpreter objects that the compiler cannot take. It compiles with the Triton pinned here (3.9); the H200
image has 3.6, whose register allocation differs (3.6 spilled 140 bytes with a 24-register copier where 3.9
did not), so the GPU runs stay the word on 3.6."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wholerepo.kernels.sparse_attention import GPU_CANDIDATES

SHARED_LIMIT = 227 * 1024  # an H100/H200 block's opt-in shared memory
POINTERS = {"q_ptr": "*bf16", "win_ptr": "*bf16", "comp_ptr": "*bf16", "ind_ptr": "*i32", "pos_ptr": "*i64",
            "acc_ptr": "*fp32", "ml_ptr": "*fp32"}
SCALARS = {"win_mod": "i64", "scale_log2": "fp32", "stride_wb": "i64", "stride_cb": "i64"}  # the rest: i32
# (block_e, ring, ws, rows): "bf16" rows everywhere; the warp-specialized 64-entry shapes also with vLLM's fp8 rows
# one a 584-byte stride apart ("fp8") and in vLLM's 64-row pages ("fp8-pages": 16-byte copies of 576-byte data parts)
SHAPES = sorted({(t.block_e, t.ring, t.ws, rows) for t in GPU_CANDIDATES if t.ring
                 for rows in (("bf16", "fp8", "fp8-pages") if t.ws and t.block_e == 64 else ("bf16",))})
SEESAW_SHAPES = sorted({(t.block_e, t.ring) for t in GPU_CANDIDATES if t.seesaw})
PAGE_ROWS = 64  # V4's compressed-cache pages: 256 tokens / 4
ENTRY_SPILL_BYTES = 8  # 4 stored + 4 loaded, see the test
# the fp8 forms with bf16 partials: 3 thread-index values of the epilogue's addresses, hoisted above the math loop,
# go to the stack before the loop and around the register re-allocation and come back once after it (SASS of
# 2026-11-29 under 3.9: 6 STL, 3 LDL.LU, none inside the loop)
EPILOGUE_SPILL_BYTES = 36


def compile_report(block_e: int, ring: int, ws: bool, workdir: str, rows: str = "bf16", seesaw: bool = False) -> dict:
    """Compile one shape of the Gluon kernel (seesaw: sparse_attention_seesaw's) for sm_90 (every pointer and
    stride 16-divisible, as launches are, but 584-byte fp8 row strides) and run ptxas -v on its PTX: registers,
    spilled bytes, shared bytes, and which instructions it has."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.experimental.gluon._runtime import GluonASTSource

    from wholerepo.kernels import sparse_attention_hopper as hopper
    from wholerepo.kernels import sparse_attention_seesaw as seesaw_mod

    kernel = (seesaw_mod._sparse_attn_seesaw_kernel if seesaw else hopper._sparse_attn_ws_kernel if ws
              else hopper._sparse_attn_async_kernel)
    constants = dict(WIN=128, WINDOW=hopper.WINDOW_RING.value, D=512, BLOCK_H=hopper.BLOCK_H, BLOCK_E=block_e, SKIP=0)
    constants["RING" if seesaw else "NUM_BUF"] = ring
    fp8, paged = rows != "bf16", rows == "fp8-pages"
    if ws and not seesaw:  # 584-byte rows: 8-byte copies; pages: 16-byte copies; partials as launches write them
        constants |= dict(FP8=fp8, NOPE=448, ALIGN16=paged, PAGE_ROWS=PAGE_ROWS if paged else 1,
                          BF16_PARTIAL=hopper.BF16_PARTIALS)
    caches = {"win_ptr": "*u8", "comp_ptr": "*u8"} if fp8 else {}
    if seesaw or ws and hopper.BF16_PARTIALS:
        caches["acc_ptr"] = "*bf16"
    sig = {n: "constexpr" if n in constants else caches.get(n) or POINTERS.get(n) or SCALARS.get(n, "i32")
           for n in kernel.arg_names}
    odd = {"stride_wr", "stride_cr"} if fp8 and not paged else set()
    odd.add("zero")  # the seesaw kernel's run-time 0 (not specialized)
    attrs = {(kernel.arg_names.index(n),): [["tt.divisibility", 16]] for n, t in sig.items()
             if t not in ("constexpr", "fp32") and n not in odd}
    options = ({"num_warps": seesaw_mod.MATH_WARPS.value, "maxnreg": seesaw_mod.MAXNREG} if seesaw else
               {"num_warps": hopper.NUM_WARPS, **({"maxnreg": hopper.WS_MAXNREG} if ws else {})})
    compiled = triton.compile(GluonASTSource(kernel, sig, constexprs=constants, attrs=attrs),
                              target=GPUTarget("cuda", 90, 32), options=options)
    ptx = compiled.asm["ptx"]
    src = Path(workdir) / "kernel.ptx"
    src.write_text(ptx)
    out = subprocess.run([get_ptxas(90).path, "-v", "--gpu-name=sm_90a", str(src), "-o", str(src.with_suffix(".o"))],
                         capture_output=True, text=True, check=True)
    log = out.stdout + out.stderr
    return {"registers": int(re.search(r"Used (\d+) registers", log).group(1)),
            "spilled": sum(int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", log)),
            "shared": compiled.metadata.shared, "wgmma": "wgmma.mma_async" in ptx, "setmaxnreg": "setmaxnreg" in ptx}


def _report_in_child(args: str) -> dict:
    """compile_report(args) in a child process without TRITON_INTERPRET (see the module docstring)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    call = (f"import json, runpy; f = runpy.run_path({__file__!r})['compile_report']; "
            f"print(json.dumps(f({args})))")
    run = subprocess.run([sys.executable, "-c", call], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("block_e", "ring", "ws", "rows"), SHAPES,
                         ids=[f"e{e}-ring{r}-ws{int(w)}-{rows}" for e, r, w, rows in SHAPES])
def test_gluon_attention_kernel_compiles_for_hopper_without_spills(block_e, ring, ws, rows, tmp_path):
    """Every ring shape the defaults and the GPU sweep may pick, with bf16 rows and (warp-specialized, 64-entry
    tiles) vLLM's fp8 rows and pages: ptxas reports no spilled bytes, shared memory fits a block, the dots are
    wgmma, and the warp-specialized form moves registers between its partitions (setmaxnreg), as the H200
    timings assume."""
    report = _report_in_child(f"{block_e}, {ring}, {bool(ws)}, {str(tmp_path)!r}, {rows!r}")
    # Triton 3.9 keeps the copier's thread index on the stack across its register release when it makes 16-byte
    # copies (one 4-byte store at the partition's entry, one load after: SASS of 2026-11-29); 3.6, the H200's, does not.
    # With bf16 partials the fp8 forms also park 3 epilogue addresses (EPILOGUE_SPILL_BYTES); never inside the loop.
    from wholerepo.kernels.sparse_attention_hopper import BF16_PARTIALS

    allowed = (ENTRY_SPILL_BYTES if rows == "fp8-pages" else 0) + (EPILOGUE_SPILL_BYTES if ws and rows != "bf16"
                                                                    and BF16_PARTIALS else 0)
    assert report["spilled"] <= allowed, f"ptxas spilled {report['spilled']} bytes ({report['registers']} registers)"
    assert report["shared"] <= SHARED_LIMIT
    assert report["wgmma"]
    assert report["setmaxnreg"] == bool(ws)


@pytest.mark.parametrize(("block_e", "ring"), SEESAW_SHAPES, ids=[f"e{e}-ring{r}" for e, r in SEESAW_SHAPES])
def test_gluon_seesaw_kernel_compiles_for_hopper_without_spills(block_e, ring, tmp_path):
    """The seesaw kernel (sparse_attention_seesaw.py, bf16 rows; two 64-entry slots or four 32-entry ones): no
    spilled bytes (round 7's form spilled 560 bytes and lost to the warp-specialized kernel), shared memory fits a
    block, wgmma dots, and register re-allocation between its three partitions."""
    report = _report_in_child(f"{block_e}, {ring}, True, {str(tmp_path)!r}, 'bf16', True")
    assert report["spilled"] == 0, f"ptxas spilled {report['spilled']} bytes ({report['registers']} registers)"
    assert report["shared"] <= SHARED_LIMIT
    assert report["wgmma"] and report["setmaxnreg"]
