// What the CUDA runtime says about this machine. Built from device.cu when nvcc was found, else
// from device_none.cpp, so the glue never needs #ifdefs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dit::cuda {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  uint64_t total_memory = 0;
  int multiprocessors = 0;
  int shared_per_block_optin = 0;  // bytes of dynamic shared memory a block may opt in to
  int max_grid_y = 65535;          // blocks a launch may have on grid y (and z)
};

struct CudaInfo {
  bool compiled = false;      // this binary contains CUDA kernels
  int device_count = 0;
  std::string error;          // CUDA error name when the runtime could not be used ("" if fine)
  std::string error_message;
  int driver_version = 0, runtime_version = 0;
  std::vector<DeviceInfo> devices;
  std::vector<std::string> architectures;  // compiled SASS/PTX targets
};

// Asks the runtime once and caches the answer (a probe that fails is not retried).
const CudaInfo& cuda_info();

}  // namespace dit::cuda
