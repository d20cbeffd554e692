// Stand-in for linear_wgmma.cu and linear_tma.cu when the sm_90a kernels are not built
// (DIT_CUDA_SM90A=OFF).
#include "linear_kernels.h"

namespace dit::cuda {

template <typename T>
bool linear_wgmma(const LinearParams&) {
  return false;
}

template <typename T>
bool linear_tma(const LinearParams&) {
  return false;
}

template bool linear_wgmma<__half>(const LinearParams&);
template bool linear_wgmma<__nv_bfloat16>(const LinearParams&);
template bool linear_tma<__half>(const LinearParams&);
template bool linear_tma<__nv_bfloat16>(const LinearParams&);

}  // namespace dit::cuda
