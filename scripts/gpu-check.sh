#!/usr/bin/env bash
# One GPU session's worth of checks, run ON the lent GPU machine (see DEVELOPERS.md):
#   here:   bash scripts/gpu-prepare.sh   (sm_90 addon + TS + .device pack + the native check binary)
#   device: run(command="bash scripts/gpu-check.sh", carry=[".device"], timeout_s=...)
# What comes back in $OUT (or ./gpu-out): summary.txt (a line per check, also on stdout), the
# benches' tables and JSON (bench-cuda.*, bench-compile.*) and every log in logs.tar.gz;
# `node scripts/bench-table.js $OUT/bench-cuda.json` turns step 4's record into BENCHMARKS.md tables.
# Steps run in the order 0 1 4 5 2 3 6 (what a call must not miss first):
#   0. the native check (no Node): every CUDA op vs the CPU op with the default kernels and each
#      fallback; then each variant of the GEMM, the attention and the convolution checked and timed
#      on its own, and the fastest that passed exported for the steps after (GPU_CHECK_CHOOSE=0:
#      the compiled defaults), so that step 4's bench already runs the kernels to make the defaults
#   1. the CUDA tests with DIT_REQUIRE_GPU=1, on the kernels step 0 chose
#   4. the bench suite on the GPU, PyTorch side by side, on the kernels step 0 chose, and the
#      forward op by op (--breakdown)
#   5. the model bench again (no PyTorch side) with other kernels: the compiled defaults, the
#      mma.sync ones (the default below compute capability 9.0), the other attention schedules;
#      GPU_CHECK_MODEL_VARIANTS="A|B|..." lists others
#   2. the op tests again on the fallback kernels (WMMA GEMM and attention, im2col conv), with
#      one query tile per warp in the mma attention, and the CUDA tests on each Hopper
#      kernel (wgmma and tma GEMMs, wgmma attention, wgmma conv)
#   3. compute-sanitizer: memcheck and racecheck on the native check, memcheck on each
#      Hopper kernel (native), then memcheck on the op tests and racecheck on the shared-memory
#      kernels through Node
#   6. the model bench with PyTorch's torch.compile beside eager (its compile takes a minute or
#      two of device time, so it comes last)
# A session has 15 device-minutes (the machine's start included) and a call at most 10: the
# default runs steps 0, 1, 4, 5, 3 and 6 (tenth session, H200: steps 0-5 about 4 minutes; the
# eleventh and twelfth sessions added variants, perhaps 2-3 minutes more; step 6's torch.compile
# about 1 more; a call's start and transfers about 40 s). Give the call timeout_s=560: what a
# timeout cuts is the last steps (sanitizers, torch.compile), and the summary says how far it got.
# Step 2 repeats through Node what step 0 covers natively, for a second call (GPU_CHECK_STEPS="2 3").
set -u
out=${OUT:-gpu-out}
# At most 8 files come back from $OUT: the logs go to $logs and travel as one tarball, packed
# again after every step (so a call cut short by its limit still brings back what it has), beside
# the summary and the benches' tables and JSON.
logs=${GPU_CHECK_LOGS:-$(mktemp -d)/gpu-check-logs}
steps=${GPU_CHECK_STEPS:-"0 1 4 5 3 6"}
# step 5's variants, '|'-separated, each over step 0's choice: the compiled defaults, the mma.sync
# kernels (the default below compute capability 9.0), the wgmma attention's other two schedules
model_variants=${GPU_CHECK_MODEL_VARIANTS:-"defaults|DIT_CUDA_GEMM=mma DIT_CUDA_ATTENTION=mma DIT_CUDA_CONV=mma|DIT_CUDA_ATTENTION=wgmma-pingpong|DIT_CUDA_ATTENTION=wgmma-producer"}
mkdir -p "$out" "$logs"
# (written aside and renamed: a call killed mid-pack keeps the previous tarball whole)
pack() { tar -czf "$out/logs.tar.gz.part" -C "$(dirname "$logs")" "$(basename "$logs")" 2>/dev/null && mv -f "$out/logs.tar.gz.part" "$out/logs.tar.gz"; }
trap pack EXIT
trap 'exit 143' TERM INT  # (so that a TERM from the call's limit still packs, through the EXIT trap)
source .device/activate > "$logs/activate.log" 2>&1
summary() { echo "$*" | tee -a "$out/summary.txt"; pack; }  # (the logs packed at every summary line)
ava=(node node_modules/ava/entrypoints/cli.mjs --serial)  # an array: `timeout` cannot run a function
# counts, then the first failures, short
ava_result() {
  echo "$(grep -E '^ +[0-9]+ (tests? (passed|failed|skipped)|uncaught|unhandled)' "$1" | tr -s ' ' | tr '\n' ' ')" \
    "$(grep -E '✘' "$1" | sort -u | head -3 | cut -c1-120 | tr '\n' '|')"
}
has() { [[ " $steps " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$logs/nvidia-smi.txt" 2>&1
summary "gpu: $(tail -1 "$logs/nvidia-smi.txt")"
node dist/lib/cli.js info > "$logs/info.txt" 2>&1
export DIT_REQUIRE_GPU=1

if has 0 && [ -x .device/dit_cuda_check ]; then
  check=.device/dit_cuda_check
  # a native check log in one line: its count of failures, then the first failures
  check_result() { echo "$(grep -E "checks failed|no CUDA device" "$1") $(grep -A1 -E "^FAIL" "$1" | head -4 | tr -s " " | tr '\n' ' ')"; }
  native() {  # [ops="--only X ..."] native <log> [VAR=value ...]: the check with those switches, one summary line
    local log=$1; shift
    env "$@" timeout -k 10 60 $check --no-timing ${ops:-} > "$logs/$log" 2>&1
    local rc=$?
    summary "0 native $* (exit $rc): $(check_result "$logs/$log")"
    return $rc
  }
  native native-default.log
  rc=$?
  # a hang: each variant's run below has its own timeout, and one that hangs is not chosen
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then summary "0 the default check hung (native-default.log): the variants' runs tell which kernel"; fi
fi
# The fastest passing variant of each tensor-core op, from step 0's timings (GPU_CHECK_CHOOSE=0: the
# compiled defaults), is exported for the later steps: one call's bench (step 4) then already runs,
# beside PyTorch, the kernels that are to become the defaults (kernel_choice.h). Step 5's
# "defaults" variant times the compiled defaults' forward in the same call.
chosen=""
if has 0 && [ -x .device/dit_cuda_check ]; then
  # the switches not timed: their check alone, on the ops each reaches (device time is scarce)
  ops="--only linear --only attention --only onv3d" native native-fallbacks.log DIT_CUDA_GEMM=wmma DIT_CUDA_ATTENTION=wmma DIT_CUDA_CONV=im2col
  ops="--only attention" native native-simt.log DIT_CUDA_ATTENTION=simt
  ops="--only linear --only onv3d" native native-tile256.log DIT_CUDA_GEMM_TILE=256 DIT_CUDA_GEMM=mma
  # the ops with no variants, on the default kernels (checked above)
  timeout -k 10 60 $check --no-checks --time adaLN --time layerNorm --time patchEmbed > "$logs/native-timing.log" 2>&1
  summary "0 timings of the ops without variants (exit $?)"
  grep -E "^time" "$logs/native-timing.log" | tee -a "$out/summary.txt"
  # each candidate (the current default first: it wins a tie): one run checks its op and times it
  # (the attention in both layouts, the bench's contiguous one and the model's qkv rows);
  # the fastest that passed is chosen. GEMM: the sum of the four as the model runs them
  timed_variant() {  # timed_variant <switch> <value> <--only text> <timings summed (regex)> <--time text>...
    local switch=$1 value=$2 only_op=$3 summed=$4; shift 4
    local log="$logs/native-$switch-$value.log" filters=()
    for text in "$@"; do filters+=(--time "$text"); done
    env "$switch=$value" timeout -k 10 60 $check --only "$only_op" "${filters[@]}" > "$log" 2>&1
    local rc=$?
    local ms=$(awk -v summed="^time  ($summed)" '$0 ~ summed {sum += $(NF-3)} END {if (sum) printf "%.4f", sum}' "$log")
    summary "0 native $switch=$value (exit $rc): $(check_result "$log") time ${ms:-none} ms"
    grep -E "^time" "$log" | sed "s/^time /time $value/" | tee -a "$out/summary.txt"
    # a candidate: exit 0, at least one check run and passed, and its timings
    if [ $rc -eq 0 ] && grep -qE "^0 of [1-9][0-9]* checks failed" "$log" && [ -n "$ms" ]; then echo "$ms $value" >> "$logs/candidates-$switch.txt"; fi
  }
  rm -f "$logs"/candidates-*.txt
  for gemm in tma tma-staged wgmma mma; do timed_variant DIT_CUDA_GEMM $gemm linear "linear (qkv|proj gated|fc1|fc2 gated)" "linear qkv" gated fc1; done
  for attention in wgmma wgmma-pingpong wgmma-producer wgmma-producer-alternating mma mma16; do timed_variant DIT_CUDA_ATTENTION $attention attention attention attention; done
  for conv in wgmma tma mma; do timed_variant DIT_CUDA_CONV $conv onv3d causalConv3d causalConv3d; done
  if [ "${GPU_CHECK_CHOOSE:-1}" = 1 ]; then
    for switch in DIT_CUDA_GEMM DIT_CUDA_ATTENTION DIT_CUDA_CONV; do
      best=$(sort -g -s -k1,1 "$logs/candidates-$switch.txt" 2>/dev/null | head -1 | cut -d' ' -f2)
      if [ -n "$best" ]; then export "$switch=$best"; chosen="$chosen $switch=$best"; fi
    done
  fi
  summary "0 chosen for the later steps:${chosen:- the compiled defaults}"
fi
if has 1; then
  timeout -k 10 200 "${ava[@]}" test/cuda > "$logs/ava-cuda.log" 2>&1
  summary "1 cuda tests (exit $?): $(ava_result "$logs/ava-cuda.log")"
fi
if has 4; then
  export DIT_TORCH_COMPILE=${DIT_TORCH_COMPILE:-0} DIT_PYTHON=$(command -v python3)
  timeout -k 10 200 node dist/lib/cli.js bench --device cuda --suite all --breakdown --json "$out/bench-cuda.json" > "$out/bench-cuda.txt" 2>&1
  summary "4 bench (exit $?) with:${chosen:- the compiled defaults}"
  cat "$out/bench-cuda.txt"
fi
if has 5; then  # the whole model with other kernels (the kernel variants are timed in step 0)
  IFS='|' read -r -a variants <<<"$model_variants"
  for variant in "${variants[@]}"; do
    log="$logs/bench-$(echo "$variant" | tr ' =' '_-').txt"
    # "defaults": the compiled defaults, whatever step 0 chose
    if [ "$variant" = defaults ]; then settings="-u DIT_CUDA_GEMM -u DIT_CUDA_ATTENTION -u DIT_CUDA_CONV"; else settings=$variant; fi
    env $settings DIT_BENCH_TORCH=0 timeout -k 10 120 node dist/lib/cli.js bench --device cuda --suite model > "$log" 2>&1
    summary "5 model with $variant (exit $?): $(grep -E "^ *(dit_forward|measured)" "$log" | tr -s ' ' | tr '\n' ';')"
  done
fi
if has 2; then
  DIT_CUDA_GEMM=wmma DIT_CUDA_ATTENTION=wmma DIT_CUDA_CONV=im2col timeout -k 10 90 "${ava[@]}" test/cuda/ops.test.ts > "$logs/ava-fallback.log" 2>&1
  summary "2 fallback kernels (exit $?): $(ava_result "$logs/ava-fallback.log")"
  DIT_CUDA_ATTENTION=mma16 timeout -k 10 60 "${ava[@]}" test/cuda/ops.test.ts --match '*attention*' > "$logs/ava-mma16.log" 2>&1
  summary "2 attention one tile per warp (exit $?): $(ava_result "$logs/ava-mma16.log")"
  DIT_CUDA_GEMM=wgmma timeout -k 10 120 "${ava[@]}" test/cuda > "$logs/ava-wgmma.log" 2>&1
  summary "2 wgmma GEMM (by name) (exit $?): $(ava_result "$logs/ava-wgmma.log")"
  DIT_CUDA_GEMM=tma timeout -k 10 120 "${ava[@]}" test/cuda > "$logs/ava-tma.log" 2>&1
  summary "2 tma GEMM (by name) (exit $?): $(ava_result "$logs/ava-tma.log")"
  DIT_CUDA_ATTENTION=wgmma timeout -k 10 120 "${ava[@]}" test/cuda > "$logs/ava-attention-wgmma.log" 2>&1
  summary "2 wgmma attention (by name) (exit $?): $(ava_result "$logs/ava-attention-wgmma.log")"
  DIT_CUDA_CONV=wgmma timeout -k 10 60 "${ava[@]}" test/cuda/ops.test.ts --match '*onv3d*' > "$logs/ava-conv-wgmma.log" 2>&1
  summary "2 wgmma conv (by name) (exit $?): $(ava_result "$logs/ava-conv-wgmma.log")"
fi
if has 3; then
  check=.device/dit_cuda_check
  timeout -k 10 120 compute-sanitizer --tool memcheck --print-limit 20 $check --no-timing > "$logs/native-memcheck.log" 2>&1
  summary "3 native memcheck (exit $?): $(grep -E "ERROR SUMMARY|checks failed" "$logs/native-memcheck.log" | tr '\n' ' ')"
  # racecheck is slow: the shared-memory kernels in bf16 (attention, the GEMM rings, conv, LN)
  timeout -k 10 120 compute-sanitizer --tool racecheck --print-limit 20 $check --no-timing --only bf16 > "$logs/native-racecheck.log" 2>&1
  summary "3 native racecheck (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|checks failed" "$logs/native-racecheck.log" | tr '\n' ' ')"
  # the wgmma attention's other schedules: ping-pong's barrier reached from two places, the
  # producer's mbarrier ring
  for schedule in pingpong producer producer-alternating; do
    DIT_CUDA_ATTENTION=wgmma-$schedule timeout -k 10 60 compute-sanitizer --tool racecheck --print-limit 20 $check --no-timing --only attention \
      > "$logs/native-racecheck-$schedule.log" 2>&1
    summary "3 native racecheck $schedule attention (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|checks failed" "$logs/native-racecheck-$schedule.log" | tr '\n' ' ')"
  done
  # the staging tiles of the TMA GEMM's staged epilogue, in the linear layers and the convolution
  DIT_CUDA_GEMM=tma-staged DIT_CUDA_CONV=tma timeout -k 10 90 compute-sanitizer --tool racecheck --print-limit 20 $check --no-timing \
    --only linear --only onv3d > "$logs/native-racecheck-tma-staged.log" 2>&1
  summary "3 native racecheck tma-staged linear, tma conv (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|checks failed" "$logs/native-racecheck-tma-staged.log" | tr '\n' ' ')"
  # the Hopper kernels' memory accesses (TMA boxes, epilogue tails), natively
  for variant in DIT_CUDA_GEMM=wgmma:linear DIT_CUDA_GEMM=tma:linear DIT_CUDA_GEMM=tma-staged:linear DIT_CUDA_ATTENTION=wgmma:attention \
    DIT_CUDA_ATTENTION=wgmma-pingpong:attention DIT_CUDA_ATTENTION=wgmma-producer:attention \
    DIT_CUDA_ATTENTION=wgmma-producer-alternating:attention DIT_CUDA_CONV=wgmma:onv3d \
    DIT_CUDA_CONV=tma:onv3d; do
    setting=${variant%%:*} only_ops=${variant##*:} log="$logs/native-memcheck-${setting##*=}-$only_ops.log"
    env "$setting" timeout -k 10 60 compute-sanitizer --tool memcheck --print-limit 20 $check --no-timing --only "$only_ops" > "$log" 2>&1
    summary "3 native memcheck $setting $only_ops (exit $?): $(grep -E "ERROR SUMMARY|checks failed" "$log" | tr '\n' ' ')"
  done
  timeout -k 10 150 compute-sanitizer --tool memcheck --target-processes all --print-limit 20 \
    node node_modules/ava/entrypoints/cli.mjs --serial test/cuda/ops.test.ts > "$logs/memcheck.log" 2>&1
  summary "3 memcheck (exit $?): $(grep -E "ERROR SUMMARY|tests? (passed|failed)" "$logs/memcheck.log" | tr '\n' ' ')"
  timeout -k 10 120 compute-sanitizer --tool racecheck --target-processes all --print-limit 20 \
    node node_modules/ava/entrypoints/cli.mjs --serial test/cuda/ops.test.ts --match '*attention*' --match '*linear*' \
    --match '*onv3d*' --match '*layerNorm*' > "$logs/racecheck.log" 2>&1
  summary "3 racecheck (exit $?): $(grep -E "RACECHECK SUMMARY|ERROR SUMMARY|tests? (passed|failed)" "$logs/racecheck.log" | tr '\n' ' ')"
fi
if has 6; then
  DIT_TORCH_COMPILE=1 DIT_PYTHON=$(command -v python3) timeout -k 10 300 node dist/lib/cli.js bench --device cuda --suite model \
    --json "$out/bench-compile.json" > "$out/bench-compile.txt" 2>&1
  summary "6 model with torch.compile (exit $?): $(grep -E "^ *dit_forward" "$out/bench-compile.txt" | tr -s ' ' | tr '\n' ';')"
  cat "$out/bench-compile.txt"
fi
