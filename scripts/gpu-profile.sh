#!/usr/bin/env bash
# Where a kernel's time goes, ON the lent GPU machine (after scripts/gpu-prepare.sh here):
#   run(command="bash scripts/gpu-profile.sh", carry=[".device"], timeout_s=...)
# For each "label:kernel-regex:VAR=value" in GPU_PROFILE (';'-separated), ncu profiles the first
# launch of that kernel in the native check's timings (the DiT-XL/2 shapes) with the full section
# set and writes $OUT/<label>.txt (details) and $OUT/<label>-sass.csv (per-instruction stalls);
# with GPU_PROFILE_SASS=1, cuobjdump writes the SASS of every kernel to $OUT/sass.txt.gz. The
# device tool returns at most 8 files a call: tar $OUT's folder when profiling several kernels.
set -u
out=${OUT:-gpu-out}
mkdir -p "$out"
source .device/activate > "$out/activate.log" 2>&1
check=.device/dit_cuda_check
profiles=${GPU_PROFILE:-"tma-qkv:linear_tma:;attention-wgmma:flash_wgmma:"}
IFS=';' read -r -a entries <<<"$profiles"
for entry in "${entries[@]}"; do
  IFS=':' read -r label kernel setting <<<"$entry"
  env $setting timeout 120 ncu --clock-control none --kernel-name "regex:$kernel" --launch-count 1 --set full \
    -o "$out/$label" -f $check --no-checks > "$out/$label-ncu.log" 2>&1
  echo "$label (exit $?)"
  ncu -i "$out/$label.ncu-rep" --page details > "$out/$label.txt" 2>&1
  ncu -i "$out/$label.ncu-rep" --page source --csv --print-source sass > "$out/$label-sass.csv" 2>&1
  grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|Registers Per|Local Memory|Achieved Occupancy" "$out/$label.txt" | head -12
  rm -f "$out/$label.ncu-rep"
done
# the SASS of every kernel (grep it for the one at hand), compressed: about 9 MB, so on request
if [ "${GPU_PROFILE_SASS:-0}" = 1 ]; then cuobjdump --dump-sass $check 2>&1 | gzip > "$out/sass.txt.gz"; fi
