#!/usr/bin/env bash
# The ava CUDA tests (test/cuda/) on the CUDA emulator, where there is no GPU: builds the addon
# with its CUDA backend on the emulator (native/test/cuda_emu; build-emu/, never shipped) and runs
# the tests with DIT_REQUIRE_GPU=1, so none is skipped, then the PyTorch fixtures and the
# convolutions through other kernels (the Hopper ones are the emulated device's default).
# The emulator checks the kernels' logic and the TypeScript and N-API paths of device 'cuda';
# speed, asynchrony and hardware behaviour need a real GPU (scripts/gpu-check.sh).
# Prints "emulated CUDA tests: N passed, N failed".
#   bash scripts/emu-test.sh [ava arguments, e.g. --match '*attention*']
set -uo pipefail
cd "$(dirname "$0")/.."

if ! npx cmake-js build --out build-emu --CDDIT_CUDA=OFF --CDDIT_CUDA_EMULATOR=ON > build-emu.log 2>&1; then
  tail -20 build-emu.log
  echo "emulated CUDA tests: 0 passed, 1 failed (the emulator build failed; see build-emu.log)"
  exit 1
fi
log=$(mktemp)
export DIT_NATIVE_BINARY=build-emu/Release/dit_native.node DIT_REQUIRE_GPU=1
npx ava test/cuda/*.test.ts "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# the emulated device is compute capability 9.0, so the run above took the Hopper kernels (the
# default there): the PyTorch fixtures again through the mma.sync kernels (the default below 9.0)
# and through the TMA GEMM's staged epilogue (named until timed), and the convolution tests
# through the mma.sync and the TMA convolutions
if [ $# -eq 0 ]; then
  for kernels in "DIT_CUDA_GEMM=mma DIT_CUDA_ATTENTION=mma" "DIT_CUDA_GEMM=tma-staged"; do
    env $kernels npx ava test/cuda/model.test.ts --match '*matches PyTorch*' 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  done
  for conv in mma tma; do
    DIT_CUDA_CONV=$conv npx ava test/cuda/ops.test.ts --match '*onv3d*' 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  done
fi
passed=$(awk '/^ +[0-9]+ tests? passed/ { p += $1 } END { print p + 0 }' "$log")
failed=$(awk '/^ +[0-9]+ tests? failed/ { f += $1 } /^ +[0-9]+ (uncaught exceptions?|unhandled rejections?)/ { f += $1 } END { print f + 0 }' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "emulated CUDA tests: ${passed:-0} passed, ${failed} failed"
exit "$status"
