#!/usr/bin/env bash
# Pack DeepSeek's FlashMLA (a checkout's sources plus the CUTLASS headers it builds against) for the H200 device
# machine, where bench/flashmla_compare.py builds it and times it beside this repository's kernels.
#
# Why: FlashMLA's sm90 sparse kernels are what vLLM runs V4's attention with on Hopper, so they are the state of the
# art our Triton kernels answer to. The device machine cannot fetch, and no FlashMLA code may enter this repository:
# DIR must be git-ignored (.flashmla is), and the pack only travels as a carry.
#
# Usage (here):   bench/carry_flashmla.sh FLASHMLA_GIT_DIR CUTLASS_GIT_DIR [DIR]
#                 (bare git directories, as the fetch tool leaves them; CUTLASS at the commit FlashMLA pins)
# Then (device):  run with carry [DIR] and
#   mkdir -p /tmp/fm && tar xJf DIR/flashmla.tar.xz -C /tmp/fm &&
#   (cd /tmp/fm && CPLUS_INCLUDE_PATH=/usr/local/cuda/include/cccl FLASH_MLA_DISABLE_SM100=1 MAX_JOBS=16 \
#      python3 setup.py build_ext --inplace) &&
#   PYTHONPATH=/tmp/fm:$PYTHONPATH python3 bench/flashmla_compare.py --out $OUT
# (sm_90a only, ~2 min on the device's 16 cores; CUDA 13 keeps cuda/std/* under include/cccl, which nvcc adds
# and the g++ that compiles FlashMLA's one host file does not. Round 13, calls 1-2.)
set -euo pipefail
fm=$(realpath "$1")
cutlass=$(realpath "$2")
dest=$(realpath -m "${3:-.flashmla}")
pin=$(git -C "$fm" ls-tree HEAD csrc/cutlass | awk '{print $3}')
[ -n "$pin" ] || { echo "no csrc/cutlass submodule in $fm: is it a FlashMLA checkout?" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$fm" archive HEAD | tar x -C "$work"
rm -rf "$work/csrc/cutlass" && mkdir -p "$work/csrc/cutlass"
git -C "$cutlass" archive "$pin" include tools/util/include | tar x -C "$work/csrc/cutlass"
[ -f "$work/csrc/cutlass/include/cute/tensor.hpp" ] || { echo "no CUTLASS ${pin:0:9} headers in $cutlass" >&2; exit 1; }
echo "FlashMLA $(git -C "$fm" rev-parse --short HEAD), CUTLASS ${pin:0:9}" > "$work/PACKED_FROM"
mkdir -p "$dest"
tar cf - -C "$work" . | xz -T0 -6 > "$dest/flashmla.tar.xz"
size=$(stat -c %s "$dest/flashmla.tar.xz")
echo "$dest/flashmla.tar.xz: $((size / 1048576)) MiB ($(cat "$work/PACKED_FROM"))" >&2
[ "$size" -lt $((60 * 1048576)) ] || { echo "too large for one carry (64 MiB with the working tree)" >&2; exit 1; }
