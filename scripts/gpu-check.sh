#!/usr/bin/env bash
# One GPU session's worth of checks, run ON the lent GPU machine (see DEVELOPERS.md):
#   here:   bash scripts/gpu-prepare.sh   (sm_90 addon + TS + .device pack + the native check binary)
#   device: run(command="bash scripts/gpu-check.sh", carry=[".device"], timeout_s=...)
# Logs go to $OUT (or ./gpu-out); a summary line per step goes to stdout and $OUT/summary.txt.
# Steps run in the order 0 1 4 5 2 3 6 (what a call must not miss first):
#   0. the native check (no Node): every CUDA op vs the CPU op, with the default kernels, the
#      mma.sync ones by name, each fallback and each Hopper kernel by name; then kernel timings
#   1. the CUDA tests with DIT_REQUIRE_GPU=1 (default kernels: on 9.0 the Hopper ones)
#   4. the bench suite on the GPU, PyTorch side by side
#   5. the model bench again (no PyTorch side) with other kernels: by default the mma.sync ones
#      (the default below compute capability 9.0); GPU_CHECK_MODEL_VARIANTS="A|B|..." lists others
#   2. the op tests again on the fallback kernels (WMMA GEMM and attention, im2col conv), with
#      one query tile per warp in the mma attention, and the CUDA tests on each Hopper
#      kernel (wgmma and tma GEMMs, wgmma attention, wgmma conv)
#   3. compute-sanitizer: memcheck and racecheck on the native check, memcheck on each
#      Hopper kernel (native), then memcheck on the op tests and racecheck on the shared-memory
#      kernels through Node
#   6. the model bench with PyTorch's torch.compile beside eager (its compile takes a minute or
#      two of device time, so it comes last)
# A session has 15 device-minutes (the machine's start included) and a call at most 10: the
# default runs steps 0, 1, 4, 5, 3 and 6 (on an H200: steps 0-5 about 4 minutes before the
# eleventh session added the two extra attention schedules' checks, timings, model benches and
# sanitizer runs, perhaps a minute more, and the twelfth the staged TMA GEMM's and the TMA
# convolution's, perhaps 1-2 more; step 6's torch.compile about 1 more; a call's start and
# transfers add about 40 s; give the call timeout_s=560: what a timeout cuts is the last steps,
# sanitizers and torch.compile, and the summary says how far it got). Step 2 repeats through Node what step 0 covers natively, for a second call
# (GPU_CHECK_STEPS="2 3 5"
# GPU_CHECK_MODEL_VARIANTS="DIT_CUDA_GEMM=wgmma|DIT_CUDA_GEMM=tma|DIT_CUDA_ATTENTION=wgmma").
set -u
out=${OUT:-gpu-out}
steps=${GPU_CHECK_STEPS:-"0 1 4 5 3 6"}
# step 5's variants, '|'-separated: by default the mma.sync kernels, against the Hopper defaults
# the wgmma attention's other two schedules and the TMA GEMM's staged epilogue (not the defaults
# until timed: kernel_choice.h)
model_variants=${GPU_CHECK_MODEL_VARIANTS:-"DIT_CUDA_GEMM=mma DIT_CUDA_ATTENTION=mma DIT_CUDA_CONV=mma|DIT_CUDA_ATTENTION=wgmma-pingpong|DIT_CUDA_ATTENTION=wgmma-producer|DIT_CUDA_GEMM=tma-staged"}
mkdir -p "$out"
source .device/activate > "$out/activate.log" 2>&1
summary() { echo "$*" | tee -a "$out/summary.txt"; }
ava=(node node_modules/ava/entrypoints/cli.mjs --serial)  # an array: `timeout` cannot run a function
# counts, then the first failures, short
ava_result() {
  echo "$(grep -E '^ +[0-9]+ (tests? (passed|failed|skipped)|uncaught|unhandled)' "$1" | tr -s ' ' | tr '\n' ' ')" \
    "$(grep -E '✘' "$1" | sort -u | head -3 | cut -c1-120 | tr '\n' '|')"
}
has() { [[ " $steps " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$out/nvidia-smi.txt" 2>&1
summary "gpu: $(tail -1 "$out/nvidia-smi.txt")"
node dist/lib/cli.js info > "$out/info.txt" 2>&1
export DIT_REQUIRE_GPU=1

if has 0 && [ -x .device/dit_cuda_check ]; then
  check=.device/dit_cuda_check
  native() {  # [ops="--only X ..."] native <log> [VAR=value ...]: the check with those switches, one summary line
    local log=$1; shift
    env "$@" timeout 60 $check --no-timing ${ops:-} > "$out/$log" 2>&1
    local rc=$?
    summary "0 native $* (exit $rc): $(grep -E "checks failed|no CUDA device" "$out/$log") $(grep -A1 -E "^FAIL" "$out/$log" | head -4 | tr -s " " | tr '\n' ' ')"
    return $rc
  }
  native native-default.log
  if [ $? -eq 124 ]; then summary "0 the default check hung: the rest of step 0 skipped (see $out/native-default.log)"; steps=${steps/0/}; fi
fi
if has 0 && [ -x .device/dit_cuda_check ]; then
  # a switch's run checks the ops it reaches (ops=...): device time is scarce
  tensor_ops="--only linear --only attention --only onv3d"
  ops=$tensor_ops native native-mma.log DIT_CUDA_GEMM=mma DIT_CUDA_ATTENTION=mma DIT_CUDA_CONV=mma
  ops=$tensor_ops native native-fallbacks.log DIT_CUDA_GEMM=wmma DIT_CUDA_ATTENTION=wmma DIT_CUDA_CONV=im2col
  ops="--only attention" native native-simt.log DIT_CUDA_ATTENTION=simt
  ops="--only attention" native native-mma16.log DIT_CUDA_ATTENTION=mma16
  ops="--only linear" native native-wgmma.log DIT_CUDA_GEMM=wgmma
  ops="--only linear" native native-tma.log DIT_CUDA_GEMM=tma
  ops="--only linear" native native-tma-staged.log DIT_CUDA_GEMM=tma-staged
  ops="--only onv3d" native native-conv-tma.log DIT_CUDA_CONV=tma
  ops="--only attention" native native-attention-wgmma.log DIT_CUDA_ATTENTION=wgmma
  ops="--only attention" native native-attention-wgmma-pingpong.log DIT_CUDA_ATTENTION=wgmma-pingpong
  ops="--only attention" native native-attention-wgmma-producer.log DIT_CUDA_ATTENTION=wgmma-producer
  ops="--only onv3d" native native-conv-wgmma.log DIT_CUDA_CONV=wgmma
  ops="--only linear --only onv3d" native native-tile256.log DIT_CUDA_GEMM_TILE=256
  timeout 120 $check > "$out/native-timing.log" 2>&1
  grep -E "^time" "$out/native-timing.log" | tee -a "$out/summary.txt"
  # each variant's run checks and times its op alone (--only, --time): device time is scarce
  for gemm in mma wgmma tma-staged; do  # the default (TMA on 9.0) is in the timing above
    DIT_CUDA_GEMM=$gemm timeout 60 $check --only linear --time linear > "$out/native-timing-$gemm.log" 2>&1
    grep -E "^time  linear" "$out/native-timing-$gemm.log" | sed "s/^time /time $gemm/" | tee -a "$out/summary.txt"
  done
  for tile in 128 256; do
    DIT_CUDA_GEMM=mma DIT_CUDA_GEMM_TILE=$tile timeout 60 $check --only linear --time linear > "$out/native-timing-tile$tile.log" 2>&1
    grep -E "^time  linear" "$out/native-timing-tile$tile.log" | sed "s/^time /time tile$tile/" | tee -a "$out/summary.txt"
  done
  for attention in mma mma16 wgmma-pingpong wgmma-producer; do
    DIT_CUDA_ATTENTION=$attention timeout 60 $check --only attention --time attention > "$out/native-timing-$attention.log" 2>&1
    grep -E "^time  attention" "$out/native-timing-$attention.log" | sed "s/^time /time $attention/" | tee -a "$out/summary.txt"
  done
  for conv in mma tma; do
    DIT_CUDA_CONV=$conv timeout 60 $check --only onv3d --time causalConv3d > "$out/native-timing-conv-$conv.log" 2>&1
    grep -E "^time  causalConv3d" "$out/native-timing-conv-$conv.log" | sed "s/^time /time $conv/" | tee -a "$out/summary.txt"
  done
fi
if has 1; then
  timeout 200 "${ava[@]}" test/cuda > "$out/ava-cuda.log" 2>&1
  summary "1 cuda tests (exit $?): $(ava_result "$out/ava-cuda.log")"
fi
if has 4; then
  export DIT_TORCH_COMPILE=${DIT_TORCH_COMPILE:-0} DIT_PYTHON=$(command -v python3)
  timeout 200 node dist/lib/cli.js bench --device cuda --suite all --json "$out/bench-cuda.json" > "$out/bench-cuda.txt" 2>&1
  summary "4 bench (exit $?)"
  cat "$out/bench-cuda.txt"
fi
if has 5; then  # the whole model with other kernels (the kernel variants are timed in step 0)
  IFS='|' read -r -a variants <<<"$model_variants"
  for variant in "${variants[@]}"; do
    log="$out/bench-$(echo "$variant" | tr ' =' '_-').txt"
    env DIT_BENCH_TORCH=0 $variant timeout 120 node dist/lib/cli.js bench --device cuda --suite model > "$log" 2>&1
    summary "5 model with $variant: $(grep -E "^ *(dit_forward|measured)" "$log" | tr -s ' ' | tr '\n' ';')"
  done
fi
if has 2; then
  DIT_CUDA_GEMM=wmma DIT_CUDA_ATTENTION=wmma DIT_CUDA_CONV=im2col timeout 90 "${ava[@]}" test/cuda/ops.test.ts > "$out/ava-fallback.log" 2>&1
  summary "2 fallback kernels (exit $?): $(ava_result "$out/ava-fallback.log")"
  DIT_CUDA_ATTENTION=mma16 timeout 60 "${ava[@]}" test/cuda/ops.test.ts --match '*attention*' > "$out/ava-mma16.log" 2>&1
  summary "2 attention one tile per warp (exit $?): $(ava_result "$out/ava-mma16.log")"
  DIT_CUDA_GEMM=wgmma timeout 120 "${ava[@]}" test/cuda > "$out/ava-wgmma.log" 2>&1
  summary "2 wgmma GEMM (by name) (exit $?): $(ava_result "$out/ava-wgmma.log")"
  DIT_CUDA_GEMM=tma timeout 120 "${ava[@]}" test/cuda > "$out/ava-tma.log" 2>&1
  summary "2 tma GEMM (by name) (exit $?): $(ava_result "$out/ava-tma.log")"
  DIT_CUDA_ATTENTION=wgmma timeout 120 "${ava[@]}" test/cuda > "$out/ava-attention-wgmma.log" 2>&1
  summary "2 wgmma attention (by name) (exit $?): $(ava_result "$out/ava-attention-wgmma.log")"
  DIT_CUDA_CONV=wgmma timeout 60 "${ava[@]}" test/cuda/ops.test.ts --match '*onv3d*' > "$out/ava-conv-wgmma.log" 2>&1
  summary "2 wgmma conv (by name) (exit $?): $(ava_result "$out/ava-conv-wgmma.log")"
fi
if has 3; then
  check=.device/dit_cuda_check
  timeout 120 compute-sanitizer --tool memcheck --print-limit 20 $check --no-timing > "$out/native-memcheck.log" 2>&1
  summary "3 native memcheck (exit $?): $(grep -E "ERROR SUMMARY|checks failed" "$out/native-memcheck.log" | tr '\n' ' ')"
  # racecheck is slow: the shared-memory kernels in bf16 (attention, the GEMM rings, conv, LN)
  timeout 120 compute-sanitizer --tool racecheck --print-limit 20 $check --no-timing --only bf16 > "$out/native-racecheck.log" 2>&1
  summary "3 native racecheck (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|checks failed" "$out/native-racecheck.log" | tr '\n' ' ')"
  # the wgmma attention's other schedules: ping-pong's barrier reached from two places, the
  # producer's mbarrier ring
  for schedule in pingpong producer; do
    DIT_CUDA_ATTENTION=wgmma-$schedule timeout 60 compute-sanitizer --tool racecheck --print-limit 20 $check --no-timing --only attention \
      > "$out/native-racecheck-$schedule.log" 2>&1
    summary "3 native racecheck $schedule attention (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|checks failed" "$out/native-racecheck-$schedule.log" | tr '\n' ' ')"
  done
  # the staging tiles of the TMA GEMM's staged epilogue, in the linear layers and the convolution
  DIT_CUDA_GEMM=tma-staged DIT_CUDA_CONV=tma timeout 90 compute-sanitizer --tool racecheck --print-limit 20 $check --no-timing \
    --only linear --only onv3d > "$out/native-racecheck-tma-staged.log" 2>&1
  summary "3 native racecheck tma-staged linear, tma conv (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|checks failed" "$out/native-racecheck-tma-staged.log" | tr '\n' ' ')"
  # the Hopper kernels' memory accesses (TMA boxes, epilogue tails), natively
  for variant in DIT_CUDA_GEMM=wgmma:linear DIT_CUDA_GEMM=tma:linear DIT_CUDA_GEMM=tma-staged:linear DIT_CUDA_ATTENTION=wgmma:attention \
    DIT_CUDA_ATTENTION=wgmma-pingpong:attention DIT_CUDA_ATTENTION=wgmma-producer:attention DIT_CUDA_CONV=wgmma:onv3d \
    DIT_CUDA_CONV=tma:onv3d; do
    setting=${variant%%:*} only_ops=${variant##*:} log="$out/native-memcheck-${setting##*=}-$only_ops.log"
    env "$setting" timeout 60 compute-sanitizer --tool memcheck --print-limit 20 $check --no-timing --only "$only_ops" > "$log" 2>&1
    summary "3 native memcheck $setting $only_ops (exit $?): $(grep -E "ERROR SUMMARY|checks failed" "$log" | tr '\n' ' ')"
  done
  timeout 150 compute-sanitizer --tool memcheck --target-processes all --print-limit 20 \
    node node_modules/ava/entrypoints/cli.mjs --serial test/cuda/ops.test.ts > "$out/memcheck.log" 2>&1
  summary "3 memcheck (exit $?): $(grep -E "ERROR SUMMARY|tests? (passed|failed)" "$out/memcheck.log" | tr '\n' ' ')"
  timeout 120 compute-sanitizer --tool racecheck --target-processes all --print-limit 20 \
    node node_modules/ava/entrypoints/cli.mjs --serial test/cuda/ops.test.ts --match '*attention*' --match '*linear*' \
    --match '*onv3d*' --match '*layerNorm*' > "$out/racecheck.log" 2>&1
  summary "3 racecheck (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|tests? (passed|failed)" "$out/racecheck.log" | tr '\n' ' ')"
fi
if has 6; then
  DIT_TORCH_COMPILE=1 DIT_PYTHON=$(command -v python3) timeout 300 node dist/lib/cli.js bench --device cuda --suite model \
    --json "$out/bench-compile.json" > "$out/bench-compile.txt" 2>&1
  summary "6 model with torch.compile (exit $?): $(grep -E "^ *dit_forward" "$out/bench-compile.txt" | tr -s ' ' | tr '\n' ';')"
  cat "$out/bench-compile.txt"
fi
