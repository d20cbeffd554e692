// Stand-in for device.cu in a CPU-only build (no nvcc at build time).
#include "device.h"

namespace dit::cuda {

const CudaInfo& cuda_info() {
  static const CudaInfo info = [] {
    CudaInfo i;
    i.error = "CPU-only binary";
    i.error_message = "this build of dit-native was compiled without CUDA (nvcc was not found at build time)";
    return i;
  }();
  return info;
}

}  // namespace dit::cuda
