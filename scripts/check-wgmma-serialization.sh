#!/usr/bin/env bash
# The Hopper kernels compile without ptxas serialising their wgmma: when ptxas cannot prove that
# no ordinary instruction touches a wgmma's registers while it is in flight (a conditional wait,
# a register reused too early), it makes every wgmma of the kernel wait for the previous one and
# says so only as an "info" line (C7510-C7520, "wgmma.mma_async instructions are serialized"):
# the build passes and the kernel silently loses its overlap. No GPU needed; nvcc only.
#   bash scripts/check-wgmma-serialization.sh        (exit 1 and the lines when any kernel is)
set -uo pipefail
cd "$(dirname "$0")/.."
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
[ -x "$nvcc" ] || { echo "wgmma serialisation: no nvcc, not checked"; exit 0; }
sources=$(grep -l "DIT_WGMMA_AVAILABLE" native/cuda/*.cu)  # the kernels built for sm_90a
dir=$(mktemp -d)
for source in $sources; do
  ( "$nvcc" -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Xptxas -v -c "$source" -o "$dir/$(basename "$source").o" \
      > "$dir/$(basename "$source").log" 2>&1 || echo "compile failed" >> "$dir/$(basename "$source").log" ) &
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 1; done
done
wait
status=0
for source in $sources; do
  log="$dir/$(basename "$source").log"
  if grep -qE "serialized|compile failed" "$log"; then
    status=1
    echo "$source:"; grep -E "serialized|error|compile failed" "$log" | cut -c1-200 | sort -u | head -5
  fi
done
rm -rf "$dir"
[ $status -eq 0 ] && echo "wgmma serialisation: none in $(echo $sources | wc -w) Hopper sources"
exit $status
