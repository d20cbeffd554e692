#!/usr/bin/env bash
# One GPU session's worth of checks, run ON the lent GPU machine (see DEVELOPERS.md):
#   here:   npx cmake-js rebuild --CDCMAKE_CUDA_ARCHITECTURES=90 && npm run build:ts && bash ../shared/device/prepare.sh
#   device: run(command="bash scripts/gpu-check.sh", carry=[".device"], timeout_s=...)
# Logs go to $OUT (or ./gpu-out): the CUDA tests with DIT_REQUIRE_GPU=1, the same under
# compute-sanitizer memcheck and racecheck, and the bench suite on the GPU (PyTorch side by side).
set -u
out=${OUT:-gpu-out}
mkdir -p "$out"
source .device/activate > "$out/activate.log" 2>&1
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
node dist/lib/cli.js info > "$out/info.txt" 2>&1
export DIT_REQUIRE_GPU=1
timeout 240 node node_modules/ava/entrypoints/cli.mjs --serial test/cuda > "$out/ava-cuda.log" 2>&1; echo "ava exit $?" >> "$out/ava-cuda.log"
tail -5 "$out/ava-cuda.log"
# sanitizers on the op tests only (the model tests are slow under them)
timeout 150 compute-sanitizer --tool memcheck --target-processes all --print-limit 20 \
  node node_modules/ava/entrypoints/cli.mjs --serial test/cuda/ops.test.ts > "$out/memcheck.log" 2>&1; echo "exit $?" >> "$out/memcheck.log"
tail -3 "$out/memcheck.log"
timeout 120 compute-sanitizer --tool racecheck --target-processes all --print-limit 20 \
  node node_modules/ava/entrypoints/cli.mjs --serial test/cuda/ops.test.ts --match '*attention*' --match '*linear*' > "$out/racecheck.log" 2>&1; echo "exit $?" >> "$out/racecheck.log"
tail -3 "$out/racecheck.log"
DIT_TORCH_COMPILE=${DIT_TORCH_COMPILE:-0} DIT_PYTHON=$(command -v python3) timeout 180 node dist/lib/cli.js bench --device cuda --suite all --json "$out/bench-cuda.json" > "$out/bench-cuda.txt" 2>&1
cat "$out/bench-cuda.txt"
