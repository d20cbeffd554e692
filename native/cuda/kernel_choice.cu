// The kernel switches of kernel_choice.h, parsed once per process.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernel_choice.h"

namespace dit::cuda {

namespace {

// The value of `variable` among `names` (the enum's order, names[0] = "auto"); unset or empty is
// auto. Throws on anything else. Each caller keeps the result in a function-local static, whose
// initialisation a throw leaves undone: the error then reaches every call of the op.
template <typename Kernel, size_t N>
Kernel parse(const char* variable, const char* const (&names)[N]) {
  const char* value = std::getenv(variable);
  if (!value || !*value) return Kernel(0);
  for (size_t i = 0; i < N; i++)
    if (std::strcmp(value, names[i]) == 0) return Kernel(i);
  std::string accepted;
  for (size_t i = 0; i < N; i++) accepted += std::string(i ? ", " : "") + names[i];
  throw std::invalid_argument(std::string(variable) + "=" + value + " is not a kernel this op has; use one of: " + accepted);
}

}  // namespace

GemmKernel gemm_kernel() {
  static const char* const names[] = {"auto", "mma", "wmma", "wgmma", "tma", "tma-staged"};
  static const GemmKernel kernel = parse<GemmKernel>("DIT_CUDA_GEMM", names);
  return kernel;
}

AttentionKernel attention_kernel() {
  static const char* const names[] = {"auto", "mma", "mma16", "wmma", "simt", "wgmma", "wgmma-pingpong", "wgmma-producer",
                                      "wgmma-producer-alternating"};
  static const AttentionKernel kernel = parse<AttentionKernel>("DIT_CUDA_ATTENTION", names);
  return kernel;
}

ConvKernel conv_kernel() {
  static const char* const names[] = {"auto", "mma", "im2col", "wgmma", "tma"};
  static const ConvKernel kernel = parse<ConvKernel>("DIT_CUDA_CONV", names);
  return kernel;
}

}  // namespace dit::cuda
