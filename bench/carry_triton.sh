#!/usr/bin/env bash
# Pack a Triton release for the H200 device machine, small enough for the device tool's 64 MiB carry.
#
# Why: the device image has Triton 3.6; this repository pins and CI-compiles with a newer one (3.9), whose GPU
# behaviour only a run there shows (round 12: every gpu-marked kernel test passed under both). The 286 MB wheel
# packs to ~35-50 MB without the AMD backend, CUPTI, proton, the bundled ptxas builds (sm_90 compiles with the
# image's CUDA ptxas instead) and libtriton's debug symbols.
#
# Usage (here):   bench/carry_triton.sh [VERSION] [DIR]      (default 3.9.0, .t39; DIR must be git-ignored)
# Then (device):  run with carry [DIR], and start the command with
#   mkdir -p /tmp/t39 && tar xJf DIR/triton.tar.xz -C /tmp/t39 &&
#   export PYTHONPATH=/tmp/t39:$PYTHONPATH TRITON_PTXAS_BLACKWELL_PATH=/usr/local/cuda/bin/ptxas
set -euo pipefail
version=${1:-3.9.0}
dest=$(realpath -m "${2:-.t39}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  -d "$work" "triton==$version"
unzip -q "$work"/triton-*.whl -d "$work/pkg"
cd "$work/pkg"
rm -rf triton/backends/amd triton/backends/nvidia/lib/cupti* triton/backends/nvidia/bin \
  triton/_C/libproton.so triton/instrumentation triton/plugins triton/FileCheck
sed -i '/= triton.backends.amd/d' triton-*.dist-info/entry_points.txt  # backend discovery imports each entry
strip --strip-unneeded triton/_C/libtriton.so
mkdir -p "$dest"
tar cf - triton triton-*.dist-info | xz -T0 -7 > "$dest/triton.tar.xz"
size=$(stat -c %s "$dest/triton.tar.xz")
echo "$dest/triton.tar.xz: $((size / 1048576)) MiB (triton $version)" >&2
[ "$size" -lt $((60 * 1048576)) ] || { echo "too large for one carry (64 MiB with the working tree)" >&2; exit 1; }
