#!/usr/bin/env bash
# Everything scripts/gpu-check.sh needs, built here (free) rather than on the GPU machine (device
# time): the addon for sm_90, the TypeScript, the native check binary, all packed into .device/.
# Then: run(command="bash scripts/gpu-check.sh", carry=[".device"], timeout_s=...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/check-wgmma-serialization.sh  # a serialised wgmma kernel is not worth device time
DIT_NVDISASM=$(bash scripts/fetch-nvdisasm.sh) bash scripts/check-sass-schedule.sh  # nor a softmax outside its waits
npx cmake-js rebuild --CDCMAKE_CUDA_ARCHITECTURES=90
npm run build:ts
cmake -S . -B build-check -DDIT_BUILD_CUDA_CHECK=ON -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null
cmake --build build-check --target dit_cuda_check --parallel 2
bash ../shared/device/prepare.sh
cp build-check/dit_cuda_check .device/dit_cuda_check
du -sh .device
