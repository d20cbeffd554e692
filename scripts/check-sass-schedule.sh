#!/usr/bin/env bash
# The wgmma attention's softmax runs while P V is on the tensor cores: in the SASS of every
# flash_wgmma_kernel, the main loop's softmax (its MUFU.EX2) sits between the wait for S
# (WARPGROUP.DEPBAR.LE gsb0, 0x1) and the wait for P V (... gsb0, 0x0). ptxas schedules waits and
# barriers as early as their operands allow and once hoisted both waits and the tile's barrier
# above the whole softmax, silently (ARCHITECTURE.md, wgmma::schedule_after). No GPU needed.
# Needs nvdisasm: CUDA's own (the GPU machine has it), or any older one given as DIT_NVDISASM
# (e.g. Debian's nvidia-cuda-toolkit 11.8, whose nvdisasm reads nvcc 13's cubins once their ELF
# header is given the old architecture encoding, which this script does).
#   bash scripts/check-sass-schedule.sh        (exit 1 and the kernels when a softmax is outside)
set -uo pipefail
cd "$(dirname "$0")/.."
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
nvdisasm=${DIT_NVDISASM:-$(command -v nvdisasm || echo "$(dirname "$(readlink -f "$nvcc")")/nvdisasm")}
[ -x "$nvcc" ] && [ -x "$nvdisasm" ] || { echo "sass schedule: no nvcc or nvdisasm, not checked"; exit 0; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$nvcc" -O3 -DNDEBUG -std=c++17 -gencode=arch=compute_90a,code=sm_90a -cubin -o "$dir/attention.cubin" native/cuda/attention_wgmma.cu ||
  { echo "sass schedule: compile failed"; exit 1; }
if ! "$nvdisasm" "$dir/attention.cubin" > "$dir/attention.sass" 2> "$dir/err.txt"; then
  # an nvdisasm older than CUDA 12.8 reads only the old e_flags encoding (sm in the low byte, and
  # again at bits 16-23, 0x500 for 64-bit addresses) and ELF ABI version 7
  python3 -c '
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
sm = (struct.unpack_from("<I", d, 48)[0] >> 8) & 0xFF
struct.pack_into("<I", d, 48, sm | 0x500 | sm << 16); d[8] = 7
open(sys.argv[1], "wb").write(d)' "$dir/attention.cubin" &&
    "$nvdisasm" "$dir/attention.cubin" > "$dir/attention.sass" 2> "$dir/err.txt" ||
    { echo "sass schedule: nvdisasm could not read the cubin: $(head -1 "$dir/err.txt")"; exit 1; }
fi
# per kernel: the MUFU.EX2 count between the first wait for S in its loop and the next wait for P V
awk '
  /^\/\/-+ \.text\./ { if (name != "") report(); name = ($0 ~ /flash_wgmma_kernel/) ? $0 : ""; state = 0; ex2 = 0; next }
  name == "" { next }
  state == 0 && /WARPGROUP.DEPBAR.LE gsb0, 0x1/ { state = 1; next }
  state == 1 && /MUFU.EX2/ { ex2++ }
  state == 1 && /WARPGROUP.DEPBAR.LE gsb0, 0x0/ { state = 2 }
  function report() {
    sub(/.*flash_wgmma_kernel/, "flash_wgmma_kernel", name); sub(/ -+$/, "", name)
    kernels++
    if (state != 2 || ex2 < 32) { bad++; print "softmax not between the waits (" ex2 " MUFU.EX2): " name }
  }
  END {
    if (name != "") report()
    if (kernels == 0) { print "sass schedule: no flash_wgmma_kernel found"; exit 1 }
    if (bad) exit 1
    print "sass schedule: the softmax overlaps P V in all " kernels " wgmma attention kernels"
  }' "$dir/attention.sass"
