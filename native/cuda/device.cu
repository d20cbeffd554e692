// CUDA runtime probe. The runtime is linked statically, so the only thing needed on the user's
// machine is the driver; without one cudaGetDeviceCount returns cudaErrorInsufficientDriver or
// cudaErrorNoDevice and the CPU backend is used.
#include <cuda_runtime.h>

#include <sstream>

#include "device.h"

namespace dit::cuda {

namespace {
CudaInfo probe() {
  CudaInfo info;
  info.compiled = true;
  std::istringstream archs(DIT_CUDA_ARCHS);
  for (std::string a; archs >> a;) info.architectures.push_back(a);
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaDriverGetVersion(&info.driver_version);
  cudaError_t err = cudaGetDeviceCount(&info.device_count);
  if (err != cudaSuccess) {
    info.device_count = 0;
    info.error = cudaGetErrorName(err);
    info.error_message = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later probes start clean
    return info;
  }
  for (int i = 0; i < info.device_count; i++) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.name = prop.name;
    d.major = prop.major;
    d.minor = prop.minor;
    d.total_memory = prop.totalGlobalMem;
    d.multiprocessors = prop.multiProcessorCount;
    d.shared_per_block_optin = int(prop.sharedMemPerBlockOptin);
    d.max_grid_y = prop.maxGridSize[1];
    info.devices.push_back(d);
  }
  return info;
}
}  // namespace

const CudaInfo& cuda_info() {
  static const CudaInfo info = probe();
  return info;
}

}  // namespace dit::cuda
