#!/usr/bin/env bash
# scripts/gpu-check.sh without a GPU: its steps run against stand-ins (a native check that prints
# made-up timings, one variant failing its checks; node, compute-sanitizer and nvidia-smi that
# echo what they were given), so a shell mistake shows here rather than in a GPU session's
# scarce minutes. Checks that every step ran, that step 0 chose the fastest variant that passed
# (the first listed on a tie), and what the later steps ran under. CI runs it (.ci/run).
#   bash scripts/gpu-check-dry-run.sh      (prints "gpu-check dry run: ok" or what is wrong; exit 1)
set -uo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/scripts" "$dir/.device" "$dir/bin"
cp scripts/gpu-check.sh "$dir/scripts/"
echo "export PATH=$dir/bin:\$PATH" > "$dir/.device/activate"

# the native check: attention's wgmma-pingpong the fastest that passed; wgmma-producer faster but
# failing a check (after printing timings), wgmma-producer-alternating faster still but having
# run no check; tma-staged the fastest GEMM; the convolutions all equal
cat > "$dir/.device/dit_cuda_check" <<'EOF'
#!/usr/bin/env bash
echo "DIT_CUDA_GEMM=${DIT_CUDA_GEMM:-} DIT_CUDA_ATTENTION=${DIT_CUDA_ATTENTION:-} DIT_CUDA_CONV=${DIT_CUDA_CONV:-}"
case "${DIT_CUDA_ATTENTION:-}" in
  wgmma-producer) printf 'FAIL  attention B2 d72 f16  rel L2 nan\n1 of 9 checks failed\n'; status=1 ;;
  wgmma-producer-alternating) echo "0 of 0 checks failed"; status=0 ;;
  *) echo "0 of 9 checks failed"; status=0 ;;
esac
case "$*" in *--time*) ;; *) exit $status ;; esac
case "${DIT_CUDA_ATTENTION:-}" in wgmma-pingpong) a=0.4400 ;; wgmma-producer) a=0.3000 ;; wgmma-producer-alternating) a=0.2000 ;; mma) a=0.9000 ;; *) a=0.6600 ;; esac
[ "${DIT_CUDA_GEMM:-}" = tma-staged ] && g=0.1000 || g=0.1300
for line in "linear qkv M8192 N3456 K1152|0.1400" "linear proj gated M8192 N1152 K1152|0.0500" "linear fc1+gelu M8192 N4608 K1152|0.2000" \
  "linear fc2 gated M8192 N1152 K4608|$g" "attention B2 H16 N4096 d72|$a" "causalConv3d 128->128 k3 9x128x128|0.5000"; do
  printf 'time  %-40s %9s ms  %7.1f TFLOP/s\n' "${line%|*}" "${line#*|}" 500
done
exit $status
EOF
cat > "$dir/bin/node" <<'EOF'
#!/usr/bin/env bash
echo "node $* | DIT_CUDA_GEMM=${DIT_CUDA_GEMM:-unset} DIT_CUDA_ATTENTION=${DIT_CUDA_ATTENTION:-unset} DIT_CUDA_CONV=${DIT_CUDA_CONV:-unset}"
printf '  dit_forward  DiT-XL/2  30.000\n  3 tests passed\n'
EOF
printf '#!/usr/bin/env bash\necho "ERROR SUMMARY: 0 errors"\necho "RACECHECK SUMMARY: 0 hazards displayed"\n' > "$dir/bin/compute-sanitizer"
printf '#!/usr/bin/env bash\necho "name, driver_version"\necho "Stand-in GPU, 0"\n' > "$dir/bin/nvidia-smi"
chmod +x "$dir/.device/dit_cuda_check" "$dir/bin/"*

(cd "$dir" && OUT="$dir/out" GPU_CHECK_LOGS="$dir/logs" GPU_CHECK_STEPS="0 1 4 5 2 3 6" bash scripts/gpu-check.sh > "$dir/stdout" 2> "$dir/stderr")
rc=$?
problems=()
[ $rc -eq 0 ] || problems+=("exit $rc")
errors="command not found|syntax error|unbound variable|No such file|invalid option"
grep -qE "$errors" "$dir/stderr" "$dir/stdout" "$dir/out"/*.txt "$dir/logs"/* 2>/dev/null &&
  problems+=("shell errors: $(grep -hE "$errors" "$dir/stderr" "$dir/stdout" "$dir/out"/*.txt "$dir/logs"/* | head -3 | tr '\n' ' ')")
# what the device tool brings back: at most 8 plain files in $OUT, the logs among them
[ "$(find "$dir/out" -type f | wc -l)" -le 8 ] || problems+=("more than 8 files in \$OUT: $(ls "$dir/out" | tr '\n' ' ')")
tar -tzf "$dir/out/logs.tar.gz" > "$dir/listing" 2>&1  # (not piped into grep -q: pipefail)
grep -q "/native-default.log$" "$dir/listing" || problems+=("no native-default.log in \$OUT/logs.tar.gz")
summary="$dir/out/summary.txt"
expect() { grep -qF -- "$1" "$summary" || problems+=("no \"$1\" in the summary"); }
expect "0 chosen for the later steps: DIT_CUDA_GEMM=tma-staged DIT_CUDA_ATTENTION=wgmma-pingpong DIT_CUDA_CONV=wgmma"
expect "0 native DIT_CUDA_ATTENTION=wgmma-producer (exit 1)"
expect "4 bench (exit 0) with: DIT_CUDA_GEMM=tma-staged"
for step in "1 cuda tests" "5 model with defaults" "2 fallback kernels" "3 native memcheck" "3 racecheck" "6 model with torch.compile"; do expect "$step"; done
grep -qF "DIT_CUDA_ATTENTION=wgmma-pingpong" "$dir/out/bench-cuda.txt" || problems+=("step 4 did not run the chosen attention")
grep -qF "DIT_CUDA_GEMM=unset DIT_CUDA_ATTENTION=unset DIT_CUDA_CONV=unset" "$dir/logs/bench-defaults.txt" ||
  problems+=("step 5's defaults ran with switches set: $(head -1 "$dir/logs/bench-defaults.txt")")
if [ ${#problems[@]} -eq 0 ]; then
  echo "gpu-check dry run: ok"
else
  echo "gpu-check dry run: FAILED"
  printf '  %s\n' "${problems[@]}"
  exit 1
fi
